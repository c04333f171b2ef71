/** The built-in models, by name, and what `tracker workloads` lists about them. */
import { InputError } from '../errors.js';
import type { Kernel } from '../mm/kernel.js';
import type { ModelDef, Phase } from './model.js';
import { churn } from './models/churn.js';
import { forkCow } from './models/fork-cow.js';
import { guest } from './models/guest.js';
import { curve } from './models/curve.js';
import { hotCold } from './models/hot-cold.js';
import { idle } from './models/idle.js';
import { sequential } from './models/sequential.js';
import { swapModel } from './models/swap.js';
import { thp } from './models/thp.js';
import { uniform } from './models/uniform.js';
import { applyParams, resolveParams, snakeName } from './params.js';
import type { WorkloadProcess } from './process.js';

export const DEFAULT_WORKLOAD = 'hot-cold';

export const MODELS: readonly ModelDef[] = [hotCold, uniform, sequential, idle, churn, forkCow, thp, swapModel, guest, curve];

export function findModel(name: string): ModelDef | undefined {
  return MODELS.find((m) => m.name === name);
}

export function modelNames(): string {
  return MODELS.map((m) => m.name).join(', ');
}

export interface WorkloadListing {
  name: string;
  description: string;
  params: { name: string; default: unknown; description: string }[];
}

export function listWorkloads(): WorkloadListing[] {
  return MODELS.map((m) => ({
    name: m.name,
    description: m.description,
    params: m.params.map((p) => ({ name: snakeName(p.name), default: p.default, description: p.description })),
  }));
}

export interface ModelLaunch {
  def: ModelDef;
  seed: number;
  /** Where the model came from: its name, or the model file's base name. */
  source: string;
  /** Parameter layers over the defaults, in order (model file, then caller overrides). */
  layers: { where: string; values: Record<string, unknown> }[];
  phases: Phase[];
}

/** Resolve and check parameters, spawn the task and start the model. */
export function launchModel(kernel: Kernel, l: ModelLaunch): WorkloadProcess {
  const params = resolveParams(l.def.name, l.def.params, l.layers);
  const where = l.layers.length > 0 ? l.layers[l.layers.length - 1].where : 'params.';
  l.def.check?.(params, where);
  l.def.derive?.(params);
  l.phases.forEach((ph, i) => {
    const p = { ...params };
    applyParams(l.def.name, l.def.params, p, ph.params, `phases[${i}].params.`, true);
    l.def.check?.(p, `phases[${i}].params.`);
  });
  if (!Number.isSafeInteger(l.seed) || l.seed < 0) throw new InputError(`seed: expected a whole number of at least 0, got ${l.seed}`);
  const task = kernel.spawn(l.def.name);
  return l.def.create({ kernel, task, identity: { model: l.def.name, source: l.source, seed: l.seed, params }, phases: l.phases });
}
