/**
 * server/reclaim.ts alone, on a fake clock and timer queue: the collection
 * runs once a drop of at least `reclaim-bytes`, to at most half the peak, is
 * followed by IDLE_MS without a turn; never for small drops, never while turns keep coming,
 * once per drop, with one timer at a time however many turns; and the real
 * V8 collection frees unreachable memory without --expose-gc.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NODE_OVERHEAD } from '../../src/store/cost.js';
import { fullGc, IDLE_MS, IdleReclaim, type ReclaimEnv, type ReclaimHost } from '../../src/server/reclaim.js';

const THRESHOLD = 1000 * NODE_OVERHEAD;

class Host implements ReclaimHost {
  readonly store = { nodes: 0 };
  readonly history = { heldBytes: 0 };
  readonly settings = { 'reclaim-bytes': THRESHOLD };
  readonly logged: string[] = [];
  readonly logger = { info: (msg: string): void => void this.logged.push(msg) };
}

/** A fake clock with a timer queue; `collect` is counted. */
class Env implements ReclaimEnv {
  t = 0;
  collected = 0;
  timers: Array<{ at: number; fn: () => void }> = [];
  now(): number {
    return this.t;
  }
  later(fn: () => void, ms: number): void {
    this.timers.push({ at: this.t + ms, fn });
  }
  collect(): boolean {
    this.collected++;
    return true;
  }
  /** Advances the clock by `ms`, running the timers that fall due, in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (next === undefined || next.at > end) break;
      this.timers.shift();
      this.t = next.at;
      next.fn();
    }
    this.t = end;
  }
}

function setup(nodes: number): { host: Host; env: Env; r: IdleReclaim } {
  const host = new Host();
  const env = new Env();
  const r = new IdleReclaim(host, env);
  host.store.nodes = nodes;
  r.turn();
  return { host, env, r };
}

test('a drop of at least reclaim-bytes, then IDLE_MS without a turn: one collection', () => {
  const { host, env, r } = setup(5000);
  host.store.nodes = 2000;
  r.turn();
  assert.equal(env.timers.length, 1);
  env.advance(IDLE_MS - 1);
  assert.equal(env.collected, 0, 'not before the daemon has been idle for IDLE_MS');
  env.advance(1);
  assert.equal(env.collected, 1);
  assert.equal(r.hints, 1);
  assert.deepEqual(host.logged, ['reclaim: the store and its history hold ~1 MiB less than at their peak; full GC once idle took 0 ms']);
  env.advance(60_000);
  r.turn();
  env.advance(60_000);
  assert.equal(env.collected, 1, 'once per drop: nothing more without another drop');
  assert.equal(env.timers.length, 0);
});

/**
 * From a store of `peak` nodes, `first` shrinks it too little: no timer, no
 * collection however long the daemon idles; then `then` shrinks it enough:
 * one collection IDLE_MS after the turn.
 */
function noneThenOne(peak: number, first: (h: Host) => void, then: (h: Host) => void): void {
  const { host, env, r } = setup(peak);
  first(host);
  r.turn();
  env.advance(10 * IDLE_MS);
  assert.equal(env.collected, 0);
  assert.equal(env.timers.length, 0, 'no timer for a drop too small');
  then(host);
  r.turn();
  env.advance(IDLE_MS);
  assert.equal(env.collected, 1);
}

test('smaller drops do not collect; drops add up from the peak', () => {
  // Two drops of 500 nodes from the same peak make one of 1000.
  noneThenOne(1500, (h) => (h.store.nodes = 1000), (h) => (h.store.nodes = 500));
});

test('a drop that leaves more than half of the peak is left to V8 (the forced pause grows with what stays)', () => {
  noneThenOne(10_000, (h) => (h.store.nodes = 5001), (h) => (h.store.nodes = 5000));
});

test('history counts: a deletion the history still holds frees nothing; the collection waits until the history lets go', () => {
  noneThenOne(
    5000,
    (h) => {
      h.store.nodes = 2000;
      h.history.heldBytes = 3000 * NODE_OVERHEAD;
    },
    (h) => (h.history.heldBytes = 0),
  );
});

test('under load it never runs, and keeps at most one timer; it runs once the turns stop', () => {
  const { host, env, r } = setup(5000);
  host.store.nodes = 1000;
  for (let i = 0; i < 10_000; i++) {
    r.turn();
    env.advance(IDLE_MS / 5);
    assert.ok(env.timers.length <= 1, 'one timer at a time');
  }
  assert.equal(env.collected, 0, 'never while turns keep coming');
  env.advance(IDLE_MS);
  assert.equal(env.collected, 1);
});

test('a store that grew back before the idle time, or a setting of 0, collects nothing and forgets the drop', () => {
  const { host, env, r } = setup(5000);
  host.store.nodes = 1000;
  r.turn();
  host.store.nodes = 5000;
  env.advance(IDLE_MS);
  assert.equal(env.collected, 0);
  host.settings['reclaim-bytes'] = 0;
  host.store.nodes = 100;
  r.turn();
  env.advance(10 * IDLE_MS);
  assert.equal(env.collected, 0);
  assert.equal(env.timers.length, 0);
});

test('a collection that cannot run is not counted', () => {
  const { host, env, r } = setup(5000);
  env.collect = () => false;
  host.store.nodes = 0;
  r.turn();
  env.advance(IDLE_MS);
  assert.equal(r.hints, 0);
});

test('fullGc runs a real full collection without --expose-gc, and leaves new contexts without gc', async () => {
  const vm = await import('node:vm');
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined', 'this test runs without --expose-gc');
  let garbage: Array<{ i: number }> | undefined = Array.from({ length: 500_000 }, (_, i) => ({ i }));
  const ref = new WeakRef(garbage);
  garbage = undefined;
  // A WeakRef keeps its target alive until the current job ends.
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(fullGc(), true);
  assert.equal(ref.deref(), undefined, 'the unreachable array was collected');
  assert.equal(vm.runInNewContext('typeof gc'), 'undefined', 'the flag was cleared again');
});
