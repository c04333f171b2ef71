/**
 * The workload side of tracker: simulated processes that drive an emulated task, created from a
 * built-in model, a model file, an op script or a Lackey trace, and resumed from their saved state
 * after a restore. This module is the public surface; the rest of tracker imports from here.
 */
import { resolve } from 'node:path';
import { ImageError, InputError } from '../errors.js';
import type { Kernel, Task } from '../mm/kernel.js';
import { existsSync } from 'node:fs';
import { LackeyWorkload, type LackeyWorkloadState } from './lackey.js';
import type { ModelState } from './model.js';
import { readModelFile } from './model-file.js';
import { OpsWorkload, type OpsWorkloadState } from './ops-workload.js';
import type { WorkloadIdentity, WorkloadProcess, WorkloadState } from './process.js';
import { DEFAULT_WORKLOAD, findModel, launchModel, modelNames } from './registry.js';
import { DEFAULT_RATES } from './clock.js';
import { parseParam, rateParam, resolveParams } from './params.js';
import { DEFAULT_MEMORY_BYTES } from '../mm/kernel.js';

export { DEFAULT_WORKLOAD, listWorkloads, type WorkloadListing } from './registry.js';
export { DEFAULT_RATES, durationSeconds, durationSteps, runChecked, WorkloadClock, workloadRate, type Duration } from './clock.js';
export { accessPage } from '../proc/mem.js';
export { memDigest } from '../proc/mem-digest.js';
export { kerndat, kerndatSoftDirty, type Kerndat } from '../proc/kerndat.js';
export type { WorkloadIdentity, WorkloadProcess, WorkloadState } from './process.js';

const OVERRIDES = 'param ';

/**
 * Start a workload in a new task of `kernel`. `spec` is a built-in model name, or a path to a
 * .json model file, a .ops op script or a Lackey trace (.lackey, .lackey.gz, .gz). `overrides`
 * set model parameters over the defaults and the model file's (not allowed for scripts and traces).
 */
export function createWorkload(kernel: Kernel, spec: string, seed: number, overrides: Record<string, unknown> = {}): WorkloadProcess {
  const proc = startWorkload(kernel, spec, seed, overrides);
  proc.identity.spec = canonicalSpec(spec);
  return proc;
}

/** How a workload spec is recorded: a model by its name, a file by its absolute path. */
export function canonicalSpec(spec: string): string {
  const name = spec === '' ? DEFAULT_WORKLOAD : spec;
  return findModel(name) !== undefined ? name : resolve(name);
}

function startWorkload(kernel: Kernel, spec: string, seed: number, overrides: Record<string, unknown>): WorkloadProcess {
  const name = spec === '' ? DEFAULT_WORKLOAD : spec;
  const def = findModel(name);
  if (def !== undefined) return launchModel(kernel, { def, seed, source: name, layers: [{ where: OVERRIDES, values: overrides }], phases: [] });
  if (name.endsWith('.json')) {
    const f = readModelFile(name);
    return launchModel(kernel, {
      def: f.def,
      seed: f.seed ?? seed,
      source: f.source,
      layers: [
        { where: `${name}: params.`, values: f.params },
        { where: OVERRIDES, values: overrides },
      ],
      phases: f.phases,
    });
  }
  // Scripts and traces take one parameter: their rate (op-script lines or trace records a second).
  const rateOnly = (what: string, dflt: number): number => {
    const k = Object.keys(overrides).filter((n) => n !== 'rate');
    if (k.length > 0) throw new InputError(`${OVERRIDES}${k[0]}: ${what} workloads take no parameters but rate`);
    return overrides.rate === undefined ? dflt : parseParam(rateParam(dflt, what), overrides.rate, OVERRIDES);
  };
  if (name.endsWith('.ops')) return OpsWorkload.create(kernel, name, seed, rateOnly('op-script', DEFAULT_RATES.ops));
  // Any other file is taken for a Lackey trace, recognised by its content (gzip or text).
  if (existsSync(name)) return LackeyWorkload.create(kernel, name, seed, rateOnly('Lackey trace', DEFAULT_RATES.lackey));
  throw new InputError(`unknown workload '${spec}': expected a model (${modelNames()}) or a .json model file, .ops op script or a Valgrind Lackey trace (a file, plain or gzip)`);
}

/**
 * The emulated physical memory a machine needs for this workload, when more than a default
 * machine has (a large guest): its RAM plus room for page tables' worth of slack; null otherwise.
 */
export function workloadMemoryNeed(spec: string, overrides: Record<string, unknown> = {}): number | null {
  const name = spec === '' ? DEFAULT_WORKLOAD : spec;
  let def = findModel(name);
  const layers: { where: string; values: Record<string, unknown> }[] = [];
  if (def === undefined && name.endsWith('.json') && existsSync(name)) {
    const f = readModelFile(name);
    def = f.def;
    layers.push({ where: `${name}: params.`, values: f.params });
  }
  if (def?.memoryBytes === undefined) return null;
  layers.push({ where: OVERRIDES, values: overrides });
  const need = def.memoryBytes(resolveParams(def.name, def.params, layers)) + (64 << 20);
  return need > DEFAULT_MEMORY_BYTES ? need : null;
}

/**
 * The parameters a built-in model's identity was started with, as overrides that start it again
 * the same way (--param values, --rate); derived ones (the guest's rate) left out. Empty for
 * scripts and traces.
 */
export function modelOverrides(id: WorkloadIdentity): Record<string, unknown> {
  const def = findModel(id.model);
  if (def === undefined) return {};
  return Object.fromEntries(def.params.filter((p) => p.name in id.params).map((p) => [p.name, id.params[p.name]]));
}

/**
 * Continue a process whose memory and VMAs the restorer put back into `task.mm`, from the state
 * its saveState() returned at checkpoint time.
 */
export function resumeWorkload(kernel: Kernel, task: Task, state: WorkloadState): WorkloadProcess {
  const kind = state.kind;
  if (kind === 'model') {
    const s = state as ModelState;
    const def = findModel(s.identity.model);
    if (def === undefined) throw new ImageError(`workload state: unknown model '${s.identity.model}' (known: ${modelNames()})`);
    return def.create({ kernel, task, identity: s.identity, phases: s.phases, state: s });
  }
  if (kind === 'ops') return OpsWorkload.resume(kernel, task, state as OpsWorkloadState);
  if (kind === 'lackey') return LackeyWorkload.resume(kernel, task, state as LackeyWorkloadState);
  throw new ImageError(`workload state: unknown kind ${JSON.stringify(kind)} (expected model, ops or lackey)`);
}
