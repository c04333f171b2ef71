/** `npm run bench`: one JSON object of figures on stdout. */
import { benchMmu } from './mmu-bench.js';

const result: Record<string, unknown> = { node: process.version };
Object.assign(result, benchMmu());
process.stdout.write(JSON.stringify(result, null, 2) + '\n');
