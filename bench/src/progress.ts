/**
 * Progress on stderr: a bar redrawn in place when stderr is a terminal,
 * otherwise one line per finished step (so logs and CI output stay readable).
 */
export interface ProgressSink {
  readonly isTTY: boolean;
  write(s: string): void;
}

const stderrSink: ProgressSink = {
  get isTTY() {
    return process.stderr.isTTY === true;
  },
  write: (s) => void process.stderr.write(s),
};

export class Progress {
  private done = 0;
  private label = '';
  private stepStart = 0;
  private readonly started = Date.now();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private total: number,
    private readonly out: ProgressSink = stderrSink,
  ) {}

  /** A step begins. */
  begin(label: string): void {
    this.label = label;
    this.stepStart = Date.now();
    if (this.out.isTTY) {
      this.draw();
      this.timer ??= setInterval(() => this.draw(), 250);
      this.timer.unref();
    }
  }

  /** The step ended; `summary` is its headline figure. */
  end(summary: string): void {
    this.done = Math.min(this.total, this.done + 1);
    const secs = ((Date.now() - this.stepStart) / 1000).toFixed(1);
    if (this.out.isTTY) {
      this.out.write(`\r\x1b[K[${this.done}/${this.total}] ${this.label}: ${summary} (${secs} s)\n`);
      this.draw();
    } else {
      this.out.write(`[${this.done}/${this.total}] ${this.label}: ${summary} (${secs} s)\n`);
    }
  }

  /** A message between steps (set-up, skips, warnings). */
  note(msg: string): void {
    if (this.out.isTTY) this.out.write(`\r\x1b[K${msg}\n`);
    else this.out.write(`${msg}\n`);
    if (this.out.isTTY && this.timer !== undefined) this.draw();
  }

  /** Steps turned out fewer (skipped) or more than planned. */
  adjust(delta: number): void {
    this.total = Math.max(this.done, this.total + delta);
  }

  finish(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    if (this.out.isTTY) this.out.write('\r\x1b[K');
    this.out.write(`bench: ${this.done} steps in ${((Date.now() - this.started) / 1000).toFixed(0)} s\n`);
  }

  private draw(): void {
    const width = 30;
    const filled = this.total === 0 ? width : Math.round((width * this.done) / this.total);
    const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
    const secs = ((Date.now() - this.stepStart) / 1000).toFixed(0);
    this.out.write(`\r\x1b[K[${bar}] ${this.done}/${this.total} ${this.label} ${secs}s`);
  }
}
