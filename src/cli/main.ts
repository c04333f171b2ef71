/**
 * The tracker command line: a thin shell over the library. Commands are declared here; each calls
 * one library function. One catch maps error classes to exit codes; nothing deeper exits.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { EXIT_IMAGE, EXIT_IO, EXIT_RESOURCE, EXIT_USAGE, EXIT_VERIFY, TrackerError } from '../errors.js';
import { DEFAULT_KERNEL, isKernelProfileName, KERNEL_PROFILES, type KernelProfileName } from '../mm/kernel-profile.js';
import { processOutput } from './output.js';
import { scriptCommand } from './script.js';
import { registerCheckpointCommands } from './checkpoint.js';
import { registerInspectCommands } from './inspect.js';
import { registerRunCommands } from './run.js';
import { registerDedupCommand } from './dedup.js';
import { registerPageServerCommand } from './page-server.js';

export const EXIT_CODES_HELP = `
Exit codes:
  0  success
  ${EXIT_VERIFY}  a verification or comparison failed
  ${EXIT_USAGE}  bad usage or input (flags, op scripts, workload files)
  ${EXIT_IMAGE}  an image problem (missing, corrupt, wrong version, broken parent chain)
  ${EXIT_RESOURCE}  the emulated machine ran out of memory or swap
  ${EXIT_IO}  a file could not be read or written`;

export function kernelOption(): Option {
  return new Option('--kernel <profile>', `kernel profile: ${KERNEL_PROFILES.join(', ')}`)
    .default(DEFAULT_KERNEL)
    .argParser((v: string): KernelProfileName => {
      if (!isKernelProfileName(v)) throw new InvalidArgumentError(`must be one of ${KERNEL_PROFILES.join(', ')}`);
      return v;
    });
}

export function intArg(what: string, min = 0): (v: string) => number {
  return (v: string) => {
    if (!/^\d+$/.test(v.trim())) throw new InvalidArgumentError(`${what} must be a whole number, got '${v}'`);
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${what} must be at least ${min}, got '${v}'`);
    return n;
  };
}

export function buildProgram(): Command {
  const program = new Command('tracker')
    .description(
      'CRIU-style incremental checkpoints of a simulated process on an emulated Linux MMU with soft-dirty\n' +
        'page tracking: clear_refs 4, run, read bit 55 of pagemap, dump only what changed.',
    )
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', EXIT_CODES_HELP)
    // Set before the subcommands exist: they copy these settings when they are created.
    .exitOverride()
    .configureOutput({
      writeErr: (s) => process.stderr.write(s),
      outputError: (s, write) => write(`tracker: ${s.replace(/^error: /, '')}`),
    });

  program
    .command('script')
    .description('run an op script (../shared/spec/ops-language.md) on a fresh emulated process and print its observations')
    .argument('<file>', 'the .ops file')
    .addOption(kernelOption())
    .option('--json', 'print the JSON-lines form of the spec (one observation per line)', false)
    .addHelpText('after', EXIT_CODES_HELP)
    .action((file: string, opts: { kernel: KernelProfileName; json: boolean }) => {
      scriptCommand(file, opts, processOutput(opts.json));
    });

  registerCheckpointCommands(program);
  registerRunCommands(program);
  registerInspectCommands(program);
  registerDedupCommand(program);
  registerPageServerCommand(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  // `tracker ... | head` closes stdout early: that is not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  try {
    await program.parseAsync(argv);
  } catch (e) {
    process.exitCode = exitCodeFor(e);
  }
}

function exitCodeFor(e: unknown): number {
  if (e instanceof CommanderError) {
    // --help and --version end here too, with exit code 0.
    return e.exitCode === 0 ? 0 : EXIT_USAGE;
  }
  if (e instanceof TrackerError) {
    process.stderr.write(`tracker: ${e.message}\n`);
    return e.exitCode;
  }
  const code = (e as NodeJS.ErrnoException)?.code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
    process.stderr.write(`tracker: ${(e as Error).message}\n`);
    return EXIT_IO;
  }
  process.stderr.write(`tracker: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
  return 70;
}

void EXIT_IMAGE;
void EXIT_RESOURCE;
