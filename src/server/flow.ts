/**
 * Flow control and the per-turn budget: when a connection's requests are
 * read. A connection whose peer does not read its replies (output past the
 * soft bound, or a guest at its `outstanding` quota) stops being read until
 * its transport drains; a guest out of conflict credit waits until it has
 * some again; and one event-loop turn serves at most `turn-guest-requests`
 * requests of unprivileged connections, the rest deferred to the next turn
 * in the order they were deferred, so the control domain waits at most one
 * bounded turn. Output leaves once per turn (one write per connection, one
 * fsync in durable mode; `flush` is the host's), before the next turn serves
 * the deferred guests. A turn ends in an event-loop phase of its own
 * (setImmediate). When a transport hands over a whole batch of input at once
 * (the native socket I/O: every connection one poll phase read), what the
 * batch produced is sent as soon as it was served, so that a reply does not
 * wait for that phase; and if no guest was served in the turn and none
 * waits, the turn ends there too, with nothing left for the phase to do.
 */
import { FrameTooLongError, type Frame } from '../protocol/decoder.js';
import type { Settings } from './config.js';
import type { Connection } from './connection.js';

/** What flow control needs of the daemon. */
export interface FlowHost {
  readonly settings: Settings;
  /** A live-update handover is in progress: nothing is processed or resumed. */
  readonly frozen: boolean;
  /** How many requests of `domid` may await delivery of their replies. */
  outstanding(domid: number): number;
  /** Milliseconds until `domid` has conflict credit again (0: now). */
  creditWaitMs(domid: number): number;
  /** Runs one request. */
  process(conn: Connection, frame: Frame): void;
  disconnect(conn: Connection, reason?: string): void;
  /** Sends the turn's output. */
  flush(): void;
}

export class FlowControl {
  /** Output waits to be sent at the end of the turn (or of the batch being served). */
  private flushScheduled = false;
  /** The immediate that ends the turn is set. */
  private turnEndScheduled = false;
  /** A transport is handing over a batch (batchStarted .. batchServed): its end decides when the turn ends. */
  private inBatch = false;
  /** Requests from unprivileged connections still allowed in this turn ('turn-guest-requests'). */
  private guestBudget: number;
  /** Unprivileged connections paused because the turn's budget ran out, oldest first. */
  private readonly deferred = new Set<Connection>();

  constructor(private readonly host: FlowHost) {
    this.guestBudget = this.turnBudget();
  }

  /** Bytes arrived for `conn`. */
  receive(conn: Connection, chunk: Buffer): void {
    if (conn.closed) return;
    conn.decoder.feed(chunk);
    this.drain(conn);
    this.scheduleFlush();
  }

  /** The transport of `conn` delivered its backlog: read again if we stopped. */
  writable(conn: Connection): void {
    const host = this.host;
    // Frozen (live-update handover): stay paused; resumeAll() looks again if the update is abandoned.
    if (conn.closed || !conn.throttled || host.frozen || conn.awaiting) return;
    if (conn.queuedBytes > host.settings['connection-soft-bytes'] / 2) return;
    const wait = conn.caller.privileged ? 0 : host.creditWaitMs(conn.caller.domid);
    if (wait > 0) return void setTimeout(() => this.writable(conn), wait).unref();
    if (!conn.caller.privileged && conn.queuedFrames >= host.outstanding(conn.caller.domid)) return;
    conn.throttled = false;
    conn.sink.resume();
    this.drain(conn);
    this.scheduleFlush();
  }

  /**
   * Output leaves once per event-loop turn, after every connection readable
   * in it was served; only then does the next turn begin (newTurn), so the
   * deferred guests served there never hold back this turn's replies.
   */
  scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    if (!this.inBatch) this.scheduleTurnEnd();
  }

  private scheduleTurnEnd(): void {
    if (this.turnEndScheduled) return;
    this.turnEndScheduled = true;
    setImmediate(() => {
      this.turnEndScheduled = false;
      this.flushScheduled = false;
      this.host.flush();
      this.newTurn();
    });
  }

  /** A transport starts handing over a batch of input (see batchServed). */
  batchStarted(): void {
    this.inBatch = true;
  }

  /**
   * The batch was served: what this turn produced so far leaves now. The
   * turn ends here as well, unless guests were served in it or wait for the
   * next one: then it ends at its immediate, as any turn, where the deferred
   * guests get the next budget. (Ending it here and at the immediate would
   * give them two budgets in one event-loop iteration, and dom0 would wait
   * behind both: the floods scenario measured 3.9x dom0's idle p99 under four
   * guests that way, against 1.6x.)
   */
  batchServed(): void {
    this.inBatch = false;
    if (!this.flushScheduled) return;
    if (!this.turnEndScheduled) {
      if (this.guestBudget < this.turnBudget() || this.deferred.size > 0) this.scheduleTurnEnd();
      // The turn ends here: output produced while flushing gets a turn of its own.
      else this.flushScheduled = false;
    }
    this.host.flush();
  }

  /** `conn` is closed: it is not deferred any more. */
  forget(conn: Connection): void {
    this.deferred.delete(conn);
  }

  /** Processes what `conn` has buffered, as far as its bounds and the turn's budget allow. */
  drain(conn: Connection): void {
    const host = this.host;
    // During a live-update handover nothing more is processed: bytes already
    // read stay in the decoder and go to the next daemon with the state.
    if (host.frozen) return;
    const soft = host.settings['connection-soft-bytes'];
    const wait = conn.caller.privileged ? 0 : host.creditWaitMs(conn.caller.domid);
    if (wait > 0 && !conn.throttled && conn.decoder.buffered > 0) {
      // Out of conflict credit: come back when some has been regained.
      conn.throttled = true;
      conn.sink.pause();
      setTimeout(() => this.writable(conn), wait).unref();
      return;
    }
    const guest = !conn.caller.privileged;
    while (!conn.closed && !conn.throttled) {
      if (guest && this.guestBudget <= 0) {
        if (conn.decoder.buffered > 0) this.defer(conn);
        return;
      }
      let frame: Frame | undefined;
      try {
        frame = conn.decoder.next();
      } catch (e) {
        if (e instanceof FrameTooLongError) return host.disconnect(conn, e.message);
        throw e;
      }
      if (frame === undefined) return;
      if (guest) this.guestBudget--;
      host.process(conn, frame);
      if (conn.queuedBytes > soft || (guest && conn.queuedFrames >= host.outstanding(conn.caller.domid))) {
        conn.throttled = true;
        conn.sink.pause();
      }
    }
  }

  /**
   * The turn's budget for unprivileged requests ran out: stop reading `conn`
   * until the next turn. However many guests are busy, one event-loop turn
   * serves a bounded number of their requests, so the control domain's
   * connections (never deferred) wait at most that long for theirs.
   */
  private defer(conn: Connection): void {
    conn.throttled = true;
    conn.sink.pause();
    this.deferred.add(conn);
    this.scheduleFlush();
  }

  /** Guest requests one turn may serve ('turn-guest-requests'; 0: no limit). */
  private turnBudget(): number {
    const n = this.host.settings['turn-guest-requests'];
    return n === 0 ? Number.POSITIVE_INFINITY : n;
  }

  /**
   * A new turn, once the last one's output has left: the deferred connections
   * are served first, in the order they were deferred, as far as the budget
   * goes (those it does not reach stay paused, first in line for the next
   * turn, so a turn costs one budget however many guests wait); their
   * replies leave with this turn's output.
   */
  newTurn(): void {
    this.guestBudget = this.turnBudget();
    if (this.deferred.size === 0 || this.host.frozen) return;
    for (const c of this.deferred) {
      if (this.guestBudget <= 0) break;
      this.deferred.delete(c); // re-added at the end if the budget runs out on it
      this.writable(c);
    }
    if (this.deferred.size > 0) this.scheduleFlush();
  }

  /** After a live update was abandoned: serve what every connection sent meanwhile. */
  resumeAll(conns: Iterable<Connection>): void {
    for (const c of [...conns]) {
      if (c.closed) continue;
      if (c.throttled) this.writable(c);
      else this.drain(c);
    }
    this.scheduleFlush();
  }
}
