/** `npm run bench`: one JSON object of figures on stdout. */
import { benchCheckpoint, benchSparse } from './checkpoint-bench.js';
import { benchMmu } from './mmu-bench.js';
import { benchCompression, benchLoopback } from './transfer-bench.js';
import { benchWorkloads } from './workload-bench.js';
import { benchScale } from './scale-bench.js';

const result: Record<string, unknown> = { node: process.version };
const only = process.argv[2];
if (only === undefined || only === 'mmu') Object.assign(result, benchMmu());
if (only === undefined || only === 'workload') Object.assign(result, benchWorkloads());
if (only === undefined || only === 'checkpoint') Object.assign(result, benchCheckpoint(), benchSparse());
if (only === 'sparse') Object.assign(result, benchSparse());
// Next to the local write rate of the same run (dump_write_MBps above): the same process written through a loopback page server.
if (only === undefined || only === 'checkpoint' || only === 'transfer') Object.assign(result, benchLoopback(), { compression: benchCompression() });
// Guests of 8 GiB to 1 TiB planned in fresh processes (minutes: the 1 TiB one populates 256M pages).
if (only === undefined || only === 'scale') Object.assign(result, benchScale());
process.stdout.write(JSON.stringify(result, null, 2) + '\n');
