/**
 * The README's benchmark table, generated from the JSON `npm run bench` prints (never typed by
 * hand): `npm run bench -- --table bench.json [--readme README.md]`.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Compared, Range } from './rounds.js';

export const TABLE_BEGIN = '<!-- bench-table:begin (generated: npm run bench -- --table FILE --readme README.md) -->';
export const TABLE_END = '<!-- bench-table:end -->';

const r3 = (x: number) => (Math.abs(x) >= 100 ? Math.round(x).toString() : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2));
const fmt = (r: Range | undefined, f = r3) => (r === undefined ? '–' : `${f(r.min)}–${f(r.median)}–${f(r.max)}`);

interface Row {
  key: string;
  what: string;
  figure: string;
  yardsticks: [name: string, label: string][];
  goal: string;
}

const COMPARED: Row[] = [
  { key: 'dump', what: 'dump: first pre-dump of 1 GiB (pages.img + small images, fsynced, renamed)', figure: 'tracker', yardsticks: [['node_writer', 'minimal Node writer (same bytes and offsets, CRC-32, fsync)'], ['dd', 'dd conv=fsync']], goal: '≥ 0.95× Node writer' },
  { key: 'restore', what: 'restore of that chain into a new machine', figure: 'tracker', yardsticks: [['node_reader', 'minimal Node reader into new 2 MiB buffers, CRC-32 checked']], goal: '≥ 0.95× Node reader' },
  { key: 'restore_warm', what: 'restore into a machine kept from an earlier restore, frames warm (the second of two runs)', figure: 'tracker', yardsticks: [['dd', 'dd conv=fsync (write)'], ['node_reader', 'Node reader into warm buffers (the second of two reads)'], ['dd_read', 'dd reading pages.img']], goal: '≥ 2× dd' },
  { key: 'page_server', what: 'page server: first pre-dump of 512 MiB over loopback', figure: 'page_server', yardsticks: [['local', 'the same dump written locally'], ['socket_pair', 'bare Node socket pair, receiver writes + fsyncs'], ['socket_pair_onread', 'the same pair, receiver reading with net onread']], goal: '≥ 0.8× local' },
  { key: 'uniform', what: 'MMU: uniform writer over a 1 GiB heap (random page per store)', figure: 'mmu', yardsticks: [['raw', 'the same accesses on a Uint8Array']], goal: '≥ 0.5× raw' },
  { key: 'write_hit', what: 'MMU: store8 to present writable pages (8-byte stride, 256 MiB)', figure: 'mmu', yardsticks: [['raw', 'the same stores on a Uint8Array']], goal: '' },
  { key: 'digest', what: 'memory digest of 1 GiB (final dump, restore): BLAKE3 over the resident runs', figure: 'tracker', yardsticks: [['node_sha256', 'SHA-256 of the same bytes (node:crypto; the digest before BLAKE3)'], ['blake3', 'BLAKE3 of the same bytes (@napi-rs/blake-hash)']], goal: 'faster than SHA-256' },
];

export function benchTable(j: Record<string, unknown>): string {
  const lines: string[] = [];
  const load = (k: string) => (Array.isArray(j[k]) ? (j[k] as number[]).join(' ') : '?');
  lines.push(`Node ${String(j.node)}, ${String(j.date ?? '').slice(0, 10)}, ${String(j.rounds)} alternating rounds, load average ${load('loadavg_before')} before, ${load('loadavg_after')} after; ranges are min–median–max over the rounds.`);
  lines.push('');
  lines.push('| figure | tracker | yardstick | ratio to it | goal |');
  lines.push('|---|---|---|---|---|');
  for (const row of COMPARED) {
    const c = j[row.key] as Compared | undefined;
    if (c === undefined) continue;
    row.yardsticks.forEach(([y, label], i) => {
      const own = i === 0 ? `${row.what} | ${fmt(c.rate[row.figure])} ${c.unit}` : ` | `;
      lines.push(`| ${own} | ${label}: ${fmt(c.rate[y])} ${c.unit} | **${fmt(c.ratio[`to_${y}`])}×** | ${i === 0 ? row.goal : ''} |`);
    });
  }
  const single: [string, string, (v: unknown) => string][] = [
    ['write_fault_per_s', 'soft-dirty write faults after clear_refs 4 (best round)', (v) => `${r3(Number(v) / 1e6)} M/s`],
    ['clear_refs_ms_per_1M_pages', 'clear_refs 4 per 1M pages', (v) => `${String(v)} ms`],
    ['pagemap_read_ms_per_1M_pages', 'pagemap read per 1M pages', (v) => `${String(v)} ms`],
    ['rss_bytes_per_resident_page', 'RSS per resident page (1 GiB resident)', (v) => `${String(v)} B`],
    ['workload_steps_per_s', 'hot-cold workload steps', (v) => `${r3(Number(v) / 1e6)} M/s`],
    ['trace_lines_per_s', 'Lackey trace replay', (v) => `${r3(Number(v) / 1e6)} M lines/s`],
  ];
  const rows = single.filter(([k]) => j[k] !== undefined);
  if (rows.length > 0 || j.sparse_dump_s !== undefined || j.compression !== undefined) {
    lines.push('');
    lines.push('| figure | value |');
    lines.push('|---|---|');
    for (const [k, label, f] of rows) lines.push(`| ${label} | ${f(j[k])} |`);
    if (j.sparse_dump_s !== undefined) {
      lines.push(`| 4 TiB sparse mapping (3 pages written): dump --iterative / restore --verify / peak RSS | ${String(j.sparse_dump_s)} s / ${String(j.sparse_restore_s)} s / ${String(j.sparse_peak_rss_MB)} MB, next to ${String(j.baseline_dump_s)} s / ${String(j.baseline_restore_s)} s / ${String(j.baseline_peak_rss_MB)} MB for a 4-page mapping |`);
    }
    const cz = j.compression as Record<string, { raw_MB: number; ratio: number; compress_MBps: number; decompress_MBps: number }> | undefined;
    if (cz !== undefined) {
      for (const [k, v] of Object.entries(cz)) lines.push(`| LZ4 (--compress, 256K regions) on ${k} pages | ${v.raw_MB} MB at ratio ${v.ratio}, ${v.compress_MBps} MB/s compressing, ${v.decompress_MBps} MB/s decoding |`);
    }
  }
  return lines.join('\n');
}

/** Replace the table between the markers in a README (written to a temporary name, then renamed). */
export function updateReadme(path: string, j: Record<string, unknown>): void {
  const text = readFileSync(path, 'utf8');
  const a = text.indexOf(TABLE_BEGIN);
  const b = text.indexOf(TABLE_END);
  if (a < 0 || b < a) throw new Error(`${path}: no bench-table markers (${TABLE_BEGIN} … ${TABLE_END})`);
  const out = text.slice(0, a + TABLE_BEGIN.length) + '\n' + benchTable(j) + '\n' + text.slice(b);
  writeFileSync(path + '.tmp', out);
  renameSync(path + '.tmp', path);
}
