/**
 * Outgoing webhooks: new, edited, deleted and reacted-to messages are POSTed as signed
 * JSON to the endpoints admins register, per room or server-wide. The hub only hands each
 * committed entry over (`onCommit` never waits); each webhook has its own bounded queue, at
 * most a couple of calls in flight, a timeout on every call, and retries with backoff. Every
 * attempt lands in a short delivery log that admins can read.
 *
 * Each instance delivers what it committed, so every entry is delivered once however many
 * workers there are. Webhooks live in the Store, so every instance sees them;
 * each caches the list for a few seconds.
 */
import { createHmac, randomBytes } from "node:crypto";
import type { Message } from "../protocol/messages.ts";
import {
  apiError,
  type Delivery,
  json,
  noContent,
  readBody,
  WEBHOOK_EVENTS,
  WebhookCreate,
  type WebhookEvent,
} from "./api/openapi.ts";
import type { RouteExtension } from "./http.ts";
import type { Hub } from "./hub.ts";
import type { Logger } from "./log.ts";
import type { Repositories, WebhookRecord } from "./store/repositories.ts";
import type * as z from "zod";

export interface WebhooksDeps {
  /** Where webhooks and their delivery logs are kept: a Store has it. */
  store: Pick<Repositories, "webhooks">;
  log: Logger;
  hub: Hub;
  fetch?: typeof fetch;
  now?: () => number;
  /** Time limit on each call. */
  timeoutMs?: number;
  /** Wait before each retry; one retry per entry, then it is given up. */
  retryDelaysMs?: number[];
  /** Deliveries waiting per webhook; when full, the oldest is dropped. */
  queueLimit?: number;
  /** Calls in flight per webhook. */
  concurrency?: number;
  /** Delivery-log entries kept per webhook. */
  logLimit?: number;
  /** How long the list of webhooks is cached before it is read again. */
  cacheTtlMs?: number;
}

export type { WebhookRecord };

export type DeliveryEntry = z.infer<typeof Delivery>;

interface RoomSummary {
  name: string;
  kind?: string;
  title?: string;
}

interface Job {
  delivery: string;
  event: WebhookEvent;
  message: Message;
  room: RoomSummary;
  /** Attempts made so far. */
  attempts: number;
  /** Not to be tried before this time. */
  notBefore: number;
}

interface Target {
  hook: WebhookRecord;
  queue: Job[];
  inFlight: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  dropped: number;
  droppedLoggedAt: number;
}

export const DEFAULT_RETRY_DELAYS_MS = [1_000, 5_000, 30_000, 120_000, 600_000];
const DEFAULT_TIMEOUT_MS = 5_000;
const DEFAULT_QUEUE_LIMIT = 1_000;
const DEFAULT_CONCURRENCY = 2;
const DEFAULT_LOG_LIMIT = 100;
const DEFAULT_CACHE_TTL_MS = 5_000;
/** Entries waiting for the webhook list to load; only a stalled store would fill it. */
const INTAKE_LIMIT = 10_000;
const LOG_TTL_MS = 7 * 24 * 60 * 60 * 1000;
/** Trim the delivery log after this many writes, not after each. */
const TRIM_EVERY = 10;
const DROP_LOG_EVERY_MS = 60_000;

const EVENT_OF: Record<Message["kind"], WebhookEvent> = {
  text: "message.created",
  edit: "message.edited",
  delete: "message.deleted",
  /** A reaction added or taken back (`remove: true`): the react entry names its `target`. */
  react: "message.reacted",
};

/** `sha256=<hex>`: HMAC-SHA256 over `timestamp + "." + body`, as receivers should check it. */
export function signature(secret: string, timestamp: string, body: string): string {
  return "sha256=" + createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex");
}

export class Webhooks {
  readonly #repo: Repositories["webhooks"];
  readonly #log: Logger;
  readonly #hub: Hub;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  readonly #timeoutMs: number;
  readonly #retryDelays: number[];
  readonly #queueLimit: number;
  readonly #concurrency: number;
  readonly #logLimit: number;
  readonly #cacheTtl: number;
  readonly #targets = new Map<string, Target>();
  readonly #running = new Set<Promise<void>>();
  readonly #calls = new Set<AbortController>();
  readonly #logWrites = new Map<string, number>();
  #intake: Message[] = [];
  #pump: Promise<void> | undefined;
  #cache: { at: number; hooks: WebhookRecord[] } | undefined;
  #loading: Promise<WebhookRecord[]> | undefined;
  #closed = false;

  constructor(deps: WebhooksDeps) {
    this.#repo = deps.store.webhooks;
    this.#log = deps.log;
    this.#hub = deps.hub;
    this.#fetch = deps.fetch ?? fetch;
    this.#now = deps.now ?? Date.now;
    this.#timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#retryDelays = deps.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    this.#queueLimit = Math.max(1, deps.queueLimit ?? DEFAULT_QUEUE_LIMIT);
    this.#concurrency = Math.max(1, deps.concurrency ?? DEFAULT_CONCURRENCY);
    this.#logLimit = Math.max(1, deps.logLimit ?? DEFAULT_LOG_LIMIT);
    this.#cacheTtl = deps.cacheTtlMs ?? DEFAULT_CACHE_TTL_MS;
  }

  /** Hand over a committed entry. Never blocks: the work happens on the webhooks' own queues. */
  onCommit(message: Message): void {
    if (this.#closed) return;
    if (this.#intake.length >= INTAKE_LIMIT) {
      const lost = this.#intake.shift()!;
      this.#log.warn("webhook intake full: dropped an entry", { room: lost.room, seq: lost.seq });
    }
    this.#intake.push(message);
    this.#startPump();
  }

  #startPump(): void {
    if (this.#pump || this.#closed) return;
    this.#pump = this.#drain()
      .catch((error) => this.#log.error("webhook dispatch failed", { error }))
      .finally(() => {
        this.#pump = undefined;
        // An entry that arrived after the last loop check but before this point.
        if (this.#intake.length > 0) this.#startPump();
      });
  }

  /** Deliveries waiting or in flight on this instance: for one webhook, or all. */
  pending(id?: string): number {
    let count = 0;
    for (const target of this.#targets.values()) {
      if (id === undefined || target.hook.id === id) count += target.queue.length + target.inFlight;
    }
    return count + (id === undefined ? this.#intake.length : 0);
  }

  /** Stop: nothing new is taken, calls in flight are aborted, queued deliveries are dropped. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#intake = [];
    for (const target of this.#targets.values()) this.#retire(target);
    this.#targets.clear();
    for (const call of this.#calls) call.abort(new DOMException("shutting down", "AbortError"));
    await this.#pump;
    await Promise.allSettled([...this.#running]);
  }

  // ---- dispatch ---------------------------------------------------------------------------------

  async #drain(): Promise<void> {
    while (this.#intake.length > 0 && !this.#closed) {
      const hooks = await this.#hooks();
      const batch = this.#intake;
      this.#intake = [];
      const rooms = new Map<string, RoomSummary>();
      for (const message of batch) {
        const event = EVENT_OF[message.kind];
        const matching = hooks.filter((hook) => matches(hook, message, event));
        if (matching.length === 0 || this.#closed) continue;
        let room = rooms.get(message.room);
        if (!room) {
          room = await this.#room(message.room);
          rooms.set(message.room, room);
        }
        for (const hook of matching) {
          this.#enqueue(this.#target(hook), {
            delivery: crypto.randomUUID(),
            event,
            message,
            room,
            attempts: 0,
            notBefore: 0,
          });
        }
      }
    }
  }

  async #room(name: string): Promise<RoomSummary> {
    try {
      const record = await this.#hub.store.getRoom(name);
      return record ? { name, kind: record.kind, title: record.title } : { name };
    } catch {
      return { name };
    }
  }

  /** The webhooks, from a cache refreshed every few seconds (and at once on local changes). */
  async #hooks(): Promise<WebhookRecord[]> {
    if (this.#cache && this.#now() - this.#cache.at < this.#cacheTtl) return this.#cache.hooks;
    this.#loading ??= (async () => {
      try {
        const hooks = await this.#repo.list();
        this.#cache = { at: this.#now(), hooks };
        this.#sync(hooks);
        return hooks;
      } catch (error) {
        this.#log.error("webhook list failed to load", { error });
        return this.#cache?.hooks ?? [];
      } finally {
        this.#loading = undefined;
      }
    })();
    return await this.#loading;
  }

  /** Retire the queues of webhooks that are gone; keep the others' records current. */
  #sync(hooks: WebhookRecord[]): void {
    const live = new Map(hooks.map((hook) => [hook.id, hook]));
    for (const [id, target] of this.#targets) {
      const hook = live.get(id);
      if (hook) {
        target.hook = hook;
      } else {
        this.#retire(target);
        this.#targets.delete(id);
      }
    }
  }

  #target(hook: WebhookRecord): Target {
    let target = this.#targets.get(hook.id);
    if (!target) {
      target = { hook, queue: [], inFlight: 0, timer: undefined, dropped: 0, droppedLoggedAt: 0 };
      this.#targets.set(hook.id, target);
    }
    return target;
  }

  #retire(target: Target): void {
    clearTimeout(target.timer);
    target.timer = undefined;
    target.queue = [];
  }

  /** Queue a delivery; a full queue (a dead endpoint) loses its oldest, so memory stays bounded. */
  #enqueue(target: Target, job: Job): void {
    if (target.queue.length >= this.#queueLimit) {
      target.queue.shift();
      target.dropped++;
      const now = this.#now();
      if (now - target.droppedLoggedAt >= DROP_LOG_EVERY_MS) {
        this.#log.warn("webhook queue full: dropped the oldest deliveries", {
          webhook: target.hook.id,
          url: target.hook.url,
          dropped: target.dropped,
        });
        target.droppedLoggedAt = now;
        target.dropped = 0;
      }
    }
    target.queue.push(job);
    this.#drive(target);
  }

  /** Start what is due, up to the concurrency; wake up again when the next retry is due. */
  #drive(target: Target): void {
    clearTimeout(target.timer);
    target.timer = undefined;
    if (this.#closed || this.#targets.get(target.hook.id) !== target) return;
    const now = this.#now();
    while (target.inFlight < this.#concurrency) {
      const index = target.queue.findIndex((job) => job.notBefore <= now);
      if (index < 0) break;
      const [job] = target.queue.splice(index, 1);
      target.inFlight++;
      const run: Promise<void> = this.#attempt(target, job!)
        .catch((error) => this.#log.error("webhook delivery failed", { error }))
        .finally(() => {
          target.inFlight--;
          this.#running.delete(run);
          this.#drive(target);
        });
      this.#running.add(run);
    }
    if (target.inFlight < this.#concurrency && target.queue.length > 0) {
      const due = Math.min(...target.queue.map((job) => job.notBefore));
      target.timer = setTimeout(() => this.#drive(target), Math.max(0, due - now));
    }
  }

  /** One call: sign, POST with a time limit, record the attempt, and requeue a retryable failure. */
  async #attempt(target: Target, job: Job): Promise<void> {
    const hook = target.hook;
    const attempt = job.attempts + 1;
    const at = this.#now();
    const body = JSON.stringify({
      event: job.event,
      delivery: job.delivery,
      message: job.message,
      room: job.room,
      deliveredAt: at,
    });
    const timestamp = String(Math.floor(at / 1000));
    const controller = new AbortController();
    this.#calls.add(controller);
    const timer = setTimeout(
      () => controller.abort(new DOMException("timed out", "TimeoutError")),
      this.#timeoutMs,
    );
    const started = performance.now();
    let status: number | undefined;
    let error: string | undefined;
    try {
      const response = await this.#fetch(hook.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "user-agent": "Parley-Webhooks/1",
          "x-parley-event": job.event,
          "x-parley-delivery": job.delivery,
          "x-parley-attempt": String(attempt),
          "x-parley-timestamp": timestamp,
          "x-parley-signature": signature(hook.secret, timestamp, body),
        },
        body,
        // Never follow a redirect to wherever it points; the admin registered this URL.
        redirect: "manual",
        signal: controller.signal,
      });
      status = response.status;
      await response.body?.cancel().catch(() => {});
    } catch (cause) {
      const reason = controller.signal.aborted ? controller.signal.reason : cause;
      error = reason instanceof DOMException && reason.name === "TimeoutError"
        ? `timed out after ${this.#timeoutMs} ms`
        : reason instanceof Error
        ? reason.message
        : String(reason);
    } finally {
      clearTimeout(timer);
      this.#calls.delete(controller);
    }
    // Aborted by close(), or the webhook was removed meanwhile: nothing to record or retry.
    if (this.#closed || this.#targets.get(hook.id) !== target) return;
    const durationMs = Math.round(performance.now() - started);
    const retryable = status === undefined || status >= 500 || status === 408 || status === 429;
    const ok = status !== undefined && status >= 200 && status < 300;
    const delay = this.#retryDelays[attempt - 1];
    const outcome = ok ? "delivered" : retryable && delay !== undefined ? "retrying" : "failed";
    const retryAt = outcome === "retrying" ? this.#now() + delay! : undefined;
    const entry: DeliveryEntry = {
      delivery: job.delivery,
      event: job.event,
      room: job.message.room,
      seq: job.message.seq,
      attempt,
      at,
      ...(status === undefined ? {} : { status }),
      ...(error === undefined ? {} : { error }),
      durationMs,
      outcome,
      ...(retryAt === undefined ? {} : { retryAt }),
    };
    if (outcome === "failed") {
      this.#log.warn("webhook delivery failed", { webhook: hook.id, url: hook.url, ...entry });
    }
    if (retryAt !== undefined) {
      this.#enqueue(target, { ...job, attempts: attempt, notBefore: retryAt });
    }
    await this.#record(hook.id, entry);
  }

  /** Append to the webhook's delivery log, keeping it to the last `logLimit` entries. */
  async #record(id: string, entry: DeliveryEntry): Promise<void> {
    try {
      await this.#repo.logDelivery(id, entry, { expireIn: LOG_TTL_MS });
      const writes = (this.#logWrites.get(id) ?? 0) + 1;
      this.#logWrites.set(id, writes % TRIM_EVERY);
      if (writes >= TRIM_EVERY) await this.#repo.trimDeliveries(id, this.#logLimit);
    } catch (error) {
      this.#log.warn("webhook delivery log write failed", { webhook: id, error });
    }
  }

  // ---- administration ---------------------------------------------------------------------------

  /** `/api/admin/webhooks...`, for server admins. */
  routes(): RouteExtension {
    return async (request, { path, principal }) => {
      if (path !== "/api/admin/webhooks" && !path.startsWith("/api/admin/webhooks/")) return null;
      const caller = await principal();
      if (!caller) return apiError(401, "unauthorized", "Not signed in.");
      if (caller.role !== "admin") return apiError(403, "forbidden", "Server admins only.");
      const method = request.method;
      if (path === "/api/admin/webhooks") {
        if (method === "GET") {
          const hooks = await this.#repo.list();
          return json(200, { webhooks: hooks.map((hook) => this.#shown(hook)) });
        }
        if (method === "POST") return await this.#create(request, caller.user.id);
        return apiError(405, "method_not_allowed", "GET or POST.");
      }
      const [, id, sub, ...rest] =
        /^\/api\/admin\/webhooks\/([0-9a-f]{16})(?:\/([a-z]+))?(\/.*)?$/.exec(path) ?? [];
      if (!id || rest.some((part) => part !== undefined)) {
        return apiError(404, "not_found", "No such webhook.");
      }
      const hook = await this.#repo.get(id);
      if (!hook) return apiError(404, "not_found", "No such webhook.");
      if (sub === "deliveries" && method === "GET") {
        const asked = Number(new URL(request.url).searchParams.get("limit") ?? this.#logLimit);
        const limit = Number.isSafeInteger(asked) && asked > 0
          ? Math.min(asked, this.#logLimit)
          : this.#logLimit;
        return json(200, { deliveries: await this.#repo.deliveries(id, limit) });
      }
      if (sub !== undefined) return apiError(404, "not_found", "Not found.");
      if (method === "GET") return json(200, this.#shown(hook));
      if (method === "DELETE") {
        await this.#repo.remove(id); // its delivery log too
        this.#forget(id);
        this.#log.info("webhook removed", { webhook: id, by: caller.user.id });
        return noContent();
      }
      return apiError(405, "method_not_allowed", "GET or DELETE.");
    };
  }

  async #create(request: Request, by: string): Promise<Response> {
    const body = await readBody(request, WebhookCreate);
    if (!body.ok) return body.response;
    const { url, room, events, secret } = body.value;
    if (room !== undefined && !(await this.#hub.store.getRoom(room))) {
      return apiError(404, "room_not_found", `No room named "${room}".`);
    }
    const hook: WebhookRecord = {
      id: randomBytes(8).toString("hex"),
      url,
      ...(room === undefined ? {} : { room }),
      events: events ? [...new Set(events)] : [...WEBHOOK_EVENTS],
      secret: secret ?? `whsec_${randomBytes(32).toString("base64url")}`,
      createdAt: this.#now(),
      createdBy: by,
    };
    await this.#repo.put(hook);
    this.#cache = undefined; // this instance sees it at once; others within the cache TTL
    this.#log.info("webhook added", { webhook: hook.id, url, room: room ?? "*", by });
    return json(201, { ...this.#shown(hook), secret: hook.secret });
  }

  #forget(id: string): void {
    this.#cache = undefined;
    const target = this.#targets.get(id);
    if (target) this.#retire(target);
    this.#targets.delete(id);
    this.#logWrites.delete(id);
  }

  #shown(hook: WebhookRecord): Record<string, unknown> {
    const { secret: _, ...rest } = hook;
    return { ...rest, queued: this.pending(hook.id) };
  }
}

function matches(hook: WebhookRecord, message: Message, event: WebhookEvent): boolean {
  if (!hook.events.includes(event)) return false;
  if (hook.room !== undefined) return hook.room === message.room;
  // Direct messages are between two people: a server-wide hook does not see them.
  return !message.room.startsWith("dm-");
}
