/**
 * The house's imports point down: no top-level folder of src/ imports one
 * that imports it back, directly or through others. The graph is read from
 * the sources themselves (static and dynamic imports, `import type`
 * included: a type cycle is still a cycle in the design).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { projectRoot } from '../helpers/daemon.js';

const SRC = join(projectRoot(), 'src');
const IMPORT = /(?:^|[^.\w])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** The top-level folder of src/ a file belongs to ('index' for src/index.ts). */
function area(file: string): string {
  const rel = relative(SRC, file).split(sep);
  return rel.length === 1 ? rel[0]!.replace(/\.ts$/, '') : rel[0]!;
}

/** Folder -> folders it imports, with one file that does it, for the message. */
function folderGraph(): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  for (const file of sources(SRC)) {
    const from = area(file);
    const edges = graph.get(from) ?? new Map<string, string>();
    graph.set(from, edges);
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const spec = m[1] ?? m[2]!;
      if (!spec.startsWith('.')) continue;
      const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
      if (!target.startsWith(SRC + sep)) continue;
      const to = area(target);
      if (to !== from && !edges.has(to)) edges.set(to, relative(projectRoot(), file));
    }
  }
  return graph;
}

/** Every cycle's folders (strongly connected components of more than one folder). */
function cycles(graph: Map<string, Map<string, string>>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v)?.keys() ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

test('no two top-level folders of src/ import each other, directly or in a circle', () => {
  const graph = folderGraph();
  const found = cycles(graph);
  const explain = found.map((c) => c.map((f) => `${f} -> ${[...(graph.get(f)?.entries() ?? [])].filter(([t]) => c.includes(t)).map(([t, by]) => `${t} (${by})`).join(', ')}`).join('; '));
  assert.deepEqual(found, [], `import cycles between folders: ${explain.join(' | ')}`);
});

test('the pure core imports no outer layer', () => {
  const graph = folderGraph();
  const core = ['protocol', 'store', 'txn', 'watch', 'ring', 'state'];
  for (const f of core) {
    const outer = [...(graph.get(f)?.keys() ?? [])].filter((t) => !core.includes(t));
    assert.deepEqual(outer, [], `${f}/ imports ${outer.join(', ')}`);
  }
});

test('the checker sees imports: a known edge is found', () => {
  // Guards the regular expression: server/ imports store/, and the cli imports server/.
  const graph = folderGraph();
  assert.ok(graph.get('server')?.has('store'));
  assert.ok(graph.get('cli')?.has('server'));
});
