/**
 * Live update, the old daemon's side (CONTROL live-update, as xenstore-control
 * sends it: -f <binary>, -c <cmdline>, -s [-t <seconds>] [-F], -a).
 *
 * On -s the daemon stops reading every connection and guest, lets what it
 * already sent reach the kernel, writes its whole state as a state stream
 * (docs/designs/xenstore-migration.md) whose records name the file
 * descriptors the next daemon inherits (3: the listening socket, 4: the event
 * channel listener, then each connection), starts the next daemon with them
 * and exits once it says it is ready. The reply to the -s request travels in
 * the stream as that connection's pending output, and the next daemon sends
 * it. Open transactions make it answer BUSY unless -F; forced, they survive
 * but can only commit reads (EAGAIN otherwise). If anything fails, the daemon
 * carries on and the -s request gets the reason.
 */
import { spawn, type StdioOptions } from 'node:child_process';
import { accessSync, constants, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Op } from '../protocol/op.js';
import { dumpState } from '../state/snapshot.js';
import { encodeStream } from '../state/stream.js';
import type { SimHandover, XenHandover } from './backend.js';
import { settingsByKind } from './config.js';
import type { Connection } from './connection.js';
import type { Daemon } from './daemon.js';
import type { Request } from './request.js';
import type { UnixTransport } from './transport-unix.js';

export interface LiveUpdateParts {
  readonly transport: UnixTransport;
  readonly sim: SimHandover | undefined;
  readonly xen?: XenHandoverSource | undefined;
  /** The daemon's own command line (without --live-update-state). */
  readonly argv: readonly string[];
  /** What runs the next daemon when no -f was given: this very program. */
  readonly self: { readonly command: string; readonly args: readonly string[] };
}

/**
 * Side file next to the state stream (not in the spec): the simulated Xen's
 * bound event channels, or the real Xen's event-channel fd and its bindings.
 */
export interface SimSidecar {
  readonly bound: Array<{ domid: number; port: number; fd: number }>;
  readonly xen?: XenHandover;
}

/** The real Xen backend as live update sees it (src/xen/xen-backend.ts). */
export interface XenHandoverSource {
  handover(): XenHandover;
  freeze(frozen: boolean): void;
}

export class LiveUpdater {
  private binary: string | undefined;
  private cmdline: string[] = [];
  private running = false;

  constructor(
    private readonly daemon: Daemon,
    private readonly parts: LiveUpdateParts,
  ) {}

  control(r: Request, args: string[]): string {
    const [flag, ...rest] = args;
    switch (flag) {
      case '-f': {
        const file = rest[0];
        if (file === undefined || file === '') return 'Missing binary specification';
        try {
          accessSync(file, constants.R_OK);
        } catch {
          return 'File not accessible.';
        }
        this.binary = file;
        return 'OK';
      }
      case '-c':
        this.cmdline = (rest[0] ?? '').split(' ').filter((w) => w !== '');
        return 'OK';
      case '-a':
        this.binary = undefined;
        this.cmdline = [];
        return 'OK';
      case '-s':
        return this.start(r, rest);
      default:
        return 'unknown live-update option';
    }
  }

  private start(r: Request, rest: string[]): string {
    if (this.running) return 'BUSY';
    const force = rest.includes('-F');
    const t = rest.indexOf('-t');
    const timeoutS = t >= 0 && rest[t + 1] !== undefined ? Math.max(1, Number(rest[t + 1]) || 60) : 60;
    let open = 0;
    for (const c of this.daemon.conns) open += c.transactions.size;
    if (open > 0 && !force) return 'BUSY';
    this.running = true;
    const conn = r.conn;
    conn.held = true; // the OK below is sent by the next daemon
    const held = { conn, reqId: r.frame.reqId, txId: r.frame.txId };
    setImmediate(() => void this.handover(held, timeoutS * 1000));
    return 'OK';
  }

  private async handover(held: { conn: Connection; reqId: number; txId: number }, timeoutMs: number): Promise<void> {
    const { daemon, parts } = this;
    const deadline = Date.now() + timeoutMs;
    daemon.frozen = true;
    parts.transport.freeze(true);
    parts.sim?.freeze(true);
    parts.xen?.freeze(true);
    daemon.flush();
    while (parts.transport.unsentBytes() > 0) {
      if (Date.now() > deadline) return this.abort(held, 'BUSY');
      await new Promise((res) => setTimeout(res, 5));
    }
    const t = parts.transport.handles();
    const s = parts.sim?.handles();
    if (t.listener === undefined) return this.abort(held, 'live update failed: no listening socket to hand over');
    // Child fd numbers: 3 listener, 4 event-channel listener, then connections, then bound guests.
    const stdio: StdioOptions = ['ignore', 'inherit', 'inherit', t.listener, s?.listener ?? 'ignore'];
    const childFd = new Map<Connection, number>();
    for (const [c, fd] of t.conns) {
      childFd.set(c, stdio.length);
      stdio.push(fd);
    }
    const bound = (s?.bound ?? []).map((b) => {
      const fd = stdio.length;
      stdio.push(b.fd);
      return { domid: b.domid, port: b.port, fd };
    });
    // The real Xen's event channels: one fd carries every binding (and VIRQ_DOM_EXC).
    let xen: XenHandover | undefined;
    if (parts.xen !== undefined) {
      const h = parts.xen.handover();
      xen = { ...h, evtchnFd: stdio.length };
      stdio.push(h.evtchnFd);
    }
    stdio.push('ipc');
    const rings = daemon.lifecycle.ringConnections();
    const records = dumpState(
      { root: daemon.store.root, settings: settingsByKind(daemon.settings), domains: daemon.domains.all(), conns: daemon.conns },
      {
        rwSocketFd: 3,
        evtchnFd: s?.listener === undefined ? -1 : 4,
        socketFd: (c) => childFd.get(c) ?? -1,
        ringPort: (domid) => daemon.domains.get(domid)?.port,
        isRing: (c) => daemon.lifecycle.isRing(c),
        pending: (c) => ({
          inData: c.decoder.unread(),
          outData: Buffer.concat([daemon.lifecycle.isRing(c) ? rings.get(c.caller.domid)!.unsent() : Buffer.alloc(0), c.out.peek()]),
        }),
      },
    );
    const file = join(tmpdir(), `tsxenstored-live-update-${process.pid}.state`);
    try {
      writeFileSync(file, encodeStream(records));
      writeFileSync(`${file}.sim.json`, JSON.stringify({ bound, xen } satisfies SimSidecar));
    } catch (e) {
      return this.abort(held, `live update failed: ${(e as Error).message}`);
    }
    const argv = [...parts.argv, ...this.cmdline, '--live-update-state', file];
    const bin = this.binary;
    const [command, args] =
      bin === undefined ? [parts.self.command, [...parts.self.args, ...argv]] : bin.endsWith('.js') ? [process.execPath, [bin, ...argv]] : [bin, argv];
    daemon.logger.info(`live update: starting ${command} ${args.join(' ')}`);
    let child;
    try {
      child = spawn(command, args, { stdio, detached: true });
    } catch (e) {
      return this.abort(held, `live update failed: ${(e as Error).message}`);
    }
    const outcome = await new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => resolve('the new daemon did not report ready in time'), Math.max(1000, deadline - Date.now()));
      child.once('message', (m) => {
        clearTimeout(timer);
        resolve(m === 'ready' ? undefined : `unexpected message ${String(m)}`);
      });
      child.once('error', (e) => {
        clearTimeout(timer);
        resolve(e.message);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve(`the new daemon exited (code ${String(code)})`);
      });
    });
    if (outcome !== undefined) {
      child.kill('SIGKILL');
      return this.abort(held, `live update failed: ${outcome}`);
    }
    daemon.logger.info(`live update: handed over to pid ${String(child.pid)}; exiting`);
    // Exit without closing anything gracefully: the sockets now belong to the new
    // daemon (everything stays frozen while the log's last lines reach the disk).
    await daemon.logger.flush();
    process.exit(0);
  }

  private abort(held: { conn: Connection; reqId: number; txId: number }, reason: string): void {
    const { daemon, parts } = this;
    daemon.logger.warn(`live update: ${reason}`);
    held.conn.out.clear();
    held.conn.reply(Op.CONTROL, held.reqId, held.txId, Buffer.from(`${reason}\0`, 'latin1'));
    held.conn.held = false;
    daemon.frozen = false;
    parts.transport.freeze(false);
    parts.sim?.freeze(false);
    parts.xen?.freeze(false);
    this.running = false;
    for (const r of daemon.lifecycle.ringConnections().values()) r.kick();
    daemon.markDirty(held.conn);
    daemon.resumeAll();
  }
}
