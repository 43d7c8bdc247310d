/**
 * One client connection: decode each inbound frame once, check rates, ask the Hub,
 * and answer every request with exactly one `{ok}` or `{error}` reply carrying its id.
 * Past this file nothing sees unvalidated JSON.
 */
import { decodeClientFrame } from "../protocol/codec.ts";
import { CLOSE_CODES, ERROR_CODES, type ErrorCode, ProtocolError } from "../protocol/errors.ts";
import { LIMITS, PROTOCOL_VERSIONS, RATES } from "../protocol/limits.ts";
import type { CustomClientFrame } from "../protocol/codec.ts";
import type { ClientFrame, ErrorBody, ResultOf } from "../protocol/messages.ts";
import { type Extensions, hookUser } from "./extensions.ts";
import type { Connection, Hub } from "./hub.ts";
import type { Principal } from "./auth/types.ts";
import type { Logger } from "./log.ts";
import { TokenBucket } from "./rate/token_bucket.ts";
import { ExpiryWatch } from "./expiry_watch.ts";
import type { Drain, Drainable } from "./drain.ts";
import type { SocketActivity } from "./idle_gc.ts";

export interface SessionOptions {
  /** The application's custom frames, commands and switches; none when absent. */
  extensions?: Extensions;
  /** Verify a fresh JWT for `auth.refresh`; absent when the server takes no JWTs. */
  refresh?: (token: string) => Promise<Principal>;
  frameBytes?: number;
  helloTimeoutMs?: number;
  invalidFramesPerMinute?: number;
  /** Frames of any kind per connection: a flood guard. Per-user budgets are the Hub's. */
  rates?: { frames: { perSecond: number; burst: number } };
  /** Watches credentials that expire; one per server. */
  expiry?: ExpiryWatch;
  /** Stops every session reading at shutdown, so it answers what it took; one per server. */
  drain?: Drain;
  /** The largest upload, told to clients in hello's `limits` (0: uploads are off). */
  uploadBytes?: number;
  /** Told of the socket, its frames but heartbeats, and its waits (see IdleGc); one per server. */
  activity?: SocketActivity;
  now?: () => number;
  log: Logger;
}

const HELLO_TIMEOUT_MS = 10_000;

export class Session implements Drainable {
  readonly #conn: Connection;
  readonly #hub: Hub;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #frameBytes: number;
  readonly #invalidLimit: number;
  readonly #frames: TokenBucket;
  readonly #expiry: ExpiryWatch;
  /** Times of recent invalid frames, oldest first. */
  readonly #invalidAt: number[] = [];
  #version = 0;
  #closed = false;
  /** Shutdown began: frames are no longer read. */
  #draining = false;
  #inFlight = 0;
  /** What `drain()` returns: settles once the last request in flight is answered. */
  #allAnswered: Promise<void> | undefined;
  #resolveAnswered: (() => void) | undefined;
  readonly #drain: Drain | undefined;
  readonly #uploadBytes: number | undefined;
  #helloTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #refresh: SessionOptions["refresh"];
  readonly #extensions: Extensions | undefined;
  readonly #activity: SocketActivity | undefined;

  constructor(conn: Connection, hub: Hub, options: SessionOptions) {
    this.#conn = conn;
    this.#hub = hub;
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
    this.#frameBytes = options.frameBytes ?? LIMITS.frameBytes;
    this.#invalidLimit = options.invalidFramesPerMinute ?? LIMITS.invalidFramesPerMinute;
    const rates = options.rates ?? RATES;
    this.#refresh = options.refresh;
    this.#extensions = options.extensions;
    this.#frames = new TokenBucket(rates.frames.perSecond, rates.frames.burst, this.#now);
    this.#expiry = options.expiry ?? new ExpiryWatch(this.#now);
    this.#drain = options.drain;
    this.#uploadBytes = options.uploadBytes;
    this.#helloTimer = setTimeout(() => {
      this.#close(CLOSE_CODES.helloTimeout, "no hello");
    }, options.helloTimeoutMs ?? HELLO_TIMEOUT_MS);
    this.#armExpiry();
    this.#drain?.add(this);
    this.#activity = options.activity;
    this.#activity?.opened();
  }

  /** A credential that expires (a JWT) closes the socket then, unless refreshed in time. */
  #armExpiry(): void {
    if (this.#conn.principal.expiresAt === undefined) return;
    this.#expiry.add(this);
  }

  /** Called by the shared watch: close if the credential has run out. */
  checkExpiry(now: number): void {
    if ((this.#conn.principal.expiresAt ?? Infinity) <= now) {
      this.#close(CLOSE_CODES.tokenExpired, "token expired");
    }
  }

  get user() {
    return this.#conn.user;
  }

  /** Handle one inbound WebSocket message. */
  receive(data: unknown): void {
    // Once shutdown began, a frame is not processed and gets no reply: the client sends
    // it again after reconnecting (see Drain).
    if (this.#closed || this.#draining) return;
    if (typeof data !== "string") {
      this.#invalid(null, "invalid_frame", "Binary frames are not supported; send JSON text.");
      return;
    }
    const decoded = decodeClientFrame(data, this.#frameBytes, this.#extensions?.frames);
    if (!decoded.ok) {
      if (decoded.code === "frame_too_large") {
        this.#push({ code: decoded.code, message: decoded.message });
        this.#close(CLOSE_CODES.frameTooLarge, "frame too large");
        return;
      }
      this.#invalid(decoded.id, decoded.code, decoded.message);
      return;
    }
    const frame = decoded.frame;
    if (frame.type !== "ping") this.#activity?.busy();
    const wait = this.#frames.take();
    if (wait > 0) {
      this.#replyError(frame.id, rateLimited(wait));
      return;
    }
    const handled = decoded.custom
      ? this.#custom(decoded.frame)
      : decoded.frame.type === "send"
      ? this.#send(decoded.frame)
      : this.#dispatch(decoded.frame);
    if (this.#inFlight++ === 0) this.#activity?.waiting(true);
    handled.then(
      (result) => {
        if (result !== REPLIED) this.#reply(frame.id, result);
        this.#answered();
      },
      (error: unknown) => {
        this.#fail(frame, error);
        this.#answered();
      },
    );
  }

  /** Requests taken and not yet answered. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Shutdown: read no more frames; settles once every request taken has its reply queued. */
  drain(): Promise<void> {
    this.#draining = true;
    clearTimeout(this.#helloTimer);
    if (this.#inFlight === 0) return Promise.resolve();
    return this.#allAnswered ??= new Promise((resolve) => (this.#resolveAnswered = resolve));
  }

  /** Settles once every reply and push queued for this socket has been written to it. */
  flushed(): Promise<void> {
    return this.#conn.flushed?.() ?? Promise.resolve();
  }

  #answered(): void {
    if (--this.#inFlight > 0) return;
    this.#activity?.waiting(false);
    this.#resolveAnswered?.();
  }

  /** An application frame: its schema passed; its handler answers. */
  async #custom(frame: CustomClientFrame): Promise<unknown> {
    if (this.#version === 0) throw new ProtocolError("hello_required");
    const { frame: spec } = this.#extensions!.frames.get(frame.type)!;
    const { type: _, id: __, ...body } = frame;
    const hub = this.#hub;
    const conn = this.#conn;
    const result = await spec.handler(body, {
      user: hookUser(conn.principal),
      hub,
      joined: (room) => hub.isJoined(conn, room),
      pushToRoom: (room, name, data) => hub.pushCustom({ room }, name, data),
      pushToUser: (userId, name, data) => hub.pushCustom({ userId }, name, data),
    });
    return result ?? {};
  }

  /** A slash command, run through the same hub calls as the frames it stands for. */
  async #command(frame: Extract<ClientFrame, { type: "command" }>): Promise<ResultOf<"command">> {
    const command = this.#extensions?.commands.get(frame.name);
    if (!command) {
      throw new ProtocolError("unknown_command", `No command /${frame.name}; try /help.`);
    }
    const result = await command.run(frame.args, {
      conn: this.#conn,
      user: hookUser(this.#conn.principal),
      hub: this.#hub,
      room: frame.room,
    });
    return result ?? {};
  }

  /** The socket closed: leave every room. */
  closed(): void {
    this.#closed = true;
    clearTimeout(this.#helloTimer);
    this.#expiry.delete(this);
    this.#drain?.delete(this);
    this.#hub.disconnect(this.#conn);
  }

  /**
   * The most frequent frame, kept out of #dispatch: an async call of that large function
   * allocates a frame the size of all its cases. The reply goes out as the message is
   * pushed, so the sender gets both in one WebSocket message.
   */
  #send(frame: Extract<ClientFrame, { type: "send" }>): Promise<typeof REPLIED> {
    if (this.#version === 0) return Promise.reject(new ProtocolError("hello_required"));
    const reply = (result: ResultOf<"send">) => this.#reply(frame.id, result);
    const { replyTo, file } = frame;
    const extras = replyTo === undefined && file === undefined ? undefined : {
      ...(replyTo === undefined ? {} : { replyTo }),
      ...(file === undefined ? {} : { file }),
    };
    return this.#hub.send(this.#conn, frame.room, frame.text ?? "", frame.nonce, reply, extras)
      .then(replied);
  }

  async #dispatch(frame: ClientFrame): Promise<ResultOf<ClientFrame["type"]> | typeof REPLIED> {
    if (frame.type === "hello") return await this.#hello(frame.v);
    if (this.#version === 0) throw new ProtocolError("hello_required");
    const conn = this.#conn;
    switch (frame.type) {
      case "room.create": {
        const { room, kind, title, topic, receipts, retention } = frame;
        return await this.#hub.createRoom(conn, {
          name: room,
          topic: topic ?? "",
          ...(kind ? { kind } : {}),
          ...(title ? { title } : {}),
          ...(receipts === undefined ? {} : { receipts }),
          ...(retention ? { retention } : {}),
        });
      }
      case "room.update": {
        const { room, title, topic, receipts, retention } = frame;
        return await this.#hub.updateRoom(conn, room, {
          ...(title === undefined ? {} : { title }),
          ...(topic === undefined ? {} : { topic }),
          ...(receipts === undefined ? {} : { receipts }),
          ...(retention === undefined ? {} : { retention }),
        });
      }
      case "room.list":
        return { rooms: await this.#hub.listRooms(conn.principal) };
      case "room.join":
        return await this.#hub.join(conn, frame.room, frame);
      case "room.leave":
        await this.#hub.leave(conn, frame.room);
        return {};
      case "send":
        return await this.#send(frame);
      case "react":
        return await this.#hub.react(conn, frame.room, frame.seq, frame.emoji, frame.remove);
      case "search": {
        const { type: _, id: __, ...request } = frame;
        return await this.#hub.search(conn.principal, request);
      }
      case "room.directory": {
        const { type: _, id: __, ...request } = frame;
        return await this.#hub.directory(conn.principal, request);
      }
      case "edit":
        return await this.#hub.edit(conn, frame.room, frame.seq, frame.text);
      case "delete":
        return await this.#hub.delete(conn, frame.room, frame.seq);
      case "history":
        return await this.#hub.history(conn, frame.room, frame);
      case "read":
        return await this.#hub.read(conn, frame.room, frame.seq);
      case "typing":
        this.#hub.typing(conn, frame.room, frame.active);
        return {};
      case "ping":
        return { ts: this.#now() };
      case "room.delete":
        await this.#hub.deleteRoom(conn, frame.room);
        return {};
      case "room.members":
        return await this.#hub.members(conn, frame.room);
      case "room.invite":
        await this.#hub.invite(conn, frame.room, frame.user);
        return {};
      case "room.kick":
        await this.#hub.kick(conn, frame.room, frame.user, frame.reason);
        return {};
      case "room.ban":
        await this.#hub.ban(conn, frame.room, frame.user, frame.minutes, frame.reason);
        return {};
      case "room.unban":
        await this.#hub.unban(conn, frame.room, frame.user);
        return {};
      case "room.mute":
        await this.#hub.mute(conn, frame.room, frame.user, frame.minutes, frame.reason);
        return {};
      case "room.unmute":
        await this.#hub.unmute(conn, frame.room, frame.user);
        return {};
      case "room.role":
        await this.#hub.setRole(conn, frame.room, frame.user, frame.role);
        return {};
      case "room.modlog":
        return await this.#hub.modlog(conn, frame.room, frame.before, frame.limit);
      case "dm.open":
        return await this.#hub.openDm(conn, frame.user);
      case "user.find":
        return { user: await this.#hub.findUser(frame.name) };
      case "auth.refresh":
        return await this.#refreshToken(frame.token);
      case "command":
        return await this.#command(frame);
    }
  }

  /** Swap in a fresh JWT for the same user, pushing the socket's expiry out. */
  async #refreshToken(token: string): Promise<ResultOf<"auth.refresh">> {
    const principal = this.#conn.principal;
    if (!this.#refresh || principal.expiresAt === undefined) {
      throw new ProtocolError("forbidden", "This connection has no token to refresh.");
    }
    let fresh: Principal;
    try {
      fresh = await this.#refresh(token);
    } catch (error) {
      throw new ProtocolError("unauthorized", (error as Error).message);
    }
    if (fresh.user.id !== principal.user.id || fresh.expiresAt === undefined) {
      throw new ProtocolError("unauthorized", "The new token is for another user.");
    }
    principal.expiresAt = fresh.expiresAt;
    this.#armExpiry();
    return { expiresAt: fresh.expiresAt };
  }

  async #hello(offered: number[]): Promise<ResultOf<"hello">> {
    if (this.#version !== 0) throw new ProtocolError("already_hello");
    const common = offered.filter((v) => (PROTOCOL_VERSIONS as readonly number[]).includes(v));
    if (common.length === 0) {
      throw new ProtocolError(
        "unsupported_version",
        `Server speaks protocol versions ${PROTOCOL_VERSIONS.join(", ")}.`,
      );
    }
    this.#version = Math.max(...common);
    clearTimeout(this.#helloTimer);
    await this.#hub.connect(this.#conn);
    const { role, expiresAt } = this.#conn.principal;
    return {
      v: this.#version,
      user: this.#conn.user,
      role,
      ...(expiresAt === undefined ? {} : { expiresAt }),
      epoch: this.#hub.store.epoch,
      instance: this.#hub.instanceId,
      limits: {
        ...LIMITS,
        ...(this.#uploadBytes === undefined ? {} : { uploadBytes: this.#uploadBytes }),
      },
      ...(this.#extensions
        ? {
          features: this.#extensions.features,
          commands: [...this.#extensions.commands.values()].map(({ name, usage, description }) => ({
            name,
            usage,
            description,
          })),
        }
        : {}),
    };
  }

  #fail(frame: { type: string; id: number }, error: unknown): void {
    if (error instanceof ProtocolError) {
      const body: ErrorBody = { code: error.code, message: error.message };
      if (error.retryAfterMs !== undefined) body.retryAfterMs = error.retryAfterMs;
      if (error.permission !== undefined) body.permission = error.permission;
      this.#replyError(frame.id, body);
      // Reply first, then close: the client learns why it must not reconnect.
      if (error.code === "unsupported_version") {
        this.#close(CLOSE_CODES.unsupportedVersion, "unsupported version");
      }
      return;
    }
    this.#log.error("request failed", { type: frame.type, user: this.#conn.user.id, error });
    this.#replyError(frame.id, { code: "internal", message: ERROR_CODES.internal });
  }

  /** Count an invalid frame; past the per-minute allowance, close with a policy code. */
  #invalid(id: number | null, code: ErrorCode, message: string): void {
    const now = this.#now();
    this.#invalidAt.push(now);
    while (this.#invalidAt.length && this.#invalidAt[0]! <= now - 60_000) this.#invalidAt.shift();
    if (id === null) this.#push({ code, message });
    else this.#replyError(id, { code, message });
    if (this.#invalidAt.length > this.#invalidLimit) {
      this.#close(CLOSE_CODES.policyViolation, "too many invalid frames");
    }
  }

  #reply(id: number, ok: unknown): void {
    if (!this.#closed) this.#conn.send(JSON.stringify({ type: "reply", id, ok }));
  }

  #replyError(id: number, error: ErrorBody): void {
    if (!this.#closed) this.#conn.send(JSON.stringify({ type: "reply", id, error }));
  }

  #push(error: ErrorBody): void {
    if (!this.#closed) this.#conn.send(JSON.stringify({ type: "error", error }));
  }

  #close(code: number, reason: string): void {
    if (this.#closed) return;
    this.#conn.close(code, reason);
    this.closed();
  }
}

/** What a handler returns when it has sent its reply itself. */
const REPLIED = Symbol("replied");
const replied = (): typeof REPLIED => REPLIED;

function rateLimited(waitMs: number): ErrorBody {
  return { code: "rate_limited", message: ERROR_CODES.rate_limited, retryAfterMs: waitMs };
}
