/**
 * Sockets whose credential expires (a JWT), checked by one timer rather than a timer per
 * socket: ten thousand JWT sockets then cost ten thousand set entries, not timers. The
 * composition root creates one per server, so servers in one process share nothing.
 */
export interface Expiring {
  checkExpiry(now: number): void;
}

const EXPIRY_CHECK_MS = 1000;

export class ExpiryWatch {
  readonly #watched = new Set<Expiring>();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  add(item: Expiring): void {
    this.#watched.add(item);
    this.#timer ??= setInterval(() => {
      const at = this.now();
      for (const watched of this.#watched) watched.checkExpiry(at);
    }, EXPIRY_CHECK_MS);
  }

  delete(item: Expiring): void {
    this.#watched.delete(item);
    if (this.#watched.size > 0) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
