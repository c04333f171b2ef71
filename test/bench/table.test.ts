/**
 * The bench's arithmetic and the README table made from its JSON: ratios are taken per round (a
 * machine slowing down between rounds moves both sides of one), and the table is replaced only
 * between its markers.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { alternate, compare, range } from '../../src/bench/rounds.js';
import { benchTable, TABLE_BEGIN, TABLE_END, updateReadme } from '../../src/bench/table.js';

const tmp = mkdtempSync(join(tmpdir(), 'tracker-bench-table-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('ratios are per round, summarised min-median-max', () => {
  assert.deepEqual(range([3, 1, 2]), { min: 1, median: 2, max: 3 });
  assert.deepEqual(range([4, 1, 2, 3]), { min: 1, median: 2.5, max: 4 });
  // Round 2 is 10x slower for both sides: the ratio stays 2.
  const c = compare({ tracker: [1, 10, 1], node_writer: [2, 20, 2] }, 'tracker', 1e6, 'MB/s');
  assert.deepEqual(c.ratio.to_node_writer, { min: 2, median: 2, max: 2 });
  assert.deepEqual(c.rate.tracker, { min: 0.1, median: 1, max: 1 });
  assert.equal(c.rounds, 3);
  // Every case runs once a round, the first one rotating.
  const order: string[] = [];
  alternate(3, { a: () => (order.push('a'), 1), b: () => (order.push('b'), 1), c: () => (order.push('c'), 1) });
  assert.deepEqual(order, ['a', 'b', 'c', 'b', 'c', 'a', 'c', 'a', 'b']);
});

test('the README table comes from the JSON, between its markers only', () => {
  const json = {
    node: 'v20.0.0',
    date: '2026-12-03T00:00:00Z',
    rounds: 3,
    loadavg_before: [0.1, 0.2, 0.3],
    loadavg_after: [0.4, 0.5, 0.6],
    dump: compare({ tracker: [1, 1, 1], node_writer: [1.25, 1.25, 1.25], dd: [2, 2, 2] }, 'tracker', 1e9, 'MB/s'),
  };
  const t = benchTable(json);
  assert.match(t, /load average 0\.1 0\.2 0\.3 before/);
  assert.match(t, /\| dump: .* \| 1000–1000–1000 MB\/s \| minimal Node writer .*: 800–800–800 MB\/s \| \*\*1\.25–1\.25–1\.25×\*\* \| ≥ 0\.95× Node writer \|/);
  assert.match(t, /dd conv=fsync: 500–500–500 MB\/s \| \*\*2\.00–2\.00–2\.00×\*\*/);
  assert.doesNotMatch(t, /restore/, 'figures absent from the JSON get no row');
  const readme = join(tmp, 'README.md');
  writeFileSync(readme, `# x\n\nbefore\n${TABLE_BEGIN}\nold table\n${TABLE_END}\nafter\n`);
  updateReadme(readme, json);
  const out = readFileSync(readme, 'utf8');
  assert.ok(out.startsWith(`# x\n\nbefore\n${TABLE_BEGIN}\n${t}\n${TABLE_END}\nafter\n`));
  writeFileSync(readme, '# no markers\n');
  assert.throws(() => updateReadme(readme, json), /no bench-table markers/);
  assert.equal(readFileSync(readme, 'utf8'), '# no markers\n');
});
