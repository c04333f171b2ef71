/**
 * Runs a dump in a worker thread (dump-worker.ts) while this thread turns SIGINT and SIGTERM into
 * the dump's cancellation: the first signal asks the dump to stop at its next safe point (it
 * removes the partial iteration and fails with InterruptedError); a second one exits at once.
 */
import { Worker } from 'node:worker_threads';
import type { IterationStats } from '../criu/schema.js';
import { InterruptedError, reviveError, type SerializedError } from '../errors.js';
import type { DumpJob, WorkerData } from './dump-worker.js';
import { onStdoutFailure, stdoutError } from './output.js';

const SIGNALS = { SIGINT: 2, SIGTERM: 15 } as const;
/** The abort flag's value when stdout's reader went away: the dump stops as if interrupted. */
const STDOUT_CLOSED = 13; // SIGPIPE

/** The signal that interrupted the last dump (its exit code is 128 + its number). */
let received: keyof typeof SIGNALS | null = null;

export function interruptExitCode(): number {
  return 128 + SIGNALS[received ?? 'SIGINT'];
}

export function runDump<R>(job: DumpJob, onIteration?: (stats: IterationStats, phase: 'start' | 'done') => void, fault = process.env.TRACKER_FAULT): Promise<R> {
  const abort = new SharedArrayBuffer(4);
  const flag = new Int32Array(abort);
  const data: WorkerData = { job, abort, fault };
  const worker = new Worker(new URL('./dump-worker.js', import.meta.url), { workerData: data });
  return new Promise<R>((resolve, reject) => {
    const onSignal = (sig: keyof typeof SIGNALS) => {
      if (received !== null) process.exit(128 + SIGNALS[sig]); // a second signal: stop now, like a crash
      received = sig;
      Atomics.store(flag, 0, SIGNALS[sig]);
    };
    const handlers = (Object.keys(SIGNALS) as (keyof typeof SIGNALS)[]).map((sig) => [sig, () => onSignal(sig)] as const);
    for (const [sig, h] of handlers) process.on(sig, h);
    // A closed or failing stdout stops the dump too: what it would print can no longer be read.
    const unwatch = onStdoutFailure(() => Atomics.compareExchange(flag, 0, 0, STDOUT_CLOSED));
    let settled = false;
    const finish = () => {
      settled = true;
      unwatch();
      for (const [sig, h] of handlers) process.off(sig, h);
    };
    worker.on('message', (m: { type: 'iteration'; stats: IterationStats; phase: 'start' | 'done' } | { type: 'done'; report: R } | { type: 'error'; error: SerializedError }) => {
      if (m.type === 'iteration') onIteration?.(m.stats, m.phase);
      else if (m.type === 'done') {
        finish();
        resolve(m.report);
      } else {
        finish();
        const e = reviveError(m.error);
        reject(e instanceof InterruptedError && Atomics.load(flag, 0) === STDOUT_CLOSED ? (stdoutError(`the dump stopped: ${e.message}`) ?? e) : e);
      }
    });
    worker.on('error', (e) => {
      if (!settled) finish();
      reject(e);
    });
    worker.on('exit', (code) => {
      if (!settled) {
        finish();
        reject(new Error(`internal: the dump worker exited (${code}) without a result`));
      }
    });
  });
}
