/** What the CLI writes: the only module that knows about stdout, stderr, TTYs, colour and spinners. */
import chalk from 'chalk';
import ora, { type Ora } from 'ora';

export interface Output {
  json: boolean;
  isTTY: boolean;
  out(s: string): void;
  err(s: string): void;
}

export function processOutput(json: boolean): Output {
  return {
    json,
    isTTY: process.stdout.isTTY === true && process.env.CI === undefined,
    out: (s) => void process.stdout.write(s.endsWith('\n') ? s : s + '\n'),
    err: (s) => void process.stderr.write(s.endsWith('\n') ? s : s + '\n'),
  };
}

/**
 * Colour: FORCE_COLOR wins (chalk reads it), then NO_COLOR (https://no-color.org: any non-empty
 * value turns colour off, on a terminal too), then whether the stream is a terminal.
 */
export function applyColourEnv(env: NodeJS.ProcessEnv): void {
  if (env.FORCE_COLOR !== undefined) return;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') chalk.level = 0;
}

/**
 * A spinner only on a terminal that has a width: ora divides by the column count, and a 0-column
 * pseudo-terminal (`script -qc … /dev/null`) made it clear lines forever. It never reads stdin
 * (discardStdin puts the terminal in raw mode, turning Ctrl-C into a byte instead of SIGINT).
 */
export function spinnerAllowed(stream: NodeJS.WriteStream = process.stderr, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && (stream.columns ?? 0) > 0 && env.CI === undefined && env.TERM !== 'dumb';
}

export function startSpinner(text: string): Ora | null {
  if (!spinnerAllowed()) return null;
  return ora({ text, stream: process.stderr, discardStdin: false, hideCursor: false }).start();
}
