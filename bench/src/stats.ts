/**
 * Percentiles. `percentile` is exact (nearest rank) on a sorted sample, for
 * small samples and for checking the histogram; `Histogram` records latencies
 * allocation-free in log-linear buckets (relative error under 1/64) so a
 * worker can record millions of them and ship the counts to the main thread.
 */

/** Nearest-rank percentile of an ascending sorted sample: the smallest value with at least q of the sample at or below it. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`percentile ${q} is not in [0, 1]`);
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil(q * n));
  return sorted[rank - 1] as number;
}

/** Sorts a copy ascending (numbers, not strings). */
export function sortedCopy(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values).sort();
}

export interface Summary {
  readonly count: number;
  readonly mean: number;
  readonly min: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

/** Exact summary of a sample (any order). */
export function summarize(values: ArrayLike<number>): Summary {
  const s = sortedCopy(values);
  let sum = 0;
  for (const v of s) sum += v;
  const n = s.length;
  return {
    count: n,
    mean: n === 0 ? Number.NaN : sum / n,
    min: n === 0 ? Number.NaN : (s[0] as number),
    p50: percentile(s, 0.5),
    p90: percentile(s, 0.9),
    p99: percentile(s, 0.99),
    p999: percentile(s, 0.999),
    max: n === 0 ? Number.NaN : (s[n - 1] as number),
  };
}

/** Sub-buckets per power of two: the relative width of a bucket is at most 1/SUB. */
const SUB_BITS = 6;
const SUB = 1 << SUB_BITS;
/** Values (in ns) below 2*SUB get one bucket each. */
const LINEAR = 2 * SUB;
/** Octaves above the linear region: up to 2^40 ns (about 18 minutes). */
const OCTAVES = 40 - (SUB_BITS + 1);
export const HISTOGRAM_BUCKETS = LINEAR + OCTAVES * SUB;

/** What crosses a thread boundary: plain numbers and one typed array. */
export interface HistogramData {
  readonly counts: Float64Array;
  readonly count: number;
  readonly sumNs: number;
  readonly minNs: number;
  readonly maxNs: number;
}

function bucketOf(ns: number): number {
  if (ns < LINEAR) return ns < 0 ? 0 : Math.floor(ns);
  const e = Math.floor(Math.log2(ns)); // >= SUB_BITS + 1
  const octave = e - (SUB_BITS + 1);
  if (octave >= OCTAVES) return HISTOGRAM_BUCKETS - 1;
  const sub = Math.floor(ns / 2 ** (e - SUB_BITS)) - SUB; // 0 .. SUB-1
  return LINEAR + octave * SUB + Math.min(SUB - 1, Math.max(0, sub));
}

/** Lowest value of bucket `i` (ns) and its width. */
function bucketRange(i: number): { lo: number; width: number } {
  if (i < LINEAR) return { lo: i, width: 1 };
  const octave = Math.floor((i - LINEAR) / SUB);
  const sub = (i - LINEAR) % SUB;
  const scale = 2 ** (octave + 1);
  return { lo: (SUB + sub) * scale, width: scale };
}

/** Latency histogram in nanoseconds; record() never allocates. */
export class Histogram {
  readonly counts = new Float64Array(HISTOGRAM_BUCKETS);
  count = 0;
  sumNs = 0;
  minNs = Number.POSITIVE_INFINITY;
  maxNs = 0;

  record(ns: number): void {
    this.counts[bucketOf(ns)]! += 1;
    this.count++;
    this.sumNs += ns;
    if (ns < this.minNs) this.minNs = ns;
    if (ns > this.maxNs) this.maxNs = ns;
  }

  /** Records a duration given in milliseconds (what performance.now() differences are). */
  recordMs(ms: number): void {
    this.record(ms * 1e6);
  }

  merge(other: HistogramData): void {
    for (let i = 0; i < HISTOGRAM_BUCKETS; i++) this.counts[i]! += other.counts[i] ?? 0;
    this.count += other.count;
    this.sumNs += other.sumNs;
    if (other.count > 0) {
      this.minNs = Math.min(this.minNs, other.minNs);
      this.maxNs = Math.max(this.maxNs, other.maxNs);
    }
  }

  /** The q-quantile (ns): the middle of the bucket holding the nearest-rank value, clamped to [min, max]. */
  quantileNs(q: number): number {
    if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile ${q} is not in [0, 1]`);
    if (this.count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < HISTOGRAM_BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) {
        const { lo, width } = bucketRange(i);
        const mid = width === 1 ? lo : lo + width / 2;
        return Math.min(this.maxNs, Math.max(this.minNs, mid));
      }
    }
    return this.maxNs;
  }

  data(): HistogramData {
    return { counts: this.counts, count: this.count, sumNs: this.sumNs, minNs: this.minNs, maxNs: this.maxNs };
  }

  static from(data: HistogramData): Histogram {
    const h = new Histogram();
    h.merge(data);
    return h;
  }

  /** Summary in microseconds. */
  summaryUs(): Summary {
    const us = (ns: number): number => ns / 1000;
    return {
      count: this.count,
      mean: this.count === 0 ? Number.NaN : us(this.sumNs / this.count),
      min: this.count === 0 ? Number.NaN : us(this.minNs),
      p50: us(this.quantileNs(0.5)),
      p90: us(this.quantileNs(0.9)),
      p99: us(this.quantileNs(0.99)),
      p999: us(this.quantileNs(0.999)),
      max: this.count === 0 ? Number.NaN : us(this.maxNs),
    };
  }
}
