/**
 * The structure-aware fuzzer, in the suite: a short run (FUZZ_MS, default
 * 12 s, at most FUZZ_RUNS cases) of random byte-level and structure-aware frame
 * sequences against the in-process daemon, checking every invariant of
 * exec.ts after every step (violations that are instances of the known gaps
 * listed in exec.ts and SECURITY.md are tolerated here); and the replay of
 * every saved failing input in test/fuzz/corpus/ with every invariant checked
 * (a known, reported gap replays as todo).
 *
 * A failure prints the case as JSON, ready to save in the corpus, and the seed
 * and path that reproduce it:
 *   FUZZ_SEED=<seed> FUZZ_PATH=<path> node --test dist/test/fuzz/
 * Long runs on demand: npm run fuzz -- --minutes 10
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KNOWN_GAPS, runCase } from './exec.js';
import { corpusDir, loadCorpus, recordOf, search } from './search.js';

// CONTROL commands can write files relative to the working directory: the fuzzer never sends
// those (exec.ts), and runs in an empty directory of its own all the same, which must stay empty.
const sandbox = mkdtempSync(join(tmpdir(), 'tsxs-fuzz-cwd-'));
const cwd = process.cwd();
process.chdir(sandbox);
after(() => {
  process.chdir(cwd);
  rmSync(sandbox, { recursive: true, force: true });
});

const envInt = (name: string, def: number): number => {
  const v = process.env[name];
  return v === undefined || v === '' ? def : Number(v);
};

test('fuzz: random and structure-aware frame sequences keep every invariant of the in-process daemon', async (t) => {
  const seed = envInt('FUZZ_SEED', Math.floor(Math.random() * 0x7fff_ffff));
  const path = process.env.FUZZ_PATH;
  const r = search({
    seed,
    numRuns: envInt('FUZZ_RUNS', 3000),
    maxSteps: envInt('FUZZ_STEPS', 200),
    skip: new Set(),
    tolerateKnownGaps: true,
    timeLimitMs: envInt('FUZZ_MS', 12_000),
    shrink: true,
    ...(path === undefined || path === '' ? {} : { path }),
  });
  t.diagnostic(`seed ${seed}: ${r.cases} cases, ${r.steps} steps; known gaps tolerated (see SECURITY.md): ${KNOWN_GAPS.map((g) => g.id).join(', ')}`);
  if (r.found !== undefined) {
    const rec = recordOf(r.found);
    const file = join(tmpdir(), `tsxs-fuzz-${r.found.seed}.json`);
    writeFileSync(file, JSON.stringify(rec, null, 1) + '\n');
    assert.fail(
      `${r.found.failure.message}\n` +
        `reproduce: FUZZ_SEED=${r.found.seed} FUZZ_PATH=${r.found.path} node --test dist/test/fuzz/\n` +
        `the case (saved as ${file}; copy it into test/fuzz/corpus/ to keep it as a regression case):\n` +
        JSON.stringify(rec.steps),
    );
  }
  // Let timers and immediates the daemons scheduled run out.
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(readdirSync(sandbox), [], 'the fuzzed daemon wrote no file');
});

for (const { file, record } of loadCorpus(corpusDir())) {
  const name = file.slice(file.lastIndexOf('/') + 1);
  const opts = record.todo === undefined ? {} : { todo: record.todo };
  test(`fuzz corpus ${name}: replays without breaking any invariant`, opts, () => {
    const f = runCase({ version: 1, steps: record.steps }, { skip: new Set() });
    assert.equal(f?.message, undefined, `the saved case still fails (first found as: ${record.message})`);
  });
}
