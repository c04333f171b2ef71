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

export interface ModelFile {
  def: ModelDef;
  source: string;
  seed?: number;
  params: Record<string, unknown>;
  phases: Phase[];
}

const TOP_FIELDS = ['model', 'description', 'seed', 'params', 'phases'];
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

export function parseModelFile(text: string, file: string): ModelFile {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new InputError(`${file}: not valid JSON (${(e as Error).message})`);
  }
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
  const params = doc.params ?? {};
  if (!isObject(params)) throw new InputError(`${file}: params: expected an object of parameters, got ${kindOf(params)}`);
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
