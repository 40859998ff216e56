/**
 * Interop: Debian's python3-pyxs client library against the daemon. The
 * checks themselves are in pyxs_checks.py (one process runs them all, each
 * with fresh connections and its own subtree); every check becomes one test
 * here. All of them pass unchanged on the reference cxenstored and oxenstored.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { daemonSupports, explain, run, useDaemon, type RunResult } from '../helpers/daemon.js';
import { jsonLines, PYTHON, PYXS_SCRIPT, pyxsUnavailable } from './python.js';

const skip = pyxsUnavailable();
// INTRODUCE of a made-up domain (introduce_release) needs a daemon that only
// records domains, like the reference daemons under their shim: without
// --no-sim, tsxenstored maps the ring page from its simulated Xen and answers
// EINVAL when there is none (as real Xen would for a bad mfn).
const daemon = useDaemon({ args: (await daemonSupports('no-sim')) ? ['--no-sim'] : [] });

/** Check name in pyxs_checks.py -> what it covers. */
const CHECKS: ReadonlyArray<readonly [string, string]> = [
  ['read_write', 'read/write, spaces, empty value, ENOENT, read default'],
  ['mkdir_exists_delete', 'mkdir, exists, recursive delete, delete with missing parent'],
  ['ls', 'list, list of a leaf, walk'],
  ['perms', 'get_perms default, set_perms, get_perms'],
  ['domain_queries', 'get_domain_path, is_domain_introduced'],
  ['introduce_release', 'introduce_domain, then RELEASE'],
  ['transaction_commit', 'transaction commit: invisible before, visible after'],
  ['transaction_abort', 'transaction abort (rollback) leaves no trace'],
  ['transaction_conflict_commit_false', 'conflicting transaction: commit() returns False (EAGAIN), retry succeeds'],
  ['transaction_conflict_eagain', 'conflicting transaction: TRANSACTION_END raises PyXSError errno EAGAIN'],
  ['watch_events', 'watch: first event, write by another client, rm, set_perms'],
  ['watch_duplicate_and_unwatch', 'duplicate watch EEXIST, unwatch, unwatch again ENOENT, no event after unwatch'],
  ['watch_transaction_events_at_commit', 'events for transaction writes arrive at commit only'],
];

let result: RunResult | undefined;
const byName = new Map<string, Record<string, unknown>>();

before(async () => {
  if (skip !== false) return;
  const d = await daemon.ready();
  result = await run(PYTHON, [PYXS_SCRIPT, 'checks', d.socket, `/pyxs-${process.pid}`], { timeoutMs: 120_000 });
  for (const o of jsonLines(result.stdout)) {
    if (typeof o.name === 'string') byName.set(o.name, o);
  }
});

test('pyxs_checks.py ran to the end', { skip }, () => {
  assert.ok(result !== undefined);
  assert.equal(result.code, 0, explain('pyxs_checks.py', result));
  assert.match(result.stdout, /\{"done": true\}/, explain('pyxs_checks.py', result));
  const known = new Set(CHECKS.map(([n]) => n));
  const unknown = [...byName.keys()].filter((n) => !known.has(n));
  assert.deepEqual(unknown, [], 'checks in pyxs_checks.py not listed in pyxs.test.ts');
});

for (const [name, what] of CHECKS) {
  test(`pyxs ${name}: ${what}`, { skip }, () => {
    const r = byName.get(name);
    assert.ok(r !== undefined, `check ${name} did not report${result === undefined ? '' : '\n' + explain('pyxs_checks.py', result)}`);
    assert.equal(r.ok, true, String(r.detail));
  });
}
