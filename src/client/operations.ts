/**
 * The data operations, shared by the client (outside any transaction) and by
 * a transaction handle (inside one): the only difference is the tx_id.
 * Every call takes optional RequestOptions ({ signal, timeoutMs }).
 */
import { Op } from '../protocol/op.js';
import { XenStoreError } from './errors.js';
import { formatPermission, parsePermission, type Permission } from './perms.js';
import type { RequestOptions } from './requests.js';
import { checkPath, checkPathOrSpecial } from './validate.js';

export type Value = string | Uint8Array;

/** Sends one request and resolves with the reply payload (ERROR replies reject). */
export type Call = (type: number, txId: number, args: readonly Value[], path: string | undefined, raw?: Uint8Array, opts?: RequestOptions) => Promise<Buffer>;

/**
 * NUL-separated strings of a reply, without the empty tail. Strings are UTF-8
 * both ways (paths are ASCII anyway; tokens and CONTROL text may not be).
 */
export function splitStrings(b: Buffer): string[] {
  if (b.length === 0) return [];
  const s = b.toString('utf8');
  const parts = s.split('\0');
  if (parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/** A reply's single string, without its NUL. */
export function replyString(b: Buffer): string {
  const end = b.indexOf(0);
  return b.toString('utf8', 0, end < 0 ? b.length : end);
}

/** The data operations: what XenStoreClient and Transaction share (a function that works in or out of a transaction takes this type). */
export class Operations {
  /**
   * @param call sends a request.
   * @param txId the transaction these operations belong to (0: none).
   * @param defaults options used by calls given none (a transaction's signal).
   * @internal
   */
  constructor(
    protected readonly call: Call,
    readonly txId: number,
    protected readonly defaults: RequestOptions = {},
  ) {}

  /** Sends a request about one node path (or, for permissions, a special @ name), checked first. */
  private pathCall(type: number, op: string, path: string, opts: RequestOptions | undefined, extra: readonly Value[] = [], raw?: Uint8Array): Promise<Buffer> {
    try {
      if (type === Op.GET_PERMS || type === Op.SET_PERMS) checkPathOrSpecial(op, path);
      else checkPath(op, path);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.call(type, this.txId, [path, ...extra], path, raw, opts ?? this.defaults);
  }

  /** The value at `path`, as bytes. */
  read(path: string, opts?: RequestOptions): Promise<Buffer> {
    return this.pathCall(Op.READ, 'READ', path, opts);
  }

  /** The value at `path` decoded as UTF-8. */
  async readString(path: string, opts?: RequestOptions): Promise<string> {
    return (await this.read(path, opts)).toString('utf8');
  }

  /**
   * Writes `value` (a string is written as UTF-8), creating missing parents.
   * The path, a NUL and the value must fit the protocol's 4096-byte payload
   * (else E2BIG, before anything is sent).
   */
  async write(path: string, value: Value, opts?: RequestOptions): Promise<void> {
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    await this.pathCall(Op.WRITE, 'WRITE', path, opts, [], bytes);
  }

  async mkdir(path: string, opts?: RequestOptions): Promise<void> {
    await this.pathCall(Op.MKDIR, 'MKDIR', path, opts);
  }

  /** Removes `path` and everything below it; a missing node is not an error. */
  async rm(path: string, opts?: RequestOptions): Promise<void> {
    await this.pathCall(Op.RM, 'RM', path, opts);
  }

  /** True if the node exists (and can be read). */
  async exists(path: string, opts?: RequestOptions): Promise<boolean> {
    try {
      await this.read(path, opts);
      return true;
    } catch (e) {
      if (e instanceof XenStoreError && e.code === 'ENOENT') return false;
      throw e;
    }
  }

  /**
   * Names of the children of `path`. Lists too long for one reply are fetched
   * with DIRECTORY_PART, restarting if the node changes in between.
   */
  async directory(path: string, opts?: RequestOptions): Promise<string[]> {
    try {
      return splitStrings(await this.pathCall(Op.DIRECTORY, 'DIRECTORY', path, opts));
    } catch (e) {
      if (!(e instanceof XenStoreError) || e.code !== 'E2BIG') throw e;
    }
    return this.directoryByParts(path, opts);
  }

  private async directoryByParts(path: string, opts: RequestOptions | undefined): Promise<string[]> {
    const MAX_RESTARTS = 100;
    for (let restart = 0; restart < MAX_RESTARTS; restart++) {
      const parts: Buffer[] = [];
      let offset = 0;
      let gen: string | undefined;
      for (;;) {
        const r = await this.pathCall(Op.DIRECTORY_PART, 'DIRECTORY_PART', path, opts, [String(offset)]);
        const nul = r.indexOf(0);
        if (nul < 0) throw new XenStoreError('EPROTO', 'DIRECTORY_PART', path, 'reply without generation');
        const g = r.toString('latin1', 0, nul);
        if (gen !== undefined && g !== gen) break; // changed under us: start again
        gen = g;
        const body = r.subarray(nul + 1);
        const done = body.length === 0 || (body[body.length - 1] === 0 && (body.length === 1 || body[body.length - 2] === 0));
        if (done) {
          parts.push(body.subarray(0, Math.max(0, body.length - 1)));
          return splitStrings(Buffer.concat(parts));
        }
        if (body.length === 0) throw new XenStoreError('EPROTO', 'DIRECTORY_PART', path, 'no progress');
        parts.push(body);
        offset += body.length;
      }
    }
    throw new XenStoreError('EAGAIN', 'DIRECTORY_PART', path, 'the directory kept changing');
  }

  async getPerms(path: string, opts?: RequestOptions): Promise<Permission[]> {
    return splitStrings(await this.pathCall(Op.GET_PERMS, 'GET_PERMS', path, opts)).map(parsePermission);
  }

  /** Sets the permissions; the first entry is the owner and everyone else's access. */
  async setPerms(path: string, perms: readonly (Permission | string)[], opts?: RequestOptions): Promise<void> {
    if (perms.length === 0) throw new XenStoreError('EINVAL', 'SET_PERMS', path, 'at least the owner entry is needed');
    const strs = perms.map((p) => (typeof p === 'string' ? formatPermission(parsePermission(p)) : formatPermission(p)));
    await this.pathCall(Op.SET_PERMS, 'SET_PERMS', path, opts, strs);
  }
}
