import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Histogram, percentile, sortedCopy, summarize } from '../../bench/src/stats.js';
import { rng } from '../helpers/random.js';

describe('percentile (nearest rank)', () => {
  it('picks the smallest value with at least q of the sample at or below it', () => {
    const s = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    assert.equal(percentile(s, 0), 1);
    assert.equal(percentile(s, 0.1), 1);
    assert.equal(percentile(s, 0.11), 2);
    assert.equal(percentile(s, 0.5), 5);
    assert.equal(percentile(s, 0.9), 9);
    assert.equal(percentile(s, 0.99), 10);
    assert.equal(percentile(s, 1), 10);
  });

  it('of one value is that value, of none is NaN', () => {
    assert.equal(percentile([42], 0.99), 42);
    assert.ok(Number.isNaN(percentile([], 0.5)));
  });

  it('rejects q outside [0, 1]', () => {
    assert.throws(() => percentile([1], 1.5), RangeError);
    assert.throws(() => percentile([1], -0.1), RangeError);
    assert.throws(() => percentile([1], Number.NaN), RangeError);
  });

  it('sortedCopy sorts numerically and leaves the input alone', () => {
    const input = [10, 9, 100, 1];
    assert.deepEqual([...sortedCopy(input)], [1, 9, 10, 100]);
    assert.deepEqual(input, [10, 9, 100, 1]);
  });

  it('summarize gives count, mean, min, max and the percentiles', () => {
    const s = summarize([5, 1, 4, 2, 3]);
    assert.equal(s.count, 5);
    assert.equal(s.mean, 3);
    assert.equal(s.min, 1);
    assert.equal(s.max, 5);
    assert.equal(s.p50, 3);
    assert.equal(s.p99, 5);
  });
});

describe('Histogram', () => {
  it('is exact below 128 ns', () => {
    const h = new Histogram();
    for (let v = 0; v < 128; v++) h.record(v);
    assert.equal(h.quantileNs(0.5), 63);
    assert.equal(h.quantileNs(1), 127);
    assert.equal(h.minNs, 0);
  });

  it('stays within 1/64 of the exact percentile over six decades (seeded)', () => {
    for (const seed of [1, 2, 3]) {
      const r = rng(seed);
      const values: number[] = [];
      const h = new Histogram();
      for (let i = 0; i < 20_000; i++) {
        const v = 10 ** (2 + 6 * r()); // 100 ns .. 100 ms, log-uniform
        values.push(v);
        h.record(v);
      }
      const sorted = sortedCopy(values);
      for (const q of [0.01, 0.25, 0.5, 0.9, 0.99, 0.999]) {
        const exact = percentile(sorted, q);
        const approx = h.quantileNs(q);
        assert.ok(Math.abs(approx - exact) / exact <= 1 / 64, `seed ${seed} q ${q}: ${approx} vs exact ${exact}`);
      }
      assert.equal(h.count, 20_000);
      assert.equal(h.maxNs, sorted[sorted.length - 1]);
    }
  });

  it('keeps min, max and mean exact', () => {
    const h = new Histogram();
    for (const v of [1000, 2000, 3000, 1_000_000]) h.record(v);
    assert.equal(h.minNs, 1000);
    assert.equal(h.maxNs, 1_000_000);
    const s = h.summaryUs();
    assert.equal(s.mean, 251.5);
    assert.equal(s.max, 1000);
    assert.equal(s.min, 1);
  });

  it('clamps quantiles to the observed range', () => {
    const h = new Histogram();
    h.record(1_000_003);
    assert.equal(h.quantileNs(0.5), 1_000_003);
  });

  it('recordMs records milliseconds as nanoseconds', () => {
    const h = new Histogram();
    h.recordMs(0.025);
    assert.equal(h.maxNs, 25_000);
  });

  it('merging equals recording everything in one', () => {
    const r = rng(7);
    const a = new Histogram();
    const b = new Histogram();
    const all = new Histogram();
    for (let i = 0; i < 5000; i++) {
      const v = 1000 + r() * 1e6;
      (i % 2 === 0 ? a : b).record(v);
      all.record(v);
    }
    const merged = Histogram.from(a.data());
    merged.merge(b.data());
    assert.equal(merged.count, all.count);
    assert.equal(merged.minNs, all.minNs);
    assert.equal(merged.maxNs, all.maxNs);
    for (const q of [0.5, 0.9, 0.99]) assert.equal(merged.quantileNs(q), all.quantileNs(q));
  });

  it('merging an empty histogram changes nothing', () => {
    const a = new Histogram();
    a.record(5000);
    a.merge(new Histogram().data());
    assert.equal(a.minNs, 5000);
    assert.equal(a.count, 1);
  });

  it('is NaN when empty and survives huge values', () => {
    const h = new Histogram();
    assert.ok(Number.isNaN(h.quantileNs(0.5)));
    h.record(1e15);
    assert.equal(h.quantileNs(0.99), 1e15);
  });
});
