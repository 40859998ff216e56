/**
 * `tsxenstored bench`: runs the selected scenarios against a fresh
 * tsxenstored per scenario (or the daemon given with --socket), prints the
 * table, writes the JSON and the SVG chart. `--compare A.json B.json ...`
 * prints the runs side by side instead.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { anchorTable, compareTable, columns } from './compare.js';
import { BenchEnv, type Scenario } from './env.js';
import { makeMeta, readResults, writeResults, type BenchResults } from './json.js';
import { parseOptions, USAGE, type Options, type ScenarioName } from './options.js';
import { pin } from './proc.js';
import { Progress } from './progress.js';
import { renderTable } from './report.js';
import type { Row } from './result.js';
import { latency } from './scenarios/latency.js';
import { throughput } from './scenarios/throughput.js';
import { sequential } from './scenarios/sequential.js';
import { hotkey, vmstart } from './scenarios/transactions.js';
import { guests } from './scenarios/guests.js';
import { watch } from './scenarios/watch.js';
import { scale } from './scenarios/scale.js';
import { durable } from './scenarios/durable.js';
import { fairness } from './scenarios/fairness.js';
import { floods } from './scenarios/floods.js';
import { renderChart } from './svg.js';
import { cpuSplit, killOwnDaemons } from './target.js';

const ALL: Record<ScenarioName, Scenario> = { latency, throughput, sequential, vmstart, hotkey, guests, watch, scale, durable, fairness, floods };

function compare(files: readonly string[], opts: Options): void {
  if (files.length === 0) throw new Error('--compare needs JSON files');
  const all = files.map(readResults);
  process.stdout.write(`${anchorTable(all)}\n${compareTable(all)}`);
  mkdirSync(dirname(opts.svg), { recursive: true });
  writeFileSync(opts.svg, renderChart(columns(all), 'XenStore daemons compared', all.map((r) => `${r.meta.label} (${r.meta.createdAt.slice(0, 10)})`).join(' vs ')));
  process.stderr.write(`bench: wrote ${opts.svg}\n`);
}

export async function run(opts: Options): Promise<BenchResults> {
  // The generator stays off the daemon's CPU (self-started daemons get the last one).
  const split = opts.pin ? cpuSplit() : undefined;
  const pinned = split !== undefined && pin(process.pid, split.generator);
  if (pinned && opts.socket !== undefined && opts.pid !== undefined) pin(opts.pid, split.daemon);
  const selected = opts.scenarios.map((s) => ALL[s]);
  const progress = new Progress(0);
  const env = new BenchEnv(opts, progress);
  progress.adjust(selected.reduce((n, s) => n + s.steps(env), 0));
  const rows: Row[] = [];
  const failures: Array<{ scenario: string; error: string }> = [];
  for (const s of selected) {
    try {
      rows.push(...(await s.run(env)));
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      failures.push({ scenario: s.name, error });
      progress.note(`${s.name}: FAILED: ${error}`);
    }
  }
  progress.finish();
  return { meta: makeMeta(opts, pinned), rows, failures };
}

/** Entry point from the tsxenstored command line (`tsxenstored bench ...`). */
export async function benchMain(argv: readonly string[]): Promise<void> {
  let opts: Options;
  try {
    opts = parseOptions(argv);
  } catch (e) {
    process.stderr.write(`tsxenstored bench: ${(e as Error).message}\nTry 'tsxenstored bench --help'.\n`);
    process.exitCode = 2;
    return;
  }
  if (opts.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (opts.compare !== undefined) {
    compare(opts.compare, opts);
    return;
  }
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killOwnDaemons();
      process.stderr.write(`\nbench: ${sig}: stopped\n`);
      process.exit(130);
    });
  }
  const results = await run(opts);
  const table = renderTable(results.rows, results.meta);
  process.stdout.write(table);
  for (const f of results.failures) process.stdout.write(`FAILED ${f.scenario}: ${f.error}\n`);
  if (opts.table !== undefined) mkdirSync(dirname(opts.table), { recursive: true });
  if (opts.table !== undefined) writeFileSync(opts.table, table + results.failures.map((f) => `FAILED ${f.scenario}: ${f.error}\n`).join(''));
  mkdirSync(dirname(opts.json), { recursive: true });
  mkdirSync(dirname(opts.svg), { recursive: true });
  writeResults(opts.json, results);
  writeFileSync(opts.svg, renderChart([{ label: results.meta.label, rows: results.rows }], `tsxenstored bench: ${results.meta.label}`, `${results.meta.host.cpus} x ${results.meta.host.cpuModel}, ${results.meta.createdAt}`));
  process.stderr.write(`bench: wrote ${opts.json} and ${opts.svg}\n`);
  if (results.failures.length > 0) process.exitCode = 1;
}
