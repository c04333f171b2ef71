/**
 * How well a kernel profile reproduces the recorded traces:
 *   node dist/test/oracle/compare.js [6.1|6.12] [--show N] [--dir DIR]
 * prints scenarios and observations reproduced exactly per trace set, and the first differing
 * observation of up to N scenarios.
 */
import { compareTrace, loadTraces, traceSets, type Trace } from './traces.js';

const args = process.argv.slice(2);
const kernel = (args.find((a) => a === '6.1' || a === '6.12') ?? '6.1') as '6.1' | '6.12';
const showIdx = args.indexOf('--show');
let show = showIdx >= 0 ? Number(args[showIdx + 1]) : 0;
const dirIdx = args.indexOf('--dir');
const sets: { label: string; traces: Trace[] }[] = dirIdx >= 0 ? [{ label: args[dirIdx + 1], traces: loadTraces(args[dirIdx + 1]) }] : traceSets(kernel);
for (const set of sets) {
  let exact = 0;
  let same = 0;
  let total = 0;
  for (const t of set.traces) {
    let c;
    try {
      c = compareTrace(t, kernel);
    } catch (e) {
      console.log(`${t.name}: ${(e as Error).stack}`);
      total += t.expected.length;
      continue;
    }
    same += c.same;
    total += c.total;
    if (c.exact) exact++;
    else if (show-- > 0) {
      console.log(`--- ${t.name} (${t.script}) at observation ${c.firstDiff}`);
      console.log(`want ${t.expected[c.firstDiff]}`);
      console.log(`got  ${c.got[c.firstDiff]}`);
    }
  }
  console.log(`${set.label}: scenarios ${exact}/${set.traces.length}, observations ${same}/${total}`);
}
