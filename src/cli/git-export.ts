/**
 * `tsxenstore history export --git DIR`: the daemon's retained history as a
 * real Git repository, written by `git fast-import` (Git's own importer, not
 * hand-made objects). One commit per revision; a transaction that committed
 * after others had committed since it started becomes a merge of its base
 * revision. Each node is two files, `<path>.value` (the raw bytes) and
 * `<path>.perms`; the root's are `.root.value` and `.root.perms` (node names
 * never contain '.', so nothing collides). `git log -p`, `git diff` and every
 * other Git tool then work on the store's past.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface Entry {
  readonly kind?: 'set' | 'delete';
  readonly path: string;
  readonly perms?: string[];
  readonly value?: string;
}

interface Rev {
  readonly rev: number;
  readonly time: number;
  readonly domid: number;
  readonly conn: number;
  readonly txId: number;
  readonly op: string;
  readonly baseRev?: number;
  readonly tree?: Entry[];
  readonly changes?: Entry[];
}

const base = (p: string): string => (p === '/' ? '.root' : p.slice(1));

function blob(out: Buffer[], path: string, data: Buffer): void {
  out.push(Buffer.from(`M 100644 inline ${path}\ndata ${data.length}\n`), data, Buffer.from('\n'));
}

function set(out: Buffer[], e: Entry): void {
  blob(out, `${base(e.path)}.value`, Buffer.from(e.value ?? '', 'base64'));
  blob(out, `${base(e.path)}.perms`, Buffer.from(`${(e.perms ?? []).join(',')}\n`));
}

/** The fast-import stream for the exported revisions. */
export function fastImportStream(revs: readonly Rev[], branch = 'refs/heads/main'): Buffer {
  const out: Buffer[] = [];
  const marks = new Map<number, number>();
  let prev: number | undefined;
  for (const r of revs) {
    const mark = r.rev + 1;
    marks.set(r.rev, mark);
    const msg = `r${r.rev} ${r.op}\n\ndomain ${r.domid}, connection ${r.conn}${r.txId !== 0 ? `, transaction ${r.txId}` : ''}${r.baseRev !== undefined ? `, started at r${r.baseRev}` : ''}\n`;
    const msgBuf = Buffer.from(msg, 'utf8');
    out.push(Buffer.from(`commit ${branch}\nmark :${mark}\ncommitter dom${r.domid} <dom${r.domid}@xenstore> ${Math.floor(r.time / 1000)} +0000\ndata ${msgBuf.length}\n`), msgBuf, Buffer.from('\n'));
    if (prev !== undefined) out.push(Buffer.from(`from :${prev}\n`));
    const baseMark = r.baseRev === undefined ? undefined : marks.get(r.baseRev);
    if (baseMark !== undefined && prev !== undefined && baseMark !== prev) out.push(Buffer.from(`merge :${baseMark}\n`));
    if (r.tree !== undefined) {
      out.push(Buffer.from('deleteall\n'));
      for (const e of r.tree) set(out, e);
    }
    for (const c of r.changes ?? []) {
      if (c.kind === 'delete') {
        const b = base(c.path);
        out.push(Buffer.from(`D ${b}\nD ${b}.value\nD ${b}.perms\n`));
      } else set(out, c);
    }
    out.push(Buffer.from('\n'));
    prev = mark;
  }
  out.push(Buffer.from('done\n'));
  return Buffer.concat(out);
}

function git(dir: string, args: string[], input?: Buffer): void {
  const r = spawnSync('git', ['-C', dir, ...args], { input, stdio: ['pipe', 'pipe', 'pipe'] });
  if (r.error !== undefined) throw new Error(`git: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`git ${args[0]}: ${r.stderr.toString().trim()}`);
}

/** Writes the history file produced by CONTROL history export into a Git repository at `dir`. */
export function exportToGit(historyFile: string, dir: string): number {
  const revs = readFileSync(historyFile, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Rev);
  mkdirSync(dir, { recursive: true });
  if (!existsSync(join(dir, '.git'))) git(dir, ['init', '-q', '-b', 'main']);
  git(dir, ['fast-import', '--quiet', '--force', '--done'], fastImportStream(revs));
  git(dir, ['reset', '-q', '--hard', 'main']);
  return revs.length;
}
