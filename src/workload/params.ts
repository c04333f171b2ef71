/**
 * Workload parameters: declared once per model (name, kind, default, description), parsed from
 * model files, CLI overrides and saved states by the same code, so every source is checked alike.
 * Sizes are kept as page counts; fractions as numbers in [0, 1]; counts as whole numbers; rates
 * as steps per virtual second (1e6, '1M', '250k': decimal multiples, as rates are counted).
 */
import { InputError } from '../errors.js';
import { PAGE_SIZE } from '../mm/pgtable-types.js';

export type ParamKind = 'pages' | 'fraction' | 'count' | 'rate' | 'byterate';

export interface ParamSpec {
  readonly name: string;
  readonly kind: ParamKind;
  /** As a user would write it ('128M', 0.9, 1000). */
  readonly default: number | string;
  readonly description: string;
  /** Smallest accepted value (pages or count); fractions are always 0..1. */
  readonly min?: number;
  /** The parameter shapes the address space (sizes, counts of mappings) and cannot change in a phase. */
  readonly layout?: boolean;
}

export type ResolvedParams = Record<string, number>;

/** hotSet -> hot_set: the name JSON output uses, accepted as input too. */
export function snakeName(name: string): string {
  return name.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
}

/** A size in pages as a user writes it: 2048 -> '8M', 3 -> '12K'. */
export function pagesText(pages: number): string {
  const bytes = pages * PAGE_SIZE;
  if (bytes === 0) return '0';
  for (const [u, f] of [['T', 1024 ** 4], ['G', 1024 ** 3], ['M', 1024 ** 2], ['K', 1024]] as const) if (bytes % f === 0) return `${bytes / f}${u}`;
  return `${bytes}B`;
}

/**
 * Resolved parameters as output shows them: snake_case names (as every JSON key), sizes as
 * `tracker workloads` and model files write them ('8M'), so they can be pasted back.
 */
export function displayParams(specs: readonly ParamSpec[], p: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p)) {
    const s = specs.find((x) => x.name === k);
    out[snakeName(k)] = s?.kind === 'pages' && typeof v === 'number' ? pagesText(v) : v;
  }
  return out;
}

const UNIT: Record<string, number> = { '': 1, B: 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };
const SIZE_RE = /^(\d+(?:\.\d+)?)\s*(?:([KMGT])(?:i?B)?|(B))$/i;

/** '8M', '64KiB', '2GB', '4096B' -> pages (rounded up); 2048 or '2048' -> pages. NaN if malformed. */
export function parsePages(v: unknown): number {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : NaN;
  if (typeof v !== 'string') return NaN;
  const s = v.trim();
  if (/^\d+$/.test(s)) return Number(s);
  const m = SIZE_RE.exec(s);
  if (m === null) return NaN;
  const unit = m[3] !== undefined ? 'B' : m[2].toUpperCase();
  return Math.ceil((Number(m[1]) * UNIT[unit]) / PAGE_SIZE);
}

const BYTE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
/** Links are sold in decimal bits per second: 10 Gbit/s is 10^10 bits, 1.25 * 10^9 bytes a second. */
const BIT_UNITS: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12 };

/**
 * A byte size or rate such as 1G, 512MiB, 100M/s, 1073741824 (binary multiples); NaN if malformed.
 * The one byte-unit parser: the CLI's --memory, --bandwidth and model parameters all use it.
 */
export function parseByteSize(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?(?:\/s)?$/i.exec(v.trim());
  return m === null ? NaN : Number(m[1]) * BYTE_UNITS[m[2].toLowerCase()];
}

/**
 * Bytes per second: bytes with binary multiples as parseByteSize (1G, 100M/s), or bits with
 * decimal ones, as links are sold and QEMU's calc-dirty-rate is quoted (10Gbit, 650Mbit/s, 1Gbps).
 * NaN if malformed.
 */
export function parseByteRate(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return NaN;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:bit(?:\/s)?|bps)$/i.exec(v.trim());
  if (m === null) return parseByteSize(v);
  return (Number(m[1]) * BIT_UNITS[m[2].toLowerCase()]) / 8;
}

const RATE_UNIT: Record<string, number> = { '': 1, K: 1e3, M: 1e6, G: 1e9 };

/** 1000000, '1M', '250k', '1e6' -> steps per second. NaN if malformed. */
export function parseRate(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return NaN;
  const m = /^(\d+(?:\.\d+)?(?:e\d+)?)\s*([kmg]?)(?:\/s)?$/i.exec(v.trim());
  return m === null ? NaN : Number(m[1]) * RATE_UNIT[m[2].toUpperCase()];
}

/**
 * The `rate` every model has: steps (memory accesses) per virtual second. Fixed for the process's
 * life, like the layout: a phase cannot change it.
 */
export function rateParam(rate: number, why: string): ParamSpec {
  return { name: 'rate', kind: 'rate', default: rate, layout: true, description: `memory accesses per virtual second (${why})` };
}

function describe(v: unknown): string {
  return JSON.stringify(v) ?? String(v);
}

/** Parse one value; `where` prefixes the message (e.g. 'fixtures/workloads/x.json: params.'). */
export function parseParam(spec: ParamSpec, v: unknown, where: string): number {
  const field = `${where}${spec.name}`;
  const min = spec.min ?? 0;
  switch (spec.kind) {
    case 'pages': {
      const p = parsePages(v);
      if (!Number.isSafeInteger(p)) throw new InputError(`${field}: expected a size such as 8M or a page count, got ${describe(v)}`);
      if (p < min) throw new InputError(`${field}: must be at least ${min} page${min === 1 ? '' : 's'}, got ${describe(v)}`);
      return p;
    }
    case 'fraction': {
      const f = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
      if (!(f >= 0 && f <= 1)) throw new InputError(`${field}: expected a fraction between 0 and 1, got ${describe(v)}`);
      return f;
    }
    case 'rate': {
      const r = parseRate(v);
      if (!(r > 0) || !Number.isFinite(r)) throw new InputError(`${field}: expected a rate in steps per virtual second such as 1000000, 1M or 250k, got ${describe(v)}`);
      return r;
    }
    case 'byterate': {
      const r = parseByteRate(v);
      if (!(r > 0) || !Number.isFinite(r)) throw new InputError(`${field}: expected a rate in bytes or bits per second such as 80M/s or 650Mbit, got ${describe(v)}`);
      return r;
    }
    case 'count': {
      const c = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : NaN;
      if (!Number.isSafeInteger(c) || c < min) throw new InputError(`${field}: expected a whole number of at least ${min}, got ${describe(v)}`);
      return c;
    }
  }
}

/**
 * Defaults, overridden by each layer in turn. Unknown names are refused, naming the field and the
 * parameters the model has.
 */
export function resolveParams(
  model: string,
  specs: readonly ParamSpec[],
  layers: readonly { where: string; values: Record<string, unknown> }[],
): ResolvedParams {
  const out: ResolvedParams = {};
  for (const s of specs) out[s.name] = parseParam(s, s.default, `model ${model}: default `);
  for (const layer of layers) applyParams(model, specs, out, layer.values, layer.where, false);
  return out;
}

/** Apply `values` onto `out`; with `steadyOnly`, layout parameters are refused (phases). */
export function applyParams(
  model: string,
  specs: readonly ParamSpec[],
  out: ResolvedParams,
  values: Record<string, unknown>,
  where: string,
  steadyOnly: boolean,
): void {
  for (const [k, v] of Object.entries(values)) {
    const s = specs.find((p) => p.name === k || snakeName(p.name) === k);
    if (s === undefined) {
      const known = specs.map((p) => p.name).join(', ') || 'none';
      throw new InputError(`${where}${k}: unknown parameter for model ${model} (allowed: ${known})`);
    }
    if (steadyOnly && s.layout === true) {
      throw new InputError(`${where}${k}: ${k === 'rate' ? 'is fixed for the life of the process' : 'shapes the address space'} and cannot change in a phase (allowed here: ${steadyNames(specs)})`);
    }
    out[s.name] = parseParam(s, v, where);
  }
}

function steadyNames(specs: readonly ParamSpec[]): string {
  return specs.filter((p) => p.layout !== true).map((p) => p.name).join(', ') || 'none';
}
