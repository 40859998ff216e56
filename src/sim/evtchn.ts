/**
 * The simulated event channels: a Unix socket in the simulation directory.
 * A guest connects and sends one line "bind <domid> <port>"; after that every
 * byte either side sends is one notification (coalesced: any number of bytes
 * means "look at the ring"). A toolstack connection may instead send
 * "dying <domid>" lines, the simulated VIRQ_DOM_EXC for a domain's death.
 */
export const NOTIFY = Buffer.from([1]);

export type EvtchnCommand =
  | { readonly kind: 'bind'; readonly domid: number; readonly port: number }
  | { readonly kind: 'dying'; readonly domid: number };

/** Parses one command line; undefined if it is not one. */
export function parseCommand(line: string): EvtchnCommand | undefined {
  const m = /^(bind|dying) ([0-9]{1,5})(?: ([0-9]{1,10}))?$/.exec(line.trim());
  if (m === null) return undefined;
  const domid = Number(m[2]);
  if (m[1] === 'bind') return m[3] === undefined ? undefined : { kind: 'bind', domid, port: Number(m[3]) };
  return m[3] === undefined ? { kind: 'dying', domid } : undefined;
}
