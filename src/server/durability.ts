/**
 * What each commit leaves behind: a revision in the history (store/history.ts)
 * and, with --durable, an entry in the log, synced once per event-loop turn
 * before any reply of the turn leaves (group commit), plus the ring sessions
 * file when domains or their watches changed. If the disk refuses, the turn
 * is undone (store and history back to where the turn began) and the caller
 * closes, unanswered, every connection that would have been told of it.
 */
import { checkTree } from '../store/check.js';
import { diffTreesWithin } from '../store/diff.js';
import type { CommitInfo, History } from '../store/history.js';
import type { Node } from '../store/node.js';
import type { Store } from '../store/store.js';
import type { Record as StateRecord } from '../state/stream.js';
import type { Settings } from './config.js';
import type { DurableLog } from './durable.js';
import type { Logger } from './log.js';

export interface DurabilityHost {
  readonly store: Store;
  readonly history: History;
  readonly settings: Settings;
  readonly logger: Logger;
  /** The ring sessions to save (durable mode's DIR/rings). */
  sessionRecords(): StateRecord[];
}

export class Durability {
  /** The root before the first unsynced commit of this turn (durable mode), to undo on a failed sync. */
  private turnStart: { root: Node; rev: number } | undefined;
  /** The ring sessions (attached domains, their watches) changed since DIR/rings was written. */
  private sessionsDirty = false;

  constructor(
    private readonly log: DurableLog | undefined,
    private readonly host: DurabilityHost,
  ) {}

  sessionsChanged(): void {
    this.sessionsDirty = true;
  }

  /** Called whenever the live root changed from `before`: history, and the log in durable mode. */
  committed(before: Node, info: CommitInfo, within?: readonly string[]): void {
    const { history, store } = this.host;
    const rev = history.head;
    if (this.host.settings.history > 0) history.record(info, store.root, before, within);
    if (this.log === undefined) return;
    this.turnStart ??= { root: before, rev };
    this.log.append(diffTreesWithin(before, store.root, within ?? []));
  }

  /**
   * Makes this turn's commits (and changed ring sessions) durable before
   * anything is sent. False: the disk refused and the turn was undone.
   */
  sync(): boolean {
    const log = this.log;
    if (log === undefined) return true;
    const { logger, store, history } = this.host;
    if (this.sessionsDirty) {
      this.sessionsDirty = false;
      try {
        log.saveSessions(this.host.sessionRecords());
      } catch (e) {
        this.sessionsDirty = true;
        logger.error(`durable ring sessions: ${(e as Error).message} (retried at the next turn)`);
      }
    }
    if (this.turnStart === undefined) return true;
    const before = this.turnStart;
    this.turnStart = undefined;
    try {
      log.sync();
    } catch (e) {
      logger.error(`durable log: ${(e as Error).message}; undoing this turn's commits`);
      store.reset(before.root, checkTree(before.root).counts);
      history.rollback(before.rev, before.root, Date.now());
      return false;
    }
    try {
      log.maybeSnapshot(store.root);
    } catch (e) {
      logger.error(`durable snapshot: ${(e as Error).message} (the log keeps growing until one succeeds)`);
    }
    return true;
  }
}
