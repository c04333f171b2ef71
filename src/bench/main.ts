/** `npm run bench`: one JSON object of figures on stdout. */
import { benchCheckpoint } from './checkpoint-bench.js';
import { benchMmu } from './mmu-bench.js';
import { benchWorkloads } from './workload-bench.js';

const result: Record<string, unknown> = { node: process.version };
Object.assign(result, benchMmu());
Object.assign(result, benchWorkloads());
Object.assign(result, benchCheckpoint());
process.stdout.write(JSON.stringify(result, null, 2) + '\n');
