/**
 * `tracker plan --shard i/n` and `tracker plan merge`: a sweep spread over machines, as Playwright
 * shards tests. The combinations of a plan are numbered in their table order; shard i of n runs
 * those whose number k has k mod n = i - 1 (so every shard gets a share of every policy) and
 * writes a blob: the plan's options and each of its combinations' results. Merging the n blobs
 * gives the table, recommendation and report of the unsharded plan exactly, since a combination
 * is a pure function of its options.
 */
import { ImageError, InputError, UsageError } from '../errors.js';
import { combinations, planOutcome, runCombinations, type CombinationResult, type PlanOptions, type PlanOutcome } from './plan.js';

export const SHARD_FORMAT = 'tracker-plan-shard';
export const SHARD_VERSION = 1;

export interface Shard {
  /** 1-based. */
  index: number;
  count: number;
}

/** What decides a plan's rows: the options less how and where it runs. */
export type ShardedPlanOptions = Omit<PlanOptions, 'jobs' | 'tmpRoot' | 'heatmaps'>;

export interface PlanShardBlob {
  format: typeof SHARD_FORMAT;
  version: number;
  shard: Shard;
  /** Combinations in the whole plan. */
  total: number;
  options: ShardedPlanOptions;
  /** The combination numbers this shard ran, and their results (heat maps included), in order. */
  indexes: number[];
  results: CombinationResult[];
}

/** '2/3' -> { index: 2, count: 3 }. */
export function parseShard(v: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(v.trim());
  const index = m === null ? NaN : Number(m[1]);
  const count = m === null ? NaN : Number(m[2]);
  if (!(count >= 1 && index >= 1 && index <= count) || !Number.isSafeInteger(count)) {
    throw new UsageError(`--shard must be i/n with 1 <= i <= n, such as 1/3, got '${v}'`);
  }
  return { index, count };
}

export function inShard(k: number, s: Shard): boolean {
  return k % s.count === s.index - 1;
}

function shardedOptions(o: PlanOptions): ShardedPlanOptions {
  const { jobs, tmpRoot, heatmaps, ...rest } = o;
  void jobs;
  void tmpRoot;
  void heatmaps;
  // Through JSON, as the blob keeps them: undefined fields go, so options compare alike.
  return JSON.parse(JSON.stringify(rest)) as ShardedPlanOptions;
}

/** Run one shard of a plan; heat maps are always kept, for a merged --report. */
export async function runPlanShard(o: PlanOptions, shard: Shard): Promise<PlanShardBlob> {
  const total = combinations(o).length;
  const indexes = [...Array(total).keys()].filter((k) => inShard(k, shard));
  const results = await runCombinations({ ...o, heatmaps: true }, (k) => inShard(k, shard));
  return { format: SHARD_FORMAT, version: SHARD_VERSION, shard, total, options: shardedOptions(o), indexes, results };
}

export function encodeShard(b: PlanShardBlob): string {
  return `${JSON.stringify(b)}\n`;
}

/** A blob from its text; `where` names it in errors. */
export function decodeShard(text: string, where: string): PlanShardBlob {
  let b: PlanShardBlob;
  try {
    b = JSON.parse(text) as PlanShardBlob;
  } catch {
    throw new ImageError(`${where}: not a tracker plan shard (not JSON); give the files \`tracker plan --shard\` wrote`);
  }
  if (b === null || typeof b !== 'object' || b.format !== SHARD_FORMAT) throw new ImageError(`${where}: not a tracker plan shard; give the files \`tracker plan --shard\` wrote`);
  if (b.version !== SHARD_VERSION) throw new ImageError(`${where}: plan shard version ${String(b.version)}, this tracker reads version ${SHARD_VERSION}`);
  const ok =
    typeof b.shard === 'object' &&
    Number.isSafeInteger(b.shard.index) &&
    Number.isSafeInteger(b.shard.count) &&
    Number.isSafeInteger(b.total) &&
    Array.isArray(b.indexes) &&
    Array.isArray(b.results) &&
    b.indexes.length === b.results.length &&
    b.indexes.every((k) => Number.isSafeInteger(k) && k >= 0 && k < b.total && inShard(k, b.shard));
  if (!ok) throw new ImageError(`${where}: plan shard is damaged (its shard, combinations and results disagree); run that shard again`);
  return b;
}

/**
 * The unsharded plan from its shards: every shard of the same plan, once each. Refused, naming
 * the file, when a blob is of another plan, a shard is missing or given twice.
 */
export function mergePlanShards(blobs: { blob: PlanShardBlob; where: string }[]): PlanOutcome {
  if (blobs.length === 0) throw new UsageError('tracker plan merge needs the shard files');
  const first = blobs[0];
  const options = JSON.stringify(first.blob.options);
  const count = first.blob.shard.count;
  const seen = new Map<number, string>();
  const results: CombinationResult[] = new Array(first.blob.total);
  for (const { blob, where } of blobs) {
    if (JSON.stringify(blob.options) !== options || blob.total !== first.blob.total || blob.shard.count !== count) {
      throw new InputError(`${where}: a shard of another plan than ${first.where} (other options or shard count); merge the shards of one sweep`);
    }
    const dup = seen.get(blob.shard.index);
    if (dup !== undefined) throw new InputError(`${where}: shard ${blob.shard.index}/${count} again (also ${dup}); give each shard once`);
    seen.set(blob.shard.index, where);
    blob.indexes.forEach((k, i) => (results[k] = blob.results[i]));
  }
  const missing = [...Array(count).keys()].map((i) => i + 1).filter((i) => !seen.has(i));
  if (missing.length > 0) throw new InputError(`shard${missing.length > 1 ? 's' : ''} ${missing.map((i) => `${i}/${count}`).join(', ')} missing; give every shard of the sweep`);
  return planOutcome(first.blob.options, results);
}
