/**
 * CONTROL history <sub>: reading the retained revisions. Replies are text
 * bounded by the protocol's 4096 bytes, so long answers are paged: a reply
 * ending in "more <n>" is continued by asking again with SKIP = n.
 *   history log [PATH [SKIP]]           revisions that changed PATH, newest first
 *   history diff REV1 REV2 [PATH [SKIP]] what changed between two revisions
 *   history read REV PATH               the value at PATH in REV, hex-encoded
 *   history export FILE                 every retained revision as JSON lines
 *   history range                       "OLDEST HEAD": the revisions retained
 */
import { XsError } from '../../protocol/errno.js';
import { parseUint } from '../../protocol/payload.js';
import { diffTrees } from '../../store/diff.js';
import type { Revision } from '../../store/history.js';
import { resolvePath } from '../../store/path.js';
import { formatPerms } from '../../store/perms.js';
import { nodeRecords } from '../../state/snapshot.js';
import { lookup } from '../../store/tree.js';
import type { Services } from '../services.js';
import { writeOut } from './files.js';

const BUDGET = 3800;

function page(lines: Iterable<string>, skip: number): string {
  let out = '';
  let i = 0;
  for (const line of lines) {
    if (i++ < skip) continue;
    if (out.length + line.length + 1 > BUDGET) return `${out}more ${i - 1}\n`;
    out += `${line}\n`;
  }
  return out;
}

function revision(d: Services, s: string | undefined): Revision {
  if (s === undefined) throw new XsError('EINVAL', 'a revision number is needed');
  const rev = parseUint(s.replace(/^r/, ''), 0xffff_ffff);
  const r = d.history.get(rev);
  if (r === undefined) throw new XsError('ENOENT', `revision ${rev} is not retained (have r${d.history.oldest}..r${d.history.head})`);
  return r;
}

const describe = (r: Revision): string =>
  `r${r.rev} ${new Date(r.time).toISOString()} dom${r.domid} conn${r.conn} tx${r.txId}${r.baseRev === undefined ? '' : ` base r${r.baseRev}`} ${r.op}`;

function* diffLines(a: Revision, b: Revision, under: string): Generator<string> {
  for (const ch of diffTrees(a.root, b.root)) {
    if (under !== '/' && ch.path !== under && !ch.path.startsWith(`${under}/`)) continue;
    yield ch.kind === 'delete' ? `- ${ch.path}` : `+ ${ch.path} ${formatPerms(ch.perms).join(',')} ${ch.value.toString('hex')}`;
  }
}

/** The history as JSON lines (one revision a line: the first whole, the others as changes). */
function exportJson(d: Services): string {
  const revs = d.history.all();
  const lines: string[] = [];
  const first = revs[0]!;
  const nodes = [...nodeRecords(first.root)].flatMap((r) => (r.type === 'node' ? [{ path: r.path, perms: formatPerms(r.perms), value: r.value.toString('base64') }] : []));
  lines.push(JSON.stringify({ rev: first.rev, time: first.time, domid: first.domid, conn: first.conn, txId: first.txId, op: first.op, tree: nodes }));
  for (let i = 1; i < revs.length; i++) {
    const r = revs[i]!;
    const changes = diffTrees(revs[i - 1]!.root, r.root).map((c) =>
      c.kind === 'delete' ? { kind: 'delete', path: c.path } : { kind: 'set', path: c.path, perms: formatPerms(c.perms), value: c.value.toString('base64') },
    );
    lines.push(JSON.stringify({ rev: r.rev, time: r.time, domid: r.domid, conn: r.conn, txId: r.txId, op: r.op, baseRev: r.baseRev, changes }));
  }
  return lines.join('\n') + '\n';
}

export function history(d: Services, a: string[]): string | Promise<string> {
  const [sub, ...rest] = a;
  switch (sub) {
    case 'log': {
      const path = resolvePath(rest[0] ?? '/', 0);
      const skip = rest[1] === undefined ? 0 : parseUint(rest[1], 0xffff_ffff);
      return page(
        (function* () {
          for (const r of d.history.touching(path.comps)) yield describe(r);
        })(),
        skip,
      );
    }
    case 'diff': {
      const a1 = revision(d, rest[0]);
      const a2 = revision(d, rest[1]);
      const under = resolvePath(rest[2] ?? '/', 0).abs;
      const skip = rest[3] === undefined ? 0 : parseUint(rest[3], 0xffff_ffff);
      return page(diffLines(a1, a2, under), skip);
    }
    case 'read': {
      const r = revision(d, rest[0]);
      const node = lookup(r.root, resolvePath(rest[1] ?? '', 0).comps);
      if (node === undefined) throw new XsError('ENOENT');
      return node.value.toString('hex');
    }
    case 'export': {
      if (rest[0] === undefined || rest[0] === '') throw new XsError('EINVAL', 'history export needs a file name');
      return writeOut(rest[0], exportJson(d));
    }
    case 'range':
      return `${d.history.oldest} ${d.history.head}`;
    default:
      throw new XsError('EINVAL', 'history log|diff|read|export|range');
  }
}
