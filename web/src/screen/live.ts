// Live refresh helpers: a throttle so a burst of stream events refetches at most once every
// couple of seconds, and the China Standard Time clock.

/** Runs `run` after `poke()`, at most once per `gap` ms, never two at a time. */
export class Throttle {
  private last = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private running = false;
  private again = false;

  constructor(
    private run: () => Promise<unknown>,
    private gap = 2000,
  ) {}

  poke(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) return;
    const wait = Math.max(0, this.last + this.gap - Date.now());
    this.timer = setTimeout(() => void this.fire(), wait);
  }

  private async fire(): Promise<void> {
    this.timer = null;
    this.running = true;
    this.last = Date.now();
    try {
      await this.run();
    } catch {
      /* The panel keeps its last figures; the next poke tries again. */
    } finally {
      this.running = false;
      if (this.again) {
        this.again = false;
        this.poke();
      }
    }
  }
}

const clockFormat = new Intl.DateTimeFormat('sv-SE', {
  timeZone: 'Asia/Shanghai',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hour12: false,
});
const timeFormat = new Intl.DateTimeFormat('sv-SE', {
  timeZone: 'Asia/Shanghai',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hour12: false,
});

/** `YYYY-MM-DD HH:MM:SS` in China Standard Time. */
export const cstClock = (d: Date) => clockFormat.format(d);
/** `HH:MM:SS` in China Standard Time. */
export const cstTime = (d: Date) => timeFormat.format(d);
