/** Command-line flags and PARLEY_* environment variables -> typed configuration. */
import { parseArgs } from "node:util";
import { CONNECTIONS, RATES } from "../protocol/limits.ts";
import { type Registration, REGISTRATION_MODES } from "./auth/accounts.ts";
import type { JwtOptions } from "./auth/jwt.ts";
import { DEFAULT_PASSWORD_COST, MIN_PASSWORD_COST } from "./auth/passwords.ts";
import type { LogLevel } from "./log.ts";
import { DEFAULT_MAX_BUFFERED_BYTES } from "./ws_connection.ts";
import { isAddress, originOf } from "./origins.ts";

/** Where history, accounts and permissions live. */
export type StoreSpec =
  | { kind: "kv"; dir: string }
  | { kind: "memory" }
  | { kind: "postgres"; url: string };

/** How instances reach each other; with Redis, presence and rate limits live there too. */
export type BusSpec = { kind: "local" } | { kind: "redis"; url: string };

export interface Config {
  port: number;
  hostname: string;
  /** Data directory, or ":memory:" for a throwaway server. */
  data: string;
  store: StoreSpec;
  bus: BusSpec;
  /** How long a presence entry lives unless its process refreshes it (every third of it). */
  presenceTtlMs: number;
  /** Origins allowed to open WebSockets besides the server's own; "*" allows any. */
  allowedOrigins: string[];
  /**
   * The origins browsers reach this server at: other host names are refused (421).
   * Addresses (localhost, IP literals) are always answered; empty names none else.
   */
  publicUrls: string[];
  title: string;
  /** Open WebSockets per client address on this process; 0: no cap. */
  socketsPerIp: number;
  /** Open WebSockets per user on this process; 0: no cap. */
  socketsPerUser: number;
  /** WebSocket upgrades per client address per second (perSecond 0: no limit), and the burst. */
  upgradeRate: { perSecond: number; burst: number };
  maxBufferedBytes: number;
  logLevel: LogLevel;
  /** Server-wide retention for rooms without their own; empty keeps everything. */
  retention: { maxAgeDays?: number; maxCount?: number };
  /** Most entries replayed to a reconnecting client before it reloads instead. */
  recoveryMax: number;
  /** Messages (sends, edits, deletes) per second per connection, and the burst allowed. */
  messageRate: { perSecond: number; burst: number };
  /** Frames of any kind per second per connection, and the burst allowed. */
  frameRate: { perSecond: number; burst: number };
  /** Rooms (and direct-message rooms) a connection may create per second, and the burst. */
  roomRate: { perSecond: number; burst: number };
  registration: Registration;
  /** Visitors without an account may read public rooms and post there. */
  guests: boolean;
  jwt: JwtOptions;
  /** log2 of scrypt's N for new password hashes. */
  passwordCost: number;
  /** Behind a reverse proxy: client addresses come from X-Forwarded-For. */
  trustProxy: boolean;
  /** `--create-admin NAME`: create (or promote) this admin account, then exit. */
  createAdmin: string | null;
  /** How long shutdown waits for the requests in flight to be answered. */
  drainTimeoutMs: number;
  /** Largest upload in bytes; 0 disables uploads. Absent: DEFAULT_MAX_UPLOAD_MB. */
  maxUploadBytes?: number;
}

/** `--max-upload-mb` unless given. */
export const DEFAULT_MAX_UPLOAD_MB = 10;

/** The data directory value that keeps everything in memory. */
export const MEMORY_DATA = ":memory:";

interface FlagSpec {
  type: "string" | "boolean";
  env?: string;
  default: string | boolean;
  help: string;
  multiple?: boolean;
}

export const FLAGS: Record<string, FlagSpec> = {
  port: {
    type: "string",
    env: "PARLEY_PORT",
    default: "8000",
    help: "TCP port (0 picks a free one)",
  },
  hostname: {
    type: "string",
    env: "PARLEY_HOSTNAME",
    default: "localhost",
    help: "Interface to listen on; 0.0.0.0 for every interface",
  },
  data: {
    type: "string",
    env: "PARLEY_DATA",
    default: "./data",
    help: 'Data directory (the Deno KV database and signing secret); ":memory:" keeps nothing',
  },
  store: {
    type: "string",
    env: "PARLEY_STORE",
    default: "",
    help: "kv:DIR, memory, or postgres://user@host/db (default: Deno KV in --data)",
  },
  bus: {
    type: "string",
    env: "PARLEY_BUS",
    default: "local",
    help: "local (one process or deno serve --parallel) or redis://host:port for several",
  },
  "presence-ttl": {
    type: "string",
    env: "PARLEY_PRESENCE_TTL",
    default: "30",
    help: "With --bus redis: seconds until the users of a dead process drop out of presence",
  },
  "allowed-origin": {
    type: "string",
    env: "PARLEY_ALLOWED_ORIGINS",
    default: "",
    multiple: true,
    help: "Extra origin allowed to open WebSockets (repeat, or comma-separate in env)",
  },
  "public-url": {
    type: "string",
    env: "PARLEY_PUBLIC_URL",
    default: "",
    multiple: true,
    help: "URL browsers use to reach Parley, e.g. https://chat.example.com (repeat, or " +
      "comma-separate in env); other host names get 421. Default: --hostname when it is a " +
      "name; addresses (localhost, IPs) are always answered",
  },
  title: {
    type: "string",
    env: "PARLEY_TITLE",
    default: "Parley",
    help: "Name shown in the web client",
  },
  "max-sockets-per-ip": {
    type: "string",
    env: "PARLEY_MAX_SOCKETS_PER_IP",
    default: String(CONNECTIONS.socketsPerIp),
    help: "Open WebSockets one client address may hold on this process (0: no cap)",
  },
  "max-sockets-per-user": {
    type: "string",
    env: "PARLEY_MAX_SOCKETS_PER_USER",
    default: String(CONNECTIONS.socketsPerUser),
    help: "Open WebSockets one user may hold on this process (0: no cap)",
  },
  "upgrade-rate": {
    type: "string",
    env: "PARLEY_UPGRADE_RATE",
    default: String(CONNECTIONS.upgrades.perSecond),
    help: "WebSocket upgrades per second per client address, across the cluster (0: no limit)",
  },
  "upgrade-burst": {
    type: "string",
    env: "PARLEY_UPGRADE_BURST",
    default: String(CONNECTIONS.upgrades.burst),
    help: "WebSocket upgrades a client address may make at once before the rate applies",
  },
  "max-buffered": {
    type: "string",
    env: "PARLEY_MAX_BUFFERED",
    default: String(DEFAULT_MAX_BUFFERED_BYTES),
    help: "Bytes a slow client may have pending before it is dropped",
  },
  "retention-days": {
    type: "string",
    env: "PARLEY_RETENTION_DAYS",
    default: "",
    help: "Delete messages older than this many days (rooms may set their own)",
  },
  "retention-count": {
    type: "string",
    env: "PARLEY_RETENTION_COUNT",
    default: "",
    help: "Keep at most this many entries per room (rooms may set their own)",
  },
  "recovery-max": {
    type: "string",
    env: "PARLEY_RECOVERY_MAX",
    default: "1000",
    help: "Most missed entries replayed on reconnect before the client reloads instead",
  },
  "message-rate": {
    type: "string",
    env: "PARLEY_MESSAGE_RATE",
    default: String(RATES.messages.perSecond),
    help: "Messages per second a user may send (sends, edits, deletes), across the cluster",
  },
  "message-burst": {
    type: "string",
    env: "PARLEY_MESSAGE_BURST",
    default: String(RATES.messages.burst),
    help: "Messages a user may send in a burst before the rate applies",
  },
  "frame-rate": {
    type: "string",
    env: "PARLEY_FRAME_RATE",
    default: String(RATES.frames.perSecond),
    help: "Frames of any kind per second a connection may send",
  },
  "frame-burst": {
    type: "string",
    env: "PARLEY_FRAME_BURST",
    default: String(RATES.frames.burst),
    help: "Frames a connection may send in a burst before the rate applies",
  },
  "room-rate": {
    type: "string",
    env: "PARLEY_ROOM_RATE",
    default: String(RATES.roomCreates.perSecond),
    help: "Rooms a user may create per second",
  },
  "room-burst": {
    type: "string",
    env: "PARLEY_ROOM_BURST",
    default: String(RATES.roomCreates.burst),
    help: "Rooms a user may create in a burst before the rate applies",
  },
  registration: {
    type: "string",
    env: "PARLEY_REGISTRATION",
    default: "open",
    help: "Who may register: open, invite (an admin-issued code) or closed",
  },
  guests: {
    type: "boolean",
    env: "PARLEY_GUESTS",
    default: false,
    help: "Let visitors without an account read public rooms and post there",
  },
  "jwt-secret": {
    type: "string",
    env: "PARLEY_JWT_SECRET",
    default: "",
    help: "Accept HS256 JWTs signed with this secret (your application's users)",
  },
  jwks: {
    type: "string",
    env: "PARLEY_JWKS",
    default: "",
    help: "Accept RS256/ES256 JWTs whose keys are in this JWKS file or URL",
  },
  "jwt-issuer": {
    type: "string",
    env: "PARLEY_JWT_ISSUER",
    default: "",
    help: "Required iss claim of accepted JWTs",
  },
  "jwt-audience": {
    type: "string",
    env: "PARLEY_JWT_AUDIENCE",
    default: "",
    help: "Required aud claim of accepted JWTs",
  },
  "jwt-roles-claim": {
    type: "string",
    env: "PARLEY_JWT_ROLES_CLAIM",
    default: "roles",
    help: 'JWT claim with the user\'s roles ("admin", "guest"; anything else is a user)',
  },
  "trust-proxy": {
    type: "boolean",
    env: "PARLEY_TRUST_PROXY",
    default: false,
    help: "Behind a reverse proxy: take client addresses from its X-Forwarded-For",
  },
  "password-cost": {
    type: "string",
    env: "PARLEY_PASSWORD_COST",
    default: String(DEFAULT_PASSWORD_COST),
    help: "log2 of scrypt's N for new password hashes (OWASP: 17)",
  },
  "create-admin": {
    type: "string",
    default: "",
    help: "Create this admin account (password from PARLEY_ADMIN_PASSWORD or stdin), then exit",
  },
  "drain-timeout": {
    type: "string",
    env: "PARLEY_DRAIN_TIMEOUT",
    default: "10",
    help: "Seconds shutdown waits for requests in flight to be answered before closing sockets",
  },
  "max-upload-mb": {
    type: "string",
    env: "PARLEY_MAX_UPLOAD_MB",
    default: String(DEFAULT_MAX_UPLOAD_MB),
    help: "Largest file a user may upload, in MiB (0 disables uploads)",
  },
  "log-level": {
    type: "string",
    env: "PARLEY_LOG_LEVEL",
    default: "info",
    help: "debug, info, warn, error or silent",
  },
  help: { type: "boolean", default: false, help: "Show this help and exit" },
};

export class ConfigError extends Error {
  override name = "ConfigError";
}

export type ParsedArgs = { help: true } | { help: false; config: Config };

/** Parse argv and the environment. Throws ConfigError with a message fit for the user. */
export function parseConfig(args: string[], env: (name: string) => string | undefined): ParsedArgs {
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    const options = Object.fromEntries(
      Object.entries(FLAGS).map((
        [name, spec],
      ) => [name, { type: spec.type, multiple: spec.multiple ?? false }]),
    );
    values = parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new ConfigError(`${(error as Error).message}. Run with --help to list the flags.`);
  }
  if (values.help) return { help: true };

  const pick = (name: string): string => {
    const spec = FLAGS[name]!;
    const given = values[name];
    if (typeof given === "string") return given;
    return (spec.env ? env(spec.env) : undefined) ?? String(spec.default);
  };

  const port = integer("--port", pick("port"), 0, 65535);
  const given = values["allowed-origin"];
  const origins = Array.isArray(given) && given.length
    ? given.map(String)
    : pick("allowed-origin").split(",");
  const allowedOrigins = origins.map((o) => o.trim()).filter(Boolean).map(normalizeOrigin);
  const publicUrls = publicOrigins(
    values["public-url"],
    pick("public-url"),
    pick("hostname"),
    port,
  );
  const registration = pick("registration");
  if (!(REGISTRATION_MODES as readonly string[]).includes(registration)) {
    throw new ConfigError(`--registration must be open, invite or closed, not "${registration}".`);
  }
  const flag = (name: string, variable: string) => {
    const set = env(variable);
    return values[name] === true ||
      (set !== undefined && ["1", "true", "yes", "on"].includes(set.toLowerCase()));
  };
  const guests = flag("guests", "PARLEY_GUESTS");
  const optional = (name: string) => pick(name) || undefined;
  const jwt: JwtOptions = {
    rolesClaim: pick("jwt-roles-claim"),
    ...(optional("jwt-secret") ? { secret: pick("jwt-secret") } : {}),
    ...(optional("jwks") ? { jwks: pick("jwks") } : {}),
    ...(optional("jwt-issuer") ? { issuer: pick("jwt-issuer") } : {}),
    ...(optional("jwt-audience") ? { audience: pick("jwt-audience") } : {}),
  };
  if (jwt.secret !== undefined && jwt.secret.length < 32) {
    throw new ConfigError("--jwt-secret must be at least 32 characters.");
  }
  const logLevel = pick("log-level");
  if (!["debug", "info", "warn", "error", "silent"].includes(logLevel)) {
    throw new ConfigError(
      `--log-level must be debug, info, warn, error or silent, not "${logLevel}".`,
    );
  }
  const data = pick("data");
  return {
    help: false,
    config: {
      port,
      hostname: pick("hostname"),
      data,
      store: storeSpec(pick("store"), data),
      bus: busSpec(pick("bus")),
      presenceTtlMs: integer("--presence-ttl", pick("presence-ttl"), 1, 3600) * 1000,
      allowedOrigins,
      publicUrls,
      title: pick("title").slice(0, 60),
      socketsPerIp: integer("--max-sockets-per-ip", pick("max-sockets-per-ip"), 0, 1_000_000),
      socketsPerUser: integer("--max-sockets-per-user", pick("max-sockets-per-user"), 0, 1_000_000),
      upgradeRate: {
        perSecond: rateOrZero("--upgrade-rate", pick("upgrade-rate")),
        burst: integer("--upgrade-burst", pick("upgrade-burst"), 1, 1_000_000),
      },
      maxBufferedBytes: integer("--max-buffered", pick("max-buffered"), 16 * 1024, 2 ** 31),
      logLevel: logLevel as LogLevel,
      retention: {
        ...(pick("retention-days")
          ? { maxAgeDays: positive("--retention-days", pick("retention-days")) }
          : {}),
        ...(pick("retention-count")
          ? { maxCount: integer("--retention-count", pick("retention-count"), 1, 2 ** 40) }
          : {}),
      },
      recoveryMax: integer("--recovery-max", pick("recovery-max"), 0, 100_000),
      messageRate: {
        perSecond: positiveRate("--message-rate", pick("message-rate")),
        burst: integer("--message-burst", pick("message-burst"), 1, 1_000_000),
      },
      frameRate: {
        perSecond: positiveRate("--frame-rate", pick("frame-rate")),
        burst: integer("--frame-burst", pick("frame-burst"), 1, 1_000_000),
      },
      roomRate: {
        perSecond: positiveRate("--room-rate", pick("room-rate")),
        burst: integer("--room-burst", pick("room-burst"), 1, 1_000_000),
      },
      registration: registration as Registration,
      guests,
      jwt,
      passwordCost: integer("--password-cost", pick("password-cost"), MIN_PASSWORD_COST, 20),
      trustProxy: flag("trust-proxy", "PARLEY_TRUST_PROXY"),
      createAdmin: optional("create-admin") ?? null,
      drainTimeoutMs: Math.round(seconds("--drain-timeout", pick("drain-timeout"), 0, 3600) * 1000),
      maxUploadBytes: uploadBytes(pick("max-upload-mb")),
    },
  };
}

export function helpText(): string {
  const lines = ["Usage: deno run -A server.ts [flags]", "", "Flags:"];
  for (const [name, spec] of Object.entries(FLAGS)) {
    const value = spec.type === "string" ? ` <${spec.multiple ? "origin" : "value"}>` : "";
    const def = spec.default === "" || spec.default === false ? "" : ` (default: ${spec.default})`;
    const env = spec.env ? ` [env ${spec.env}]` : "";
    lines.push(`  --${name}${value}`.padEnd(30) + `${spec.help}${def}${env}`);
  }
  return lines.join("\n");
}

export function storeSpec(text: string, data: string): StoreSpec {
  if (text === "") return data === MEMORY_DATA ? { kind: "memory" } : { kind: "kv", dir: data };
  if (text === "memory") return { kind: "memory" };
  if (text.startsWith("kv:") && text.length > 3) return { kind: "kv", dir: text.slice(3) };
  if (/^postgres(ql)?:\/\//.test(text)) return { kind: "postgres", url: text };
  throw new ConfigError(
    `--store must be kv:DIR, memory or a postgres:// URL, not "${redact(text)}".`,
  );
}

function busSpec(text: string): BusSpec {
  if (text === "local") return { kind: "local" };
  if (/^rediss?:\/\//.test(text)) return { kind: "redis", url: text };
  throw new ConfigError(`--bus must be local or a redis:// URL, not "${redact(text)}".`);
}

/** A URL with its password hidden, for messages and logs. */
export function redact(text: string): string {
  return text.replace(/\/\/([^:/@]*):[^@/]*@/, "//$1:***@");
}

function integer(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${flag} must be a whole number from ${min} to ${max}, not "${text}".`);
  }
  return n;
}

/** `--max-upload-mb` in bytes: a number of MiB from 0 (no uploads) to 4096. */
function uploadBytes(text: string): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n < 0 || n > 4096) {
    throw new ConfigError(`--max-upload-mb must be a number from 0 to 4096, not "${text}".`);
  }
  return Math.floor(n * 1024 * 1024);
}

function seconds(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n < min || n > max) {
    throw new ConfigError(
      `${flag} must be a number of seconds from ${min} to ${max}, not "${text}".`,
    );
  }
  return n;
}

function rateOrZero(flag: string, text: string): number {
  return Number(text) === 0 && text.trim() !== "" ? 0 : positiveRate(flag, text);
}

function positiveRate(flag: string, text: string): number {
  const n = Number(text);
  if (!(n > 0) || n > 1_000_000) {
    throw new ConfigError(`${flag} must be a number above 0, not "${text}".`);
  }
  return n;
}

function positive(flag: string, text: string): number {
  const n = Number(text);
  if (!(n > 0) || n > 36500) {
    throw new ConfigError(`${flag} must be a number of days above 0, not "${text}".`);
  }
  return n;
}

/**
 * `--public-url`s (or PARLEY_PUBLIC_URL) as origins. Without any, a host name given to
 * `--hostname` is the public one; addresses need none (they are always answered).
 */
function publicOrigins(
  given: string | boolean | (string | boolean)[] | undefined,
  fromEnv: string,
  hostname: string,
  port: number,
): string[] {
  const texts = Array.isArray(given) && given.length ? given.map(String) : fromEnv.split(",");
  const origins = texts.map((t) => t.trim()).filter(Boolean).map((text) => {
    try {
      return originOf(text);
    } catch {
      throw new ConfigError(
        `--public-url "${text}" is not an http(s) URL like https://chat.example.com.`,
      );
    }
  });
  if (origins.length) return [...new Set(origins)];
  const name = hostname.toLowerCase();
  if (port === 0 || name.includes(":") || name === "0.0.0.0" || isAddress(name)) return [];
  try {
    return [originOf(`http://${name}:${port}`)];
  } catch {
    return [];
  }
}

function normalizeOrigin(origin: string): string {
  if (origin === "*") return origin;
  try {
    return new URL(origin).origin;
  } catch {
    throw new ConfigError(
      `--allowed-origin "${origin}" is not an origin like https://chat.example.com.`,
    );
  }
}

/**
 * V8 flags for a chat server, used by `deno task start`, the compiled executable and the
 * bundle's relaunch. V8 grows the young generation to 32 MiB per semi-space under a
 * message burst and keeps it; 4 MiB bounds burst memory (peak RSS in the benchmark's busy
 * room about 205 MB instead of 260 MB) for about 5% of its throughput. `--expose-gc` gives
 * server.ts V8's `gc`, which the server runs once after a storm of connections, when it has
 * gone quiet (server/idle_gc.ts); nothing else calls it.
 */
export const V8_FLAGS = ["--max-semi-space-size=4", "--expose-gc"] as const;
