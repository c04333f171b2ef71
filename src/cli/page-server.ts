/** `tracker page-server` and the client options of `tracker dump --page-server`. */
import { readFileSync } from 'node:fs';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { InvalidArgumentError, type Command } from 'commander';
import { startPageServer } from '../criu/page-server.js';
import type { PageServerTarget } from '../criu/page-xfer-remote.js';
import { InterruptedError, UsageError } from '../errors.js';
import { EXIT_CODES_HELP } from './help.js';
import { intArg } from './options.js';
import { processOutput, toJson } from './output.js';
import { oneLine } from '../errors.js';

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

/** What OpenSSL's error means for the user's file. */
function tlsProblem(e: unknown): string {
  const code = String((e as NodeJS.ErrnoException).code ?? '');
  const m = (e as Error).message ?? String(e);
  if (/NO_START_LINE|bad base64|PEM|DECODER/i.test(code + m)) return 'no PEM block of that kind in it';
  if (/KEY_VALUES_MISMATCH|key values mismatch/i.test(code + m)) return 'the key does not belong to the certificate';
  return m.replace(/^error:[0-9A-F]+:/, '');
}

/**
 * The certificate, key and CA files as TLS will use them, each checked here, so that a wrong file
 * is the user's input error (exit 2) naming the flag, not an internal error when TLS starts.
 */
export function tlsFiles(f: TlsFlags, needCertAndKey: boolean): { cert?: Buffer; key?: Buffer; ca?: Buffer } {
  const cert = readPem('--tls-cert', f.tlsCert);
  const key = readPem('--tls-key', f.tlsKey);
  const ca = readPem('--tls-cacert', f.tlsCacert);
  if (needCertAndKey && (cert === undefined || key === undefined)) throw new UsageError('--tls on the page server needs --tls-cert and --tls-key');
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  const check = (flag: string, path: string | undefined, parse: () => unknown) => {
    try {
      parse();
    } catch (e) {
      const what = flag === '--tls-key' ? 'private key' : 'certificate';
      throw new UsageError(`${flag} ${path}: not a PEM ${what} that TLS can use (${tlsProblem(e)}); give the PEM ${what} file`);
    }
  };
  if (cert !== undefined) check('--tls-cert', f.tlsCert, () => new X509Certificate(cert));
  if (key !== undefined) check('--tls-key', f.tlsKey, () => createPrivateKey(key));
  if (ca !== undefined) check('--tls-cacert', f.tlsCacert, () => new X509Certificate(ca));
  if (cert !== undefined && key !== undefined) {
    try {
      createSecureContext({ cert, key });
    } catch (e) {
      throw new UsageError(`--tls-key ${f.tlsKey}: ${tlsProblem(e)} (--tls-cert ${f.tlsCert}); give the key the certificate was made for`);
    }
  }
  return { cert, key, ca };
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
  return { address: f.address, port: f.port, tls: f.tls ? tlsFiles(f, false) : undefined };
}

export function registerPageServerCommand(program: Command): void {
  const cmd = program
    .command('page-server')
    .description("as CRIU's page-server: receive a dump's iterations over TCP and write them into -D exactly as a local dump would")
    .requiredOption('-D, --images-dir <dir>', 'where DIR/1 .. DIR/N go')
    .option('--address <host>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port to listen on (0: any free port)', port, DEFAULT_PAGE_SERVER_PORT)
    .option('--keep-running', 'serve further dumps after the final dump instead of exiting', false)
    .option('--auto-dedup', "release a parent's copy of each page an iteration sends again", false)
    .option('--json', 'print JSON lines on stdout: {"listening":...} first, then one {"iteration":...} per iteration written', false);
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
    .action(async (opts: TlsFlags & { imagesDir: string; address: string; port: number; keepRunning: boolean; autoDedup: boolean; json: boolean }) => {
      let tlsOpts;
      if (opts.tls) {
        const t = tlsFiles(opts, true);
        tlsOpts = { cert: t.cert!, key: t.key!, ca: t.ca };
      } else if (opts.tlsCert !== undefined || opts.tlsKey !== undefined || opts.tlsCacert !== undefined) throw new UsageError('--tls-cert, --tls-key and --tls-cacert go with --tls');
      const out = processOutput(opts.json);
      const s = await startPageServer({
        imagesDir: opts.imagesDir,
        address: opts.address,
        port: opts.port,
        keepRunning: opts.keepRunning,
        autoDedup: opts.autoDedup,
        tls: tlsOpts,
        log: (l) => out.err(`page-server: ${oneLine(l)}`),
        onCommit: (c) => {
          if (opts.json) out.out(toJson(c, 0));
        },
        // TRACKER_FAULT=server:N kills the server as iteration N's page data begins, as a crash would.
        faultPoint: (it, point) => {
          if (process.env.TRACKER_FAULT === `server:${it}` && point === 'pages') process.kill(process.pid, 'SIGKILL');
        },
      });
      // SIGINT and SIGTERM stop the server as a finished dump does: the iteration in flight is
      // removed, the lock released, and a -D it made and left empty removed.
      let stoppedBy: 'SIGINT' | 'SIGTERM' | null = null;
      const onSignal = (sig: 'SIGINT' | 'SIGTERM') => {
        stoppedBy ??= sig;
        s.close();
      };
      const handlers = (['SIGINT', 'SIGTERM'] as const).map((sig) => [sig, () => onSignal(sig)] as const);
      for (const [sig, h] of handlers) process.on(sig, h);
      // Printed once a signal would be handled: a script that waits for this line may stop it at once.
      out.out(opts.json ? toJson({ listening: { address: s.address, port: s.port } }, 0) : `listening on ${s.address}:${s.port}`);
      try {
        await s.done;
      } finally {
        for (const [sig, h] of handlers) process.off(sig, h);
      }
      if (stoppedBy !== null) throw new InterruptedError(`page server stopped by ${stoppedBy}; the iterations it wrote are complete, any in flight was removed`, stoppedBy);
    });
}
