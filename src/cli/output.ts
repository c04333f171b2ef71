/** What the CLI writes: the only module that knows about stdout, stderr and TTYs. */
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
