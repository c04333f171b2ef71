/**
 * Model files (fixtures/workloads/*.json): a built-in model with its parameters, optionally a
 * seed and phases.
 *
 *   { "model": "hot-cold",                       required: a built-in model name
 *     "description": "...",                      optional, ignored
 *     "seed": 42,                                optional: pins the seed (wins over the caller's)
 *     "params": { "heap": "64M", "hotSet": 1024 },   sizes as 8M / 64KiB / 2GB or page counts
 *     "phases": [ { "steps": 1000000, "params": { "hotSet": "16M" } } ] }
 *
 * The curve model also takes "windows": [{ "seconds": 0.125, "pages": 1200 }, ...], the pages a
 * workload dirtied in windows of several lengths (or QEMU query-dirty-rate results, { "dirty-rate":
 * MB/s, "calc-time": s, "calc-time-unit"? }), and fits its page classes to them
 * (curve-fit.ts). The output of `tracker run --json`, one report or an array of reports at
 * different --sample-interval, is read as such a curve: each report's mean dirty pages per sample.
 *
 * Phases run in order from step 0; each overrides steady-state parameters (never layout ones such
 * as heap) for its steps; the last phase's parameters stay in force after it ends.
 * Every mistake is refused with one line naming the file and the field.
 */
import { checkInputSize, InputError } from '../errors.js';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { ModelDef, Phase } from './model.js';
import { applyParams, resolveParams } from './params.js';
import { findModel, modelNames } from './registry.js';
import { fitCurve } from './curve-fit.js';
import { CURVE_CLASSES } from './models/curve.js';

export interface ModelFile {
  def: ModelDef;
  source: string;
  seed?: number;
  params: Record<string, unknown>;
  phases: Phase[];
}

const TOP_FIELDS = ['model', 'description', 'seed', 'params', 'phases', 'windows'];
const PHASE_FIELDS = ['steps', 'params'];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function kindOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : JSON.stringify(v);
}

export function readModelFile(file: string): ModelFile {
  let text: string;
  checkInputSize(file, 'workload file');
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(`cannot read workload file ${file}: ${code === 'ENOENT' ? 'no such file' : String(code)}`);
  }
  return parseModelFile(text, file);
}

/** A `tracker run --json` report, as far as a curve needs it. */
interface RunJson {
  samples: { seconds: number; dirty_pages: number | null }[];
  totals: object;
}

function isRunReport(v: unknown): v is RunJson {
  return isObject(v) && Array.isArray(v.samples) && isObject(v.totals) && isObject(v.workload);
}

/** Each report's mean dirty pages per sample interval (the full-length samples) is one window. */
function curveFromRuns(runs: RunJson[], file: string): Record<string, unknown> {
  const windows = runs.map((r, i) => {
    const len = r.samples[0]?.seconds;
    const full = r.samples.filter((s) => typeof s.dirty_pages === 'number' && Math.abs(s.seconds - len) <= 1e-9 * len);
    if (!(len > 0) || full.length === 0) throw new InputError(`${file}: report ${i + 1} has no dirty-page samples (measured without soft-dirty?)`);
    return { seconds: len, pages: full.reduce((a, s) => a + s.dirty_pages!, 0) / full.length };
  });
  // Memory: the fitted classes' pages (pages never written in the longest window do not show).
  return { model: 'curve', windows };
}

/** The curve model's class parameters fitted to windows (the memory: at least the classes). */
function fittedParams(v: unknown, where: string): Record<string, unknown> {
  if (!Array.isArray(v) || v.length === 0) throw new InputError(`${where}: expected an array of { "seconds", "pages" }, got ${kindOf(v)}`);
  const windows = v.map((w: unknown, i: number) => {
    // A QEMU query-dirty-rate result: "dirty-rate" in MB/s (bytes >> 20 per second) over "calc-time".
    if (isObject(w) && typeof w['dirty-rate'] === 'number' && typeof w['calc-time'] === 'number') {
      const seconds = w['calc-time'] / (w['calc-time-unit'] === 'millisecond' ? 1000 : 1);
      return { seconds, pages: w['dirty-rate'] * 256 * seconds };
    }
    if (!isObject(w) || typeof w.seconds !== 'number' || typeof w.pages !== 'number') {
      throw new InputError(`${where}[${i}]: expected { "seconds": number, "pages": number } or a QEMU query-dirty-rate result, got ${kindOf(w)}`);
    }
    return { seconds: w.seconds, pages: w.pages };
  });
  const classes = fitCurve(windows, where);
  if (classes.length > CURVE_CLASSES) throw new InputError(`${where}: the fit needs ${classes.length} page classes, the curve model has ${CURVE_CLASSES}; give fewer windows`);
  const out: Record<string, unknown> = { memory: classes.reduce((a, c) => a + c.pages, 0) };
  classes.forEach((c, i) => {
    out[`pages${i + 1}`] = c.pages;
    out[`writeRate${i + 1}`] = c.rate;
  });
  return out;
}

export function parseModelFile(text: string, file: string): ModelFile {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new InputError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  if (isRunReport(doc) || (Array.isArray(doc) && doc.length > 0 && doc.every(isRunReport))) doc = curveFromRuns(Array.isArray(doc) ? doc : [doc], file);
  if (!isObject(doc)) throw new InputError(`${file}: expected a JSON object with a "model" field, got ${kindOf(doc)}`);
  for (const k of Object.keys(doc)) {
    if (!TOP_FIELDS.includes(k)) throw new InputError(`${file}: ${k}: unknown field (allowed: ${TOP_FIELDS.join(', ')})`);
  }
  if (typeof doc.model !== 'string') throw new InputError(`${file}: model: expected a model name (${modelNames()}), got ${kindOf(doc.model)}`);
  const def = findModel(doc.model);
  if (def === undefined) throw new InputError(`${file}: model: unknown model "${doc.model}" (allowed: ${modelNames()})`);
  if (doc.description !== undefined && typeof doc.description !== 'string') throw new InputError(`${file}: description: expected a string, got ${kindOf(doc.description)}`);
  let seed: number | undefined;
  if (doc.seed !== undefined) {
    if (typeof doc.seed !== 'number' || !Number.isSafeInteger(doc.seed) || doc.seed < 0) throw new InputError(`${file}: seed: expected a whole number of at least 0, got ${kindOf(doc.seed)}`);
    seed = doc.seed;
  }
  let params: Record<string, unknown> = (doc.params ?? {}) as Record<string, unknown>;
  if (!isObject(params)) throw new InputError(`${file}: params: expected an object of parameters, got ${kindOf(params)}`);
  if (doc.windows !== undefined) {
    if (def.name !== 'curve') throw new InputError(`${file}: windows: only the curve model is fitted to windows, not ${def.name}`);
    params = { ...fittedParams(doc.windows, `${file}: windows`), ...params };
  }
  // Checked now, so errors name this file; resolved again (with overrides) when the model starts.
  const base = resolveParams(def.name, def.params, [{ where: `${file}: params.`, values: params }]);
  def.check?.(base, `${file}: params.`);
  const phases: Phase[] = [];
  if (doc.phases !== undefined) {
    if (!Array.isArray(doc.phases)) throw new InputError(`${file}: phases: expected an array of {"steps", "params"}, got ${kindOf(doc.phases)}`);
    doc.phases.forEach((ph: unknown, i: number) => {
      const at = `${file}: phases[${i}]`;
      if (!isObject(ph)) throw new InputError(`${at}: expected an object {"steps", "params"}, got ${kindOf(ph)}`);
      for (const k of Object.keys(ph)) if (!PHASE_FIELDS.includes(k)) throw new InputError(`${at}.${k}: unknown field (allowed: ${PHASE_FIELDS.join(', ')})`);
      if (typeof ph.steps !== 'number' || !Number.isSafeInteger(ph.steps) || ph.steps < 1) throw new InputError(`${at}.steps: expected a whole number of at least 1, got ${kindOf(ph.steps)}`);
      const pp = ph.params ?? {};
      if (!isObject(pp)) throw new InputError(`${at}.params: expected an object of parameters, got ${kindOf(pp)}`);
      const p = { ...base };
      applyParams(def.name, def.params, p, pp, `${at}.params.`, true);
      def.check?.(p, `${at}.params.`);
      phases.push({ steps: ph.steps, params: pp });
    });
  }
  return { def, source: basename(file), seed, params, phases };
}
