/**
 * /proc/PID/mem for a dumper: the contents of runs of pages, handed out as views of the frames and
 * swap slots that hold them (neighbours merged into one piece), without side effects: a swapped
 * page is read from the swap device, not faulted in. Views are valid until the process runs again.
 */
import type { Task } from '../mm/kernel.js';
import { forEachPageRun } from './mem.js';

export type MemSink = (data: Uint8Array) => void;

/** Feed `sink` the contents of runs i < n: starts[i] .. starts[i] + lens[i] pages, in order. */
export function readMemRuns(task: Task, starts: ArrayLike<number>, lens: ArrayLike<number>, n: number, sink: MemSink): void {
  for (let r = 0; r < n; r++) {
    const first = starts[r];
    forEachPageRun(task.mm, lens[r], (i) => first + i, (arr, off, len) => sink(arr.subarray(off, off + len)));
  }
}
