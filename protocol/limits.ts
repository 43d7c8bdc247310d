/** Sizes and rates that server and client must agree on. */

/** Protocol versions this build speaks, newest last. */
export const PROTOCOL_VERSIONS = [1] as const;
export const PROTOCOL_VERSION = 1;

/** Room names are URL- and log-safe slugs. */
export const ROOM_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,31}$/;

export const LIMITS = {
  /** Largest inbound frame in UTF-8 bytes; Deno cannot cap it, so the session does. */
  frameBytes: 64 * 1024,
  /** Longest chat message, in UTF-16 code units (what JavaScript's `length` counts). */
  messageChars: 4000,
  displayNameChars: 32,
  topicChars: 200,
  reasonChars: 200,
  nonceChars: 64,
  historyPageMax: 100,
  historyPageDefault: 50,
  /** Distinct emoji on one message, and users per emoji. */
  reactionsPerMessage: 20,
  reactorsPerEmoji: 100,
  /** How much of the original a reply quotes. */
  replyExcerptChars: 200,
  /** Names one message may mention (more are not highlighted or counted). */
  mentionsPerMessage: 20,
  fileNameChars: 200,
  searchChars: 200,
  searchPageMax: 50,
  /** Most entries replayed to a reconnecting client before it is told to reload instead. */
  recoveryMax: 1000,
  roomsPerConnection: 50,
  /** A client sends at most one `typing` frame per this interval while the user types. */
  typingThrottleMs: 2500,
  /** A typing indicator expires unless refreshed within this time. */
  typingTtlMs: 6000,
  /** Invalid frames tolerated in one minute before the socket is closed. */
  invalidFramesPerMinute: 10,
} as const;

/**
 * Heartbeat, on both sides: a peer heard nothing from for `intervalMs` is pinged, and one
 * still silent `timeoutMs` later is taken for dead and dropped. So a dead link is noticed
 * within `intervalMs + timeoutMs` (20 s) by the client (which then reconnects) and by the
 * server (which closes the socket, and the user leaves its rooms' presence).
 */
export const HEARTBEAT = { intervalMs: 10_000, timeoutMs: 10_000 } as const;

/** Default token-bucket rates per connection; the server may be configured stricter. */
export const RATES = {
  frames: { perSecond: 30, burst: 60 },
  messages: { perSecond: 5, burst: 15 },
  roomCreates: { perSecond: 0.2, burst: 5 },
} as const;

/**
 * Who may open another WebSocket: open sockets per client address and per user (counted
 * by each server process), and upgrade attempts per address (a token bucket in the
 * RateLimiter, so cluster-wide with Redis). 0 lifts a cap. Server-side only.
 */
export const CONNECTIONS = {
  socketsPerIp: 256,
  socketsPerUser: 32,
  upgrades: { perSecond: 10, burst: 50 },
} as const;

/** UTF-8 byte length of a string, without allocating. */
export function utf8Bytes(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** True when `s` encodes to more than `max` UTF-8 bytes; cheap for the common short case. */
export function exceedsBytes(s: string, max: number): boolean {
  if (s.length > max) return true;
  if (s.length * 3 <= max) return false;
  return utf8Bytes(s) > max;
}
