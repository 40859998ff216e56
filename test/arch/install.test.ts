/**
 * The package as an admin installs it: `npm pack` of the checkout (its
 * prepack builds dist/), `npm i -g` of the tarball into an empty prefix (its
 * install script builds the native addons), then the installed bins: --version,
 * and a daemon started from the installed `tsxenstored` serving Xen's own
 * xenstore-* tools and the installed `tsxenstore`, with a simulated guest.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canConnect, projectRoot, run, waitFor } from '../helpers/daemon.js';
import { xenToolPath } from '../helpers/cli.js';
import { spawn } from 'node:child_process';

test('npm pack, npm i -g into an empty prefix: the installed bins work and serve Xen\'s tools', { timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsxs-install-'));
  const prefix = join(dir, 'prefix');
  try {
    const pack = await run('npm', ['pack', '--pack-destination', dir], { cwd: projectRoot(), timeoutMs: 300_000 });
    assert.equal(pack.code, 0, pack.stderr);
    const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    assert.ok(tgz !== undefined, 'npm pack made a tarball');
    const inst = await run('npm', ['i', '-g', '--prefix', prefix, '--no-audit', '--no-fund', join(dir, tgz)], { cwd: dir, timeoutMs: 400_000 });
    assert.equal(inst.code, 0, `${inst.stdout}\n${inst.stderr}`);
    const pkgDir = join(prefix, 'lib', 'node_modules', 'tsxenstored');
    assert.ok(existsSync(join(pkgDir, 'native', 'build', 'Release', 'xsshm.node')), 'the install script built the shared-memory addon');
    assert.ok(existsSync(join(pkgDir, 'native', 'build', 'Release', 'xsxen.node')), 'the install script built the Xen addon');
    const version = (JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')) as { version: string }).version;
    const bin = (name: string): string => join(prefix, 'bin', name);
    const v1 = await run(bin('tsxenstored'), ['--version']);
    assert.equal(v1.stdout, `tsxenstored ${version}\n`, v1.stderr);
    const v2 = await run(bin('tsxenstore'), ['--version']);
    assert.equal(v2.stdout, `tsxenstore ${version}\n`, v2.stderr);

    const sock = join(dir, 'socket');
    const simDir = join(dir, 'sim');
    const daemon = spawn(bin('tsxenstored'), ['--socket', sock, '--sim-dir', simDir, '--backend', 'sim'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    daemon.stderr.on('data', (b: Buffer) => (log += b.toString()));
    try {
      await waitFor(async () => (await canConnect(sock)) || undefined, { what: `the installed daemon to accept on ${sock}` });
      const env = { XENSTORED_PATH: sock };
      const w = await run(xenToolPath('write'), ['/installed/key', 'from xenstore-write'], { env });
      assert.equal(w.code, 0, w.stderr);
      const r = await run(xenToolPath('read'), ['/installed/key'], { env });
      assert.equal(r.stdout, 'from xenstore-write\n', r.stderr);
      const g = await run(bin('tsxenstore'), ['--socket', sock, '--sim-dir', simDir, 'sim', 'create-guest', '7'], { env });
      assert.equal(g.code, 0, g.stderr);
      const gw = await run(bin('tsxenstore'), ['--sim-dir', simDir, '--domain', '7', 'write', 'data/hello', 'from the guest ring'], { env });
      assert.equal(gw.code, 0, gw.stderr);
      const gr = await run(xenToolPath('read'), ['/local/domain/7/data/hello'], { env });
      assert.equal(gr.stdout, 'from the guest ring\n', gr.stderr);
    } finally {
      daemon.kill('SIGTERM');
      await new Promise((resolve) => daemon.once('exit', resolve));
    }
    assert.match(log, /listening on/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
