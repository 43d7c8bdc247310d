/**
 * The first step of a shutdown, so that it keeps what it acknowledges: every session stops
 * taking frames, answers the requests it already took (their commits go through the store
 * as usual, group-committed), and writes those answers and the broadcasts of what they
 * committed to its socket. Only then are sockets closed. One per server, created by the app.
 *
 * A frame that arrives once the drain has begun is not processed and gets no reply: the
 * socket then closes with "reconnect", and the client sends it again (a send with the same
 * nonce), which is safe because nothing of it was done.
 */

/** One peer's requests: a Session. */
export interface Drainable {
  /** Requests taken and not yet answered. */
  readonly inFlight: number;
  /** Take no more frames; settles once every request taken has its answer queued. */
  drain(): Promise<void>;
  /** Settles once everything queued for the peer has been written to its socket. */
  flushed(): Promise<void>;
}

export interface DrainReport {
  /** Requests in flight when the drain began that were answered. */
  answered: number;
  /** Requests still unanswered at the deadline (0 unless it passed). */
  unanswered: number;
  ms: number;
  timedOut: boolean;
}

export class Drain {
  readonly #members = new Set<Drainable>();
  #started = false;

  /** Whether shutdown has begun: no new socket should be opened. */
  get started(): boolean {
    return this.#started;
  }

  add(member: Drainable): void {
    this.#members.add(member);
    // A socket that opened while the drain ran takes nothing either.
    if (this.#started) void member.drain();
  }

  delete(member: Drainable): void {
    this.#members.delete(member);
  }

  /**
   * Stop every member reading, wait until each has answered what it took and written it
   * out, or until `timeoutMs` has passed. Never rejects.
   */
  async run(timeoutMs: number): Promise<DrainReport> {
    this.#started = true;
    const started = performance.now();
    const members = [...this.#members];
    const inFlight = () => members.reduce((sum, m) => sum + m.inFlight, 0);
    const before = inFlight();
    // Answers first, everywhere; then the writes, since a late commit may broadcast to a
    // member that had answered its own requests already.
    const done = Promise.all(members.map((m) => m.drain()))
      .then(() => Promise.all(members.map((m) => m.flushed())))
      .then(() => false, () => false);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), timeoutMs);
    });
    const timedOut = await Promise.race([done, deadline]);
    clearTimeout(timer);
    const unanswered = inFlight();
    return {
      answered: before - unanswered,
      unanswered,
      ms: Math.round(performance.now() - started),
      timedOut,
    };
  }
}
