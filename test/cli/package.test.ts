/**
 * The package as users get it: `npm pack`, installed from the tarball into an empty folder, runs
 * `tracker --version` and imports the library by its name. Dependencies come from npm's cache
 * (--offline); if the cache lacks them, from the registry (--prefer-offline); with neither, the
 * test is skipped and says why.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ROOT } from '../helpers/root.js';

const tmp = mkdtempSync(join(tmpdir(), 'tracker-pack-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; engines: { node: string }; bin: Record<string, string> };

test('package.json: a name of its own, the tracker command, engines that allow zlib.crc32', () => {
  assert.equal(PKG.name, 'soft-dirty-tracker');
  assert.deepEqual(PKG.bin, { tracker: 'bin/tracker.js' });
  assert.equal(PKG.engines.node, '>=20.15');
});

test('npm pack, install the tarball in an empty folder, run tracker --version, import the library', (t) => {
  // --ignore-scripts: dist/ is already built by this test run (npm test compiles first).
  const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], { cwd: ROOT, encoding: 'utf8' })) as { filename: string; files: { path: string }[] }[];
  const files = packed[0].files.map((f) => f.path);
  for (const f of ['bin/tracker.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli/main.js', 'dist/src/cli/dump-worker.js', 'package.json', 'README.md', 'LICENSE', 'fixtures/spec/ops-language.md', 'fixtures/spec/uffd-and-pagemap-scan.md']) assert.ok(files.includes(f), `the tarball holds ${f}`);
  assert.ok(!files.some((f) => f.startsWith('dist/test/') || f.startsWith('src/') || f.endsWith('.map')), 'no tests, sources or maps');
  assert.deepEqual(files.filter((f) => f.startsWith('fixtures/')).sort(), ['fixtures/spec/ops-language.md', 'fixtures/spec/uffd-and-pagemap-scan.md'], 'of the fixtures, only the spec');
  const app = join(tmp, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  const tarball = join(tmp, packed[0].filename);
  const install = (mode: string) => spawnSync('npm', ['install', mode, '--no-audit', '--no-fund', '--ignore-scripts', tarball], { cwd: app, encoding: 'utf8', timeout: 120_000 });
  let r = install('--offline');
  if (r.status !== 0) r = install('--prefer-offline');
  if (r.status !== 0) {
    t.skip(`dependencies are neither in npm's cache nor reachable: ${r.stderr.trim().split('\n')[0]}`);
    return;
  }
  assert.ok(existsSync(join(app, 'node_modules', '.bin', 'tracker')));
  const v = spawnSync(join(app, 'node_modules', '.bin', 'tracker'), ['--version'], { cwd: app, encoding: 'utf8' });
  assert.equal(v.status, 0, v.stderr);
  assert.equal(v.stdout, `${PKG.version}\n`);
  const lib = spawnSync(process.execPath, ['--input-type=module', '-e', "const m = await import('soft-dirty-tracker'); console.log(['iterativeDump','primitiveDump','restore','checkReport','chainStats','compare','showIteration','runMeasured','runOps'].map((k) => typeof m[k]).join(' '), m.EXIT_IO)"], { cwd: app, encoding: 'utf8' });
  assert.equal(lib.status, 0, lib.stderr);
  assert.equal(lib.stdout, `${Array(9).fill('function').join(' ')} 5\n`);
  assert.deepEqual(readdirSync(join(app, 'node_modules', 'soft-dirty-tracker')).sort(), ['LICENSE', 'README.md', 'bin', 'dist', 'fixtures', 'package.json']);
  // `tracker script --help` names the op-script language where the package put it.
  const help = spawnSync(join(app, 'node_modules', '.bin', 'tracker'), ['script', '--help'], { cwd: app, encoding: 'utf8' });
  const spec = /The op-script language \(shipped with tracker\): (\S+)/.exec(help.stdout)?.[1];
  assert.ok(spec !== undefined && existsSync(spec) && spec.startsWith(join(app, 'node_modules')), `script --help names the installed spec: ${help.stdout}`);
  assert.match(readFileSync(spec, 'utf8'), /^# /);
});
