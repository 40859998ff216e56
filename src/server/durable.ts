/**
 * Crash durability (--durable DIR): every committed change is appended to
 * DIR/log and fsynced before any reply of the same event-loop turn leaves, so
 * all commits of a turn share one fsync (group commit). DIR/snapshot holds the
 * whole store as a state stream; the log is folded into a fresh snapshot once
 * it grows past a bound. Recovery = snapshot + log; a torn last entry (a
 * commit that was never acknowledged) is cut off, anything else corrupt stops
 * the start with the offset and the reason.
 *
 * Log entry: "XSLG", u32 length, u32 crc32 of the payload, payload = a state
 * stream whose NODE_DATA records describe the commit as a pending transaction
 * (conn-id 1, tx-id = sequence number; perm-count 0 = node deleted).
 *
 * DIR/rings holds the ring sessions (which domains' rings are attached, on
 * which event channel, and their watches), rewritten whole when they change,
 * in the same turn's sync: a guest's acknowledged WATCH survives a crash.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { NodeChange } from '../store/diff.js';
import { applyChanges } from '../store/diff.js';
import type { Node } from '../store/node.js';
import type { Perms } from '../store/perms.js';
import { nodeRecords, restoreState } from '../state/snapshot.js';
import { decodeStream, encodeStream, StreamError, type Record } from '../state/stream.js';
import { checkTree } from '../store/check.js';

const MAGIC = 0x474c5358; // "XSLG" little-endian
/** Implementation-specific "quota" in the snapshot: the last log sequence number it contains. */
const SEQ_NAME = 'tsxenstored-log-seq';
const HEAD = 12;

export interface Recovered {
  readonly root: Node;
  readonly counts: Map<number, number>;
  readonly entries: number;
  readonly truncatedBytes: number;
}

export class DurableLog {
  private fd: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private logBytes = 0;
  private seq = 0;

  constructor(
    readonly dir: string,
    private readonly snapshotAfterBytes: number,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.fd = openSync(this.logPath, 'a');
  }

  get logPath(): string {
    return join(this.dir, 'log');
  }

  get snapshotPath(): string {
    return join(this.dir, 'snapshot');
  }

  /** Bytes appended and not yet synced. */
  get unsynced(): number {
    return this.pendingBytes;
  }

  /** Loads DIR's snapshot and log. Undefined if DIR holds no state yet. */
  recover(): Recovered | undefined {
    let root: Node | undefined;
    // Log entries up to this sequence number are already in the snapshot (a crash
    // between writing a snapshot and emptying the log leaves them behind).
    let snapSeq = 0;
    if (existsSync(this.snapshotPath)) {
      try {
        const records = decodeStream(readFileSync(this.snapshotPath)).records;
        root = restoreState(records).root;
        for (const r of records) if (r.type === 'global-quota') for (const [n, v] of r.global) if (n === SEQ_NAME) snapSeq = v;
      } catch (e) {
        throw new Error(`${this.snapshotPath}: ${(e as Error).message}`);
      }
    }
    this.seq = snapSeq;
    const log = readFileSync(this.logPath);
    let pos = 0;
    let entries = 0;
    let gen = 0;
    const torn = (): Recovered | undefined => {
      // Only the tail may be torn: a commit cut short before its fsync was never acknowledged.
      ftruncateSync(this.fd, pos);
      fsyncSync(this.fd);
      this.logBytes = pos;
      return root === undefined ? undefined : { root, counts: checkTree(root).counts, entries, truncatedBytes: log.length - pos };
    };
    while (pos < log.length) {
      if (pos + HEAD > log.length) return torn();
      if (log.readUInt32LE(pos) !== MAGIC) throw new Error(`${this.logPath}, byte ${pos}: bad entry magic: the log is corrupt`);
      const len = log.readUInt32LE(pos + 4);
      const crc = log.readUInt32LE(pos + 8);
      const end = pos + HEAD + len;
      if (end > log.length) return torn();
      const payload = log.subarray(pos + HEAD, end);
      if (crc32(payload) !== crc) {
        if (end === log.length) return torn();
        throw new Error(`${this.logPath}, byte ${pos}: checksum mismatch in the middle of the log: corrupt`);
      }
      let records: Record[];
      try {
        records = decodeStream(payload).records;
      } catch (e) {
        const where = e instanceof StreamError ? pos + HEAD + e.offset : pos;
        throw new Error(`${this.logPath}, byte ${where}: ${(e as Error).message}`);
      }
      const entrySeq = records.find((r): r is Extract<Record, { type: 'node' }> => r.type === 'node')?.txId ?? 0;
      if (entrySeq <= snapSeq) {
        entries++;
        pos = end;
        continue;
      }
      const changes: NodeChange[] = [];
      for (const r of records) {
        if (r.type !== 'node') continue;
        changes.push(r.perms.length === 0 ? { kind: 'delete', path: r.path } : { kind: 'set', path: r.path, value: r.value, perms: r.perms as Perms });
      }
      if (root === undefined) throw new Error(`${this.logPath}: log entries without a snapshot`);
      try {
        root = applyChanges(root, changes, () => ++gen);
      } catch (e) {
        throw new Error(`${this.logPath}, byte ${pos}: ${(e as Error).message}`);
      }
      this.seq = Math.max(this.seq, entrySeq);
      entries++;
      pos = end;
    }
    this.logBytes = pos;
    if (root === undefined) return undefined;
    return { root, counts: checkTree(root).counts, entries, truncatedBytes: 0 };
  }

  /** Queues one commit. Nothing reaches the disk before sync(). */
  append(changes: readonly NodeChange[]): void {
    if (changes.length === 0) return;
    const seq = ++this.seq;
    const records: Record[] = changes.map((c) =>
      c.kind === 'set'
        ? { type: 'node', connId: 1, txId: seq, path: c.path, value: c.value, access: 2, perms: c.perms }
        : { type: 'node', connId: 1, txId: seq, path: c.path, value: Buffer.alloc(0), access: 0, perms: [] },
    );
    const payload = encodeStream(records);
    const head = Buffer.alloc(HEAD);
    head.writeUInt32LE(MAGIC, 0);
    head.writeUInt32LE(payload.length, 4);
    head.writeUInt32LE(crc32(payload), 8);
    this.pending.push(head, payload);
    this.pendingBytes += HEAD + payload.length;
  }

  /** Told how long each sync (write + fsync) took, in seconds (metrics). */
  onSync: ((seconds: number) => void) | undefined;

  /** Writes and fsyncs everything queued; throws (e.g. ENOSPC) with nothing acknowledged. */
  sync(): void {
    if (this.pendingBytes === 0) return;
    const buf = Buffer.concat(this.pending, this.pendingBytes);
    try {
      const start = this.onSync === undefined ? 0n : process.hrtime.bigint();
      let off = 0;
      while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
      fsyncSync(this.fd);
      this.onSync?.(Number(process.hrtime.bigint() - start) / 1e9);
    } catch (e) {
      // Cut whatever part made it, so the log ends on a whole entry.
      try {
        ftruncateSync(this.fd, this.logBytes);
      } catch {
        // recovery will cut a torn tail anyway
      }
      this.pending = [];
      this.pendingBytes = 0;
      throw e;
    }
    this.logBytes += buf.length;
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** Writes a full snapshot of `root` and empties the log, when the log has grown past the bound (or `force`). */
  maybeSnapshot(root: Node, force = false): boolean {
    if (!force && this.logBytes < this.snapshotAfterBytes) return false;
    if (this.pendingBytes !== 0) this.sync();
    const seq: Record = { type: 'global-quota', perDomain: [], global: [[SEQ_NAME, this.seq]] };
    this.replaceFile(this.snapshotPath, encodeStream([seq, ...nodeRecords(root)]));
    ftruncateSync(this.fd, 0);
    fsyncSync(this.fd);
    this.logBytes = 0;
    return true;
  }

  get sessionsPath(): string {
    return join(this.dir, 'rings');
  }

  /**
   * Replaces DIR/rings (atomically, fsynced) with `records`: the domains whose
   * rings the daemon serves and their connections' watches, so that a daemon
   * restarted after a crash re-attaches the rings and keeps the watches.
   */
  saveSessions(records: readonly Record[]): void {
    this.replaceFile(this.sessionsPath, encodeStream(records));
  }

  /**
   * Puts `data` at `path` whole or not at all: a temporary file, fsynced,
   * renamed over `path`, and the directory fsynced. A half-written temporary
   * file is removed, so a full disk costs nothing but the error.
   */
  private replaceFile(path: string, data: Buffer): void {
    const tmp = `${path}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      let off = 0;
      while (off < data.length) off += writeSync(fd, data, off, data.length - off);
      fsyncSync(fd);
    } catch (e) {
      closeSync(fd);
      rmSync(tmp, { force: true });
      throw e;
    }
    closeSync(fd);
    renameSync(tmp, path);
    const dfd = openSync(this.dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  }

  /** DIR/rings as saved last, or undefined if there is none. */
  loadSessions(): Record[] | undefined {
    if (!existsSync(this.sessionsPath)) return undefined;
    try {
      return decodeStream(readFileSync(this.sessionsPath)).records;
    } catch (e) {
      throw new Error(`${this.sessionsPath}: ${(e as Error).message}`);
    }
  }

  close(): void {
    closeSync(this.fd);
  }
}
