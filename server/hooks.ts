/**
 * Hooks: an application's say around connecting, joining, sending and presence, each run
 * with a deadline; a hook may rewrite what it is shown, or refuse it.
 */
import { ERROR_CODES, ProtocolError } from "../protocol/errors.ts";
import type { Member, Message, RoomInfo } from "../protocol/messages.ts";
import type { ServerRole } from "../protocol/permissions.ts";
import type { Principal } from "./auth/types.ts";
import type { Logger } from "./log.ts";

/** The user as hooks see them, with any fields an `onConnect` hook added. */
export interface HookUser {
  id: string;
  name: string;
  role: ServerRole;
  fields: Record<string, unknown>;
}

/** Refuse with a reason; the client gets the error code `refused` and this message. */
export interface Refusal {
  refuse: string;
}

/** A draft message as `beforeSend` sees it. */
export interface SendDraft {
  room: string;
  text: string;
  author: Member;
  /** "text" for a new message, "edit" for new text on an earlier one. */
  kind: "text" | "edit";
}

export interface PresenceEvent {
  room: string;
  joins: Member[];
  leaves: Member[];
}

/**
 * Hooks run in the order given, each awaited. One that throws or runs past its time
 * is logged and answered with `internal`; nothing is committed in that case.
 */
export interface Hooks {
  /** Before the WebSocket opens: refuse, or add fields to the user. */
  onConnect?(
    user: HookUser,
    request: Request,
  ): Promise<void | Refusal | { fields: Record<string, unknown> }>;
  beforeJoin?(user: HookUser, room: RoomInfo): Promise<void | Refusal>;
  /** Refuse, or rewrite the text; later hooks see the rewritten draft. */
  beforeSend?(message: SendDraft, context: { user: HookUser }): Promise<
    void | Refusal | {
      text: string;
    }
  >;
  /** After the commit; never delays the sender's reply. */
  afterSend?(message: Message): Promise<void> | void;
  onPresence?(event: PresenceEvent): Promise<void> | void;
}

export const DEFAULT_HOOK_TIMEOUT_MS = 2000;

/** Runs the application's hooks with a time limit, turning failures into protocol errors. */
export class HookRunner {
  readonly #hooks: Hooks[];
  readonly #log: Logger;
  readonly #timeoutMs: number;

  constructor(hooks: Hooks[], log: Logger, timeoutMs = DEFAULT_HOOK_TIMEOUT_MS) {
    this.#hooks = hooks;
    this.#log = log;
    this.#timeoutMs = timeoutMs;
  }

  get empty(): boolean {
    return this.#hooks.length === 0;
  }

  /** Fields to add to the user; throws ProtocolError when refused or failed. */
  async onConnect(user: HookUser, request: Request): Promise<Record<string, unknown>> {
    const fields = { ...user.fields };
    for (const hooks of this.#hooks) {
      if (!hooks.onConnect) continue;
      const verdict = await this.#run(
        "onConnect",
        () => hooks.onConnect!({ ...user, fields }, request),
      );
      refuseIf(verdict);
      if (verdict && "fields" in verdict) Object.assign(fields, verdict.fields);
    }
    return fields;
  }

  async beforeJoin(user: HookUser, room: RoomInfo): Promise<void> {
    for (const hooks of this.#hooks) {
      if (hooks.beforeJoin) {
        refuseIf(await this.#run("beforeJoin", () => hooks.beforeJoin!(user, room)));
      }
    }
  }

  /** The text to commit, after every hook had its say. */
  async beforeSend(draft: SendDraft, user: HookUser): Promise<string> {
    let text = draft.text;
    for (const hooks of this.#hooks) {
      if (!hooks.beforeSend) continue;
      const verdict = await this.#run(
        "beforeSend",
        () => hooks.beforeSend!({ ...draft, text }, { user }),
      );
      refuseIf(verdict);
      if (verdict && "text" in verdict) {
        if (typeof verdict.text !== "string" || verdict.text.trim() === "") {
          this.#log.error("hook failed", { hook: "beforeSend", error: "rewrote to empty text" });
          throw new ProtocolError("internal", ERROR_CODES.internal);
        }
        text = verdict.text;
      }
    }
    return text;
  }

  /** Fire and forget: the commit has happened and the sender has their answer. */
  afterSend(message: Message): void {
    for (const hooks of this.#hooks) {
      if (hooks.afterSend) {
        this.#run("afterSend", async () => await hooks.afterSend!(message)).catch(() => {});
      }
    }
  }

  onPresence(event: PresenceEvent): void {
    for (const hooks of this.#hooks) {
      if (hooks.onPresence) {
        this.#run("onPresence", async () => await hooks.onPresence!(event)).catch(() => {});
      }
    }
  }

  async #run<T>(name: string, call: () => Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`timed out after ${this.#timeoutMs} ms`)),
        this.#timeoutMs,
      );
    });
    try {
      return await Promise.race([Promise.resolve().then(call), timeout]);
    } catch (error) {
      this.#log.error("hook failed", { hook: name, error });
      throw new ProtocolError("internal", ERROR_CODES.internal);
    } finally {
      clearTimeout(timer);
    }
  }
}

function refuseIf(verdict: unknown): void {
  if (verdict && typeof verdict === "object" && "refuse" in verdict) {
    throw new ProtocolError("refused", String((verdict as Refusal).refuse));
  }
}

export function hookUser(principal: Principal): HookUser {
  return {
    id: principal.user.id,
    name: principal.user.name,
    role: principal.role,
    fields: principal.fields ?? {},
  };
}
