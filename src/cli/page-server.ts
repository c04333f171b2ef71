/** `tracker page-server` and the client options of `tracker dump --page-server`. */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { startPageServer } from '../criu/page-server.js';
import type { PageServerTarget } from '../criu/page-xfer-remote.js';
import { UsageError } from '../errors.js';
import { EXIT_CODES_HELP } from './help.js';
import { intArg } from './options.js';

export const DEFAULT_PAGE_SERVER_PORT = 27027;

function port(v: string): number {
  const n = intArg('--port')(v);
  if (n > 65535) throw new InvalidArgumentError(`--port must be at most 65535, got '${v}'`);
  return n;
}

export interface TlsFlags {
  tls: boolean;
  tlsCert?: string;
  tlsKey?: string;
  tlsCacert?: string;
}

function readPem(flag: string, path: string | undefined): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (e) {
    throw new UsageError(`${flag} ${path}: cannot read (${(e as NodeJS.ErrnoException).code})`);
  }
}

function addTlsOptions(cmd: Command): Command {
  return cmd
    .option('--tls', 'use TLS (node:tls)', false)
    .option('--tls-cert <file>', 'with --tls: this side\'s certificate (PEM)')
    .option('--tls-key <file>', 'with --tls: this side\'s private key (PEM)')
    .option('--tls-cacert <file>', 'with --tls: the CA that signed the other side\'s certificate (PEM)');
}

export function addPageServerClientOptions(cmd: Command): Command {
  cmd
    .option('--page-server', 'send the iterations to `tracker page-server` at --address/--port instead of -D', false)
    .option('--address <host>', 'with --page-server: the page server\'s address', '127.0.0.1')
    .option('--port <n>', 'with --page-server: the page server\'s port', port, DEFAULT_PAGE_SERVER_PORT);
  return addTlsOptions(cmd);
}

export function pageServerTarget(f: TlsFlags & { pageServer: boolean; address: string; port: number }): PageServerTarget | undefined {
  if (!f.pageServer) {
    if (f.tls) throw new UsageError('--tls goes with --page-server');
    return undefined;
  }
  if (f.port === 0) throw new UsageError('--page-server needs the --port the page server printed');
  return { address: f.address, port: f.port, tls: f.tls ? { ca: readPem('--tls-cacert', f.tlsCacert), cert: readPem('--tls-cert', f.tlsCert), key: readPem('--tls-key', f.tlsKey) } : undefined };
}

export function registerPageServerCommand(program: Command): void {
  const cmd = program
    .command('page-server')
    .description("as CRIU's page-server: receive a dump's iterations over TCP and write them into -D exactly as a local dump would")
    .requiredOption('-D, --images-dir <dir>', 'where DIR/1 .. DIR/N go')
    .option('--address <host>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port to listen on (0: any free port)', port, DEFAULT_PAGE_SERVER_PORT)
    .option('--keep-running', 'serve further dumps after the final dump instead of exiting', false)
    .option('--auto-dedup', "release a parent's copy of each page an iteration sends again", false);
  addTlsOptions(cmd)
    .addHelpText(
      'after',
      `
Prints "listening on ADDRESS:PORT" first, then a line per iteration written. One dump at a time;
an iteration whose connection drops or misbehaves is removed, earlier ones stay. A dump starting
at iteration 1 needs an empty -D, or --force on the dumping side to replace tracker's images.
Example:
  tracker page-server -D img --port 0 &
  tracker dump --iterative --page-server --port PORT
${EXIT_CODES_HELP}`,
    )
    .action(async (opts: TlsFlags & { imagesDir: string; address: string; port: number; keepRunning: boolean; autoDedup: boolean }) => {
      let tlsOpts;
      if (opts.tls) {
        const cert = readPem('--tls-cert', opts.tlsCert);
        const key = readPem('--tls-key', opts.tlsKey);
        if (cert === undefined || key === undefined) throw new UsageError('--tls on the page server needs --tls-cert and --tls-key');
        tlsOpts = { cert, key, ca: readPem('--tls-cacert', opts.tlsCacert) };
      }
      const s = await startPageServer({
        imagesDir: opts.imagesDir,
        address: opts.address,
        port: opts.port,
        keepRunning: opts.keepRunning,
        autoDedup: opts.autoDedup,
        tls: tlsOpts,
        log: (l) => process.stderr.write(`page-server: ${l}\n`),
        // TRACKER_FAULT=server:N kills the server as iteration N's page data begins, as a crash would.
        faultPoint: (it, point) => {
          if (process.env.TRACKER_FAULT === `server:${it}` && point === 'pages') process.kill(process.pid, 'SIGKILL');
        },
      });
      process.stdout.write(`listening on ${s.address}:${s.port}\n`);
      await s.done;
    });
}
