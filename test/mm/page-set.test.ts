import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PageSet } from '../../src/mm/page-set.js';

test('PageSet: pages of any table, user addresses above 2^31 pages included, and nothing else', () => {
  const s = new PageSet();
  const high = 0x7fff_0000_0000 / 4096; // a vpn beyond 32 bits
  const pages = [0, 1, 31, 32, 511, 512, 1023, high, high + 511, high + 512, 2 ** 36 - 1];
  for (const v of pages) s.add(v);
  for (const v of pages) assert.equal(s.has(v), true, `page ${v}`);
  for (const v of [2, 30, 33, 510, 513, high + 1, high - 1, 2 ** 36 - 2, 5 * 512]) assert.equal(s.has(v), false, `page ${v}`);
  s.add(2);
  assert.equal(s.has(2), true);
});
