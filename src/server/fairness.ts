/**
 * Conflict credit (after oxenstored): a guest whose commits keep making other
 * domains' transactions fail pays for it. Each guest has a bucket of credit
 * (burst `conflict-burst`, refilled at `conflict-rate` per second); every
 * EAGAIN it causes to another domain costs one credit; a guest at or below
 * zero is not read until its credit is positive again, so a hostile guest
 * flooding conflicting commits slows itself, not the honest ones. dom0 is
 * never charged or paused. The clock is injected.
 */
export class ConflictCredit {
  private readonly credit = new Map<number, { value: number; at: number }>();

  constructor(
    private readonly burst: () => number,
    private readonly perSecond: () => number,
    private readonly now: () => number,
  ) {}

  private bucket(domid: number): { value: number; at: number } {
    const t = this.now();
    let b = this.credit.get(domid);
    if (b === undefined) {
      b = { value: this.burst(), at: t };
      this.credit.set(domid, b);
    } else {
      b.value = Math.min(this.burst(), b.value + ((t - b.at) / 1000) * this.perSecond());
      b.at = t;
    }
    return b;
  }

  /** `culprit` made a transaction of another domain fail. */
  charge(culprit: number): void {
    if (culprit === 0 || this.perSecond() <= 0) return;
    this.bucket(culprit).value -= 1;
  }

  /** Milliseconds until `domid` may be served again (0: now). */
  waitMs(domid: number): number {
    if (domid === 0 || !this.credit.has(domid)) return 0;
    const b = this.bucket(domid);
    if (b.value > 0) return 0;
    const rate = this.perSecond();
    return rate <= 0 ? 0 : Math.ceil(((0.001 - b.value) / rate) * 1000);
  }

  forget(domid: number): void {
    this.credit.delete(domid);
  }
}
