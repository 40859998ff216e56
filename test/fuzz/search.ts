/**
 * What the in-suite fuzz test and the long-running CLI (run.ts) share: one
 * fast-check search for a failing case (shrunk, trimmed after the failing
 * step, with the seed and path that reproduce it), and the corpus of saved
 * failing inputs (test/fuzz/corpus/*.json) that the suite replays.
 */
import fc from 'fast-check';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../helpers/daemon.js';
import { caseArb, type FuzzCase, type Step } from './actions.js';
import { KNOWN_GAPS, runCase, type Failure, type InvariantId } from './exec.js';

export interface SearchOptions {
  readonly seed: number;
  readonly numRuns: number;
  readonly maxSteps: number;
  readonly skip: ReadonlySet<InvariantId>;
  /** Ignore violations that are instances of known gaps. */
  readonly tolerateKnownGaps: boolean;
  /** Stop (without failing) after this long; the cases run so far count. */
  readonly timeLimitMs?: number;
  /** Shrink a failing case to a minimal one (slower). */
  readonly shrink: boolean;
  /** Replay one case of a previous search (fast-check's counterexample path). */
  readonly path?: string;
}

export interface Found {
  readonly failure: Failure;
  /** The failing case, cut after the step that broke the invariant. */
  readonly case: FuzzCase;
  readonly seed: number;
  readonly path: string;
}

export interface SearchResult {
  readonly found: Found | undefined;
  readonly cases: number;
  readonly steps: number;
}

/** Thrown inside the property so that fast-check shrinks on it and hands it back. */
class CaseFailed extends Error {
  constructor(readonly failure: Failure) {
    super(failure.message);
  }
}

export function search(opts: SearchOptions): SearchResult {
  let cases = 0;
  let steps = 0;
  const prop = fc.property(caseArb(opts.maxSteps), (c) => {
    cases++;
    steps += c.steps.length;
    const f = runCase(c, { skip: opts.skip, tolerateKnownGaps: opts.tolerateKnownGaps });
    if (f !== undefined) throw new CaseFailed(f);
  });
  const params: fc.Parameters<[FuzzCase]> = {
    seed: opts.seed,
    numRuns: opts.numRuns,
    endOnFailure: !opts.shrink,
    ...(opts.path === undefined ? {} : { path: opts.path }),
    ...(opts.timeLimitMs === undefined ? {} : { interruptAfterTimeLimit: opts.timeLimitMs, markInterruptAsFailure: false }),
  };
  const r = fc.check(prop, params);
  if (!r.failed || r.counterexample === null) return { found: undefined, cases, steps };
  const err = r.errorInstance;
  if (!(err instanceof CaseFailed)) throw err instanceof Error ? err : new Error(String(err));
  const [c] = r.counterexample;
  const trimmed: FuzzCase = { version: 1, steps: c.steps.slice(0, err.failure.step + 1) };
  return { found: { failure: err.failure, case: trimmed, seed: r.seed, path: r.counterexamplePath ?? '' }, cases, steps };
}

/** A failure's kind, for deduplication: the invariant and its message with the numbers taken out. */
export function signature(f: Failure): string {
  const detail = f.message.replace(/^invariant \S+ violated after step \d+: /, '');
  return `${f.invariant}: ${detail.replace(/-?\d+/g, '#').replace(/#(?:, #)+/g, '#')}`;
}

// ---- the corpus -----------------------------------------------------------------

export interface CorpusRecord {
  readonly version: 1;
  readonly invariant: InvariantId;
  readonly message: string;
  /** Set when the failure is a known, reported gap: the replay test is then marked todo. */
  readonly knownGap?: string;
  readonly todo?: string;
  readonly seed: number;
  readonly path: string;
  readonly found: string;
  readonly steps: readonly Step[];
}

export function corpusDir(): string {
  return join(projectRoot(), 'test', 'fuzz', 'corpus');
}

/** A record for a found failure, classified against the known gaps. */
export function recordOf(found: Found): CorpusRecord {
  const gap = KNOWN_GAPS.find((g) => g.id === found.failure.gap);
  return {
    version: 1,
    invariant: found.failure.invariant,
    message: found.failure.message,
    ...(gap === undefined ? {} : { knownGap: gap.id, todo: gap.reason }),
    seed: found.seed,
    path: found.path,
    found: new Date().toISOString(),
    steps: found.case.steps,
  };
}

/** Saves a record as <dir>/<invariant>-<gap or "new">-<seed>.json; returns the file's path. */
export function saveRecord(dir: string, rec: CorpusRecord): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${rec.invariant}-${rec.knownGap ?? 'new'}-${rec.seed}.json`);
  writeFileSync(file, JSON.stringify(rec, null, 1) + '\n');
  return file;
}

export function loadCorpus(dir: string): Array<{ file: string; record: CorpusRecord }> {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json')).sort();
  } catch {
    return [];
  }
  return names.map((name) => {
    const file = join(dir, name);
    const record = JSON.parse(readFileSync(file, 'utf8')) as CorpusRecord;
    if (record.version !== 1 || !Array.isArray(record.steps)) throw new Error(`${file}: not a fuzz corpus record`);
    return { file, record };
  });
}
