/**
 * The long-running fuzzer: npm run fuzz -- --minutes N
 *   (= npm run build && node dist/test/fuzz/run.js --minutes N)
 *
 *   --minutes N     how long to run (default 10)
 *   --seed S        first seed (default: random); batch i uses seed S + i
 *   --steps M       longest case, in steps (default 200)
 *   --batch B       cases per seed (default 500)
 *   --corpus DIR    where failing inputs are saved (default test/fuzz/corpus)
 *   --skip-known    ignore violations that are instances of known gaps (hunt for new failures only)
 *
 * Every distinct failure (invariant + message with the numbers taken out) is
 * shrunk and saved once as a JSON regression case, which the test suite then
 * replays (as todo if it is a known gap). Exit status 1 if a failure that is
 * not a known gap was found.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ALL_INVARIANTS, KNOWN_GAPS } from './exec.js';
import { corpusDir, recordOf, saveRecord, search, signature } from './search.js';

function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string', default: '10' },
      seed: { type: 'string' },
      steps: { type: 'string', default: '200' },
      batch: { type: 'string', default: '500' },
      corpus: { type: 'string' },
      'skip-known': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help === true) {
    process.stdout.write('usage: node dist/test/fuzz/run.js [--minutes N] [--seed S] [--steps M] [--batch B] [--corpus DIR] [--skip-known]\n');
    return Promise.resolve(0);
  }
  const minutes = Number(values.minutes);
  const firstSeed = values.seed === undefined ? Math.floor(Math.random() * 0x7fff_0000) : Number(values.seed);
  const maxSteps = Number(values.steps);
  const batch = Number(values.batch);
  const dir = resolve(values.corpus ?? corpusDir());
  for (const [name, v] of [['minutes', minutes], ['seed', firstSeed], ['steps', maxSteps], ['batch', batch]] as const) {
    if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} needs a number`);
  }
  const tolerateKnownGaps = values['skip-known'] === true;
  // The daemon's CONTROL commands can write files relative to the working directory; the fuzzer
  // never sends those (exec.ts), and runs in an empty directory of its own all the same.
  const sandbox = mkdtempSync(join(tmpdir(), 'tsxs-fuzz-cwd-'));
  process.chdir(sandbox);
  return run({ minutes, firstSeed, maxSteps, batch, dir, tolerateKnownGaps }).finally(() => {
    const left = readdirSync(sandbox);
    if (left.length > 0) log(`the daemon wrote ${left.length} file(s) in ${sandbox}: ${left.slice(0, 5).map((n) => JSON.stringify(n)).join(', ')}`);
    else rmSync(sandbox, { recursive: true, force: true });
  });
}

interface Config {
  readonly minutes: number;
  readonly firstSeed: number;
  readonly maxSteps: number;
  readonly batch: number;
  readonly dir: string;
  readonly tolerateKnownGaps: boolean;
}

async function run(cfg: Config): Promise<number> {
  const start = Date.now();
  const deadline = start + cfg.minutes * 60_000;
  log(
    `fuzzing for ${cfg.minutes} min from seed ${cfg.firstSeed}; invariants: ${ALL_INVARIANTS.join(', ')}` +
      (cfg.tolerateKnownGaps ? `; known gaps ignored: ${KNOWN_GAPS.map((g) => g.id).join(', ')}` : ''),
  );
  const seen = new Map<string, number>();
  let cases = 0;
  let steps = 0;
  let newFailures = 0;
  let lastReport = start;
  for (let seed = cfg.firstSeed; Date.now() < deadline; seed++) {
    const base = { seed, numRuns: cfg.batch, maxSteps: cfg.maxSteps, skip: new Set<never>(), tolerateKnownGaps: cfg.tolerateKnownGaps, timeLimitMs: Math.max(1, deadline - Date.now()) };
    // Fast first (no shrinking); a failure of a kind not seen yet is searched again, shrinking.
    const quick = search({ ...base, shrink: false });
    cases += quick.cases;
    steps += quick.steps;
    if (quick.found !== undefined) {
      const sig = signature(quick.found.failure);
      const n = seen.get(sig) ?? 0;
      seen.set(sig, n + 1);
      if (n === 0) {
        const shrunk = search({ ...base, shrink: true, timeLimitMs: 120_000 }).found ?? quick.found;
        const rec = recordOf(shrunk);
        const file = saveRecord(cfg.dir, rec);
        const gap = shrunk.failure.gap;
        if (gap === undefined) newFailures++;
        log(`${gap === undefined ? 'NEW FAILURE' : `known gap ${gap}`}: ${shrunk.failure.message.slice(0, 300)}`);
        log(`  ${shrunk.case.steps.length} steps after shrinking; saved ${file}`);
        log(`  replayed by the suite from the corpus (node --test dist/test/fuzz/); or: node dist/test/fuzz/run.js --seed ${shrunk.seed} --batch ${cfg.batch} --steps ${cfg.maxSteps}${cfg.tolerateKnownGaps ? ' --skip-known' : ''}`);
      }
    }
    if (Date.now() - lastReport > 60_000) {
      lastReport = Date.now();
      log(`${Math.round((Date.now() - start) / 1000)} s: ${cases} cases, ${steps} steps, ${seen.size} kinds of failure`);
    }
    // Let the daemons' deferred work (immediates, timers) run out between batches.
    await new Promise((resolve) => setImmediate(resolve));
  }
  log(`done: ${cases} cases, ${steps} steps in ${Math.round((Date.now() - start) / 1000)} s`);
  for (const [sig, n] of seen) log(`  ${n} x ${sig.slice(0, 200)}`);
  log(newFailures === 0 ? 'no failures beyond the known gaps' : `${newFailures} new kind(s) of failure: see ${cfg.dir}`);
  return newFailures === 0 ? 0 : 1;
}

function log(msg: string): void {
  process.stdout.write(`[fuzz] ${msg}\n`);
}

// `node --test dist/test/` runs every .js file under a test/ directory, this one included:
// as a test file it is nothing (node marks its test subprocesses with NODE_TEST_CONTEXT).
if (process.env.NODE_TEST_CONTEXT === undefined) {
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`fuzz: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(2);
    },
  );
}
