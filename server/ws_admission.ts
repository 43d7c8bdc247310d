/**
 * Who may open another WebSocket: at most `socketsPerIp` open sockets per client address
 * and `socketsPerUser` per user on this process, and `upgrades` attempts per address per
 * second, spent from the RateLimiter (cluster-wide when that is Redis). A socket holds a
 * lease from the moment its upgrade is admitted until it closes, so a burst of upgrades
 * in flight at once cannot all slip under a cap. A request whose address is unknown (a
 * library host that passes no connection info) is not held to the per-address limits.
 */
import type { Rate, RateLimiter } from "./rate/types.ts";

export interface AdmissionLimits {
  /** Open sockets per client address on this process; 0: no cap. */
  socketsPerIp: number;
  /** Open sockets per user on this process; 0: no cap. */
  socketsPerUser: number;
  /** Upgrade attempts per address; a rate of 0 per second lifts it. */
  upgrades: Rate;
}

/** Why an upgrade was refused, as /metrics counts it. */
export type Refusal = "rate" | "ip_cap" | "user_cap" | "origin" | "unauthorized";

export const UNKNOWN_ADDRESS = "unknown";

/** A socket's place, held until `release` (which may be called more than once). */
export interface Lease {
  /** Count the socket against its user too; false (and nothing counted) at the user's cap. */
  forUser(userId: string): boolean;
  release(): void;
}

export class SocketAdmission {
  readonly #limits: AdmissionLimits;
  readonly #limiter: RateLimiter;
  readonly #byIp = new Map<string, number>();
  readonly #byUser = new Map<string, number>();
  readonly #refused = new Map<Refusal, number>();
  #admitted = 0;
  #open = 0;

  constructor(limits: AdmissionLimits, limiter: RateLimiter) {
    this.#limits = limits;
    this.#limiter = limiter;
  }

  /** Spend one upgrade attempt of `ip`: 0 when it may go on, else ms until it may retry. */
  async attempt(ip: string): Promise<number> {
    if (ip === UNKNOWN_ADDRESS || !(this.#limits.upgrades.perSecond > 0)) return 0;
    const wait = await this.#limiter.take(`upgrade:${ip}`, this.#limits.upgrades);
    if (wait > 0) this.refuse("rate");
    return wait;
  }

  /** A lease for a socket from `ip`, or null when the address is at its cap. */
  admit(ip: string): Lease | null {
    const perIp = ip === UNKNOWN_ADDRESS ? 0 : this.#limits.socketsPerIp;
    if (!take(this.#byIp, ip, perIp)) {
      this.refuse("ip_cap");
      return null;
    }
    this.#open++;
    let user: string | undefined;
    let released = false;
    return {
      forUser: (userId) => {
        if (released || user !== undefined) return true;
        if (!take(this.#byUser, userId, this.#limits.socketsPerUser)) {
          this.refuse("user_cap");
          return false;
        }
        user = userId;
        return true;
      },
      release: () => {
        if (released) return;
        released = true;
        this.#open--;
        give(this.#byIp, ip);
        if (user !== undefined) give(this.#byUser, user);
      },
    };
  }

  /** The upgrade went through. */
  opened(): void {
    this.#admitted++;
  }

  refuse(reason: Refusal): void {
    this.#refused.set(reason, (this.#refused.get(reason) ?? 0) + 1);
  }

  /** Prometheus lines. */
  metrics(): string[] {
    const refused = ["rate", "ip_cap", "user_cap", "origin", "unauthorized"] as const;
    return [
      "# TYPE parley_ws_sockets gauge",
      `parley_ws_sockets ${this.#open}`,
      "# TYPE parley_ws_upgrades_total counter",
      `parley_ws_upgrades_total ${this.#admitted}`,
      "# TYPE parley_ws_upgrades_refused_total counter",
      ...refused.map((reason) =>
        `parley_ws_upgrades_refused_total{reason="${reason}"} ${this.#refused.get(reason) ?? 0}`
      ),
      "# TYPE parley_ws_busiest_address_sockets gauge",
      `parley_ws_busiest_address_sockets ${largest(this.#byIp)}`,
      "# TYPE parley_ws_busiest_user_sockets gauge",
      `parley_ws_busiest_user_sockets ${largest(this.#byUser)}`,
    ];
  }
}

function take(counts: Map<string, number>, key: string, cap: number): boolean {
  const held = counts.get(key) ?? 0;
  if (cap > 0 && held >= cap) return false;
  counts.set(key, held + 1);
  return true;
}

function give(counts: Map<string, number>, key: string): void {
  const held = (counts.get(key) ?? 1) - 1;
  if (held > 0) counts.set(key, held);
  else counts.delete(key);
}

function largest(counts: Map<string, number>): number {
  let max = 0;
  for (const n of counts.values()) if (n > max) max = n;
  return max;
}
