/**
 * The tracker command line: a thin shell over the library. Commands are declared here and in the
 * register* modules; each calls one library function. One catch maps error classes to exit codes
 * (the table in help.ts); nothing deeper exits.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { EXIT_INTERNAL, EXIT_IO, EXIT_USAGE, InterruptedError, oneLine, TrackerError, VerifyError } from '../errors.js';
import type { KernelProfileName } from '../mm/kernel-profile.js';
import { memoryOption } from './options.js';
import { registerCheckpointCommands } from './checkpoint.js';
import { interruptExitCode } from './dump-runner.js';
import { EXIT_CODES_HELP } from './help.js';
import { registerInspectCommands } from './inspect.js';
import { kernelOption } from './options.js';
import { applyColourEnv, loadSpinner, processOutput, stdoutError, stdoutSettled, watchStdout } from './output.js';
import { registerRunCommands } from './run.js';
import { scriptCommand } from './script.js';
import { registerPlanCommand } from './plan.js';
import { registerDedupCommand } from './dedup.js';
import { registerPageServerCommand } from './page-server.js';

/** The op-script language, in the package (dist/src/cli/main.js -> fixtures/spec). */
const OPS_LANGUAGE = fileURLToPath(new URL('../../../fixtures/spec/ops-language.md', import.meta.url));

/** The package's version (package.json sits two levels above dist/src/cli). */
export function version(): string {
  return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

export function buildProgram(): Command {
  const program = new Command('tracker')
    .description(
      'CRIU-style incremental checkpoints of a simulated process on an emulated Linux MMU with soft-dirty\n' +
        'page tracking: clear_refs 4, run, read bit 55 of pagemap, dump only what changed.',
    )
    .version(version(), '-V, --version', 'print the version')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', EXIT_CODES_HELP)
    // Set before the subcommands exist: they copy these settings when they are created.
    .exitOverride()
    .configureOutput({
      writeErr: (s) => process.stderr.write(s),
      outputError: (s, write) => write(`tracker: ${oneLine(s.replace(/^error: /, '').trimEnd())}\n`),
    });

  program
    .command('script')
    .description('run an op script on a fresh emulated process and print its observations')
    .argument('<file>', 'the .ops file')
    .addOption(kernelOption())
    .option('--json', 'print the JSON-lines form of the spec (one observation per line)', false)
    .addOption(memoryOption("the reference machine's, 1.9G; a process the OOM killer kills prints signal 9, exit 4"))
    .addHelpText('after', `\nThe op-script language (shipped with tracker): ${OPS_LANGUAGE}\n`)
    .addHelpText('after', EXIT_CODES_HELP)
    .action((file: string, opts: { kernel: KernelProfileName; json: boolean; memory?: number }) => {
      scriptCommand(file, opts, processOutput(opts.json));
    });

  registerCheckpointCommands(program);
  registerRunCommands(program);
  registerPlanCommand(program);
  registerInspectCommands(program);
  registerDedupCommand(program);
  registerPageServerCommand(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  applyColourEnv(process.env);
  watchStdout();
  let failure: unknown = null;
  try {
    await loadSpinner();
    await buildProgram().parseAsync(argv);
  } catch (e) {
    failure = e;
  }
  // A closed or full stdout is a failure even when the command succeeded, and it is what a CI
  // gate must see rather than the verdict (exit 1) it could not print.
  await stdoutSettled();
  const stdout = stdoutError('what tracker printed was cut short');
  if (stdout !== null && (failure === null || failure instanceof VerifyError)) failure = stdout;
  if (failure !== null) process.exitCode = exitCodeFor(failure);
}

/** One line on stderr (none for --help and --version) and the exit code of the table in help.ts. */
export function exitCodeFor(e: unknown): number {
  if (e instanceof CommanderError) {
    // --help and --version end here too, with exit code 0.
    return e.exitCode === 0 ? 0 : EXIT_USAGE;
  }
  if (e instanceof TrackerError) {
    process.stderr.write(`tracker: ${oneLine(e.message)}\n`);
    return e instanceof InterruptedError && e.signal === undefined ? interruptExitCode() : e.exitCode;
  }
  const code = (e as NodeJS.ErrnoException)?.code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
    process.stderr.write(`tracker: ${oneLine((e as Error).message)}\n`);
    return EXIT_IO;
  }
  process.stderr.write(`tracker: internal error (a bug in tracker; please report it with the command): ${(e as Error)?.stack ?? String(e)}\n`);
  return EXIT_INTERNAL;
}
