/**
 * Timeline commands: send, edit, delete and react to entries, read history, move read
 * markers, show typing, and apply retention. Every entry is committed before anyone sees
 * it, through one path (#append), so fan-out, commit listeners (webhooks) and reconnect
 * replay see every kind alike.
 */
import { ProtocolError } from "../../protocol/errors.ts";
import { LIMITS } from "../../protocol/limits.ts";
import type { Message, ResultOf } from "../../protocol/messages.ts";
import { allowed } from "../../protocol/permissions.ts";
import { forbidden, type RoomStanding } from "../access.ts";
import type { Connection } from "../fanout.ts";
import { hookUser } from "../hooks.ts";
import type { EntryDraft, EntryGuard } from "../store/types.ts";
import { resolveExtras, type SendExtras } from "./message_extras.ts";
import type { Shared } from "./shared.ts";

export type { SendExtras };

export class TimelineCommands {
  readonly #s: Shared;
  readonly #commitListeners = new Set<(message: Message) => void>();

  constructor(shared: Shared) {
    this.#s = shared;
  }

  /**
   * Commit a message and push it to the room. `committed`, if given, is called with the
   * result in the same microtask as the push, so a reply sent from it goes out in the
   * sender's same frame as the message itself. `text` may be empty only with a file.
   */
  async send(
    conn: Connection,
    room: string,
    text: string,
    nonce: string,
    committed?: (result: ResultOf<"send">) => void,
    extras?: SendExtras,
  ): Promise<ResultOf<"send">> {
    if (extras?.file === undefined && text.trim() === "") {
      throw new ProtocolError("text_empty", "Write something, or attach a file.");
    }
    const limited = this.#s.limit(conn.principal, "message");
    if (limited) await limited;
    const standing = (this.#s.authorizeNow(conn, room, "send") ??
      await this.#s.authorize(conn, room, "send")).standing;
    const hooks = this.#s.hooks;
    const final = hooks
      ? await hooks.beforeSend(
        { room, text, author: conn.user, kind: "text" },
        hookUser(conn.principal),
      )
      : text;
    // Most messages mention no one, reply to nothing and carry no file: nothing to look up.
    const resolved = extras === undefined && !final.includes("@")
      ? undefined
      : await resolveExtras(this.#s, room, conn.user.id, final, extras, mayMentionRoom(standing));
    const result = await this.#append(
      {
        kind: "text",
        room,
        author: conn.user,
        text: final,
        nonce,
        ...resolved,
      },
      undefined,
      committed,
    );
    if (!result.duplicate) {
      this.#s.fanout.stoppedTyping(room, conn.user.id);
      hooks?.afterSend(result.message);
    }
    return result;
  }

  /** Authors may edit their own messages. */
  async edit(conn: Connection, room: string, seq: number, text: string): Promise<ResultOf<"edit">> {
    if (this.#s.features.edits === false) {
      throw forbidden("edit.own", room, "Editing messages is switched off on this server.");
    }
    await this.#s.limit(conn.principal, "message");
    await this.#s.authorize(conn, room, "edit.own");
    if (this.#s.hooks) {
      text = await this.#s.hooks.beforeSend(
        { room, text, author: conn.user, kind: "edit" },
        hookUser(conn.principal),
      );
    }
    const guard: EntryGuard = (target) => {
      if (target.author.id !== conn.user.id) {
        throw new ProtocolError("forbidden", "Only the author can edit a message.");
      }
    };
    const { message } = await this.#append({
      kind: "edit",
      room,
      author: conn.user,
      target: seq,
      text,
    }, guard);
    return { message };
  }

  /** Authors may delete their own messages, moderators anyone's. */
  async delete(conn: Connection, room: string, seq: number): Promise<ResultOf<"delete">> {
    await this.#s.limit(conn.principal, "message");
    const { standing } = await this.#s.authorize(conn, room, "delete.own");
    const moderates = allowed("delete.any", standing);
    const guard: EntryGuard = (target) => {
      if (target.author.id !== conn.user.id && !moderates) throw forbidden("delete.any", room);
    };
    const { message } = await this.#append(
      { kind: "delete", room, author: conn.user, target: seq },
      guard,
    );
    return { message };
  }

  /**
   * Add the caller's reaction to a text message, or take it back. Whoever may read the
   * room as a member may react, announcement rooms included; guests only where they may
   * post; a muted member may take reactions back but not add them. A repeat changes
   * nothing on the target. Spends the message budget.
   */
  async react(
    conn: Connection,
    room: string,
    seq: number,
    emoji: string,
    remove: boolean,
  ): Promise<ResultOf<"react">> {
    await this.#s.limit(conn.principal, "message");
    // delete.own is exactly "a member of the room" (and a joined connection).
    const { record, standing } = await this.#s.authorize(conn, room, "delete.own");
    if (conn.principal.role === "guest" && record.kind !== "public") {
      throw forbidden("send", room, "Guests react only where they may post.");
    }
    if (!remove) this.#s.refuseMuted(room, standing);
    const { message } = await this.#append({
      kind: "react",
      room,
      author: conn.user,
      target: seq,
      emoji,
      ...(remove ? { remove: true } : {}),
    });
    return { message };
  }

  async history(
    conn: Connection,
    room: string,
    query: { before?: number; after?: number; limit?: number },
  ): Promise<{ messages: Message[]; hasMore: boolean }> {
    this.#s.fanout.requireJoined(conn, room);
    const { before, after } = query;
    return await this.#s.store.history(room, {
      limit: query.limit ?? LIMITS.historyPageDefault,
      ...(before === undefined ? {} : { before }),
      ...(after === undefined ? {} : { after }),
    });
  }

  /** Move the caller's read marker; their other devices and, with receipts on, the room hear of it. */
  async read(conn: Connection, room: string, seq: number): Promise<ResultOf<"read">> {
    this.#s.fanout.requireJoined(conn, room);
    const record = await this.#s.access.room(room);
    if (!record) throw new ProtocolError("room_not_found", `No room named "${room}".`);
    const { seq: marker, moved } = await this.#s.store.setReadMarker(room, conn.user.id, seq);
    if (moved) {
      this.#s.fanout.toUser(conn.user.id, { type: "read", room, seq: marker }, conn);
      if (record.receipts) {
        this.#s.fanout.broadcast(room, { type: "receipt", room, user: conn.user, seq: marker });
      }
    }
    return { seq: marker };
  }

  /** Typing indicators are throttled by the fan-out, so a chatty client cannot flood the room. */
  typing(conn: Connection, room: string, active: boolean): void {
    this.#s.fanout.typing(conn, room, active);
  }

  /** Apply retention to every room (its own limits, else the server's). */
  async sweep(now: number = this.#s.now()): Promise<number> {
    let removed = 0;
    for (const room of await this.#s.store.listRooms()) {
      const retention = room.retention ?? this.#s.retention;
      if (retention) removed += (await this.#s.store.prune(room.name, retention, now)).removed;
    }
    return removed;
  }

  /**
   * Call `listener` with every entry this instance commits (text, edit, delete, react), after
   * the commit and the broadcast. Listeners must not block: queue the work elsewhere.
   */
  onCommit(listener: (message: Message) => void): () => void {
    this.#commitListeners.add(listener);
    return () => this.#commitListeners.delete(listener);
  }

  /** Commit an entry and push it to the room. */
  async #append(
    draft: EntryDraft,
    guard?: EntryGuard,
    committed?: (result: ResultOf<"send">) => void,
  ): Promise<ResultOf<"send">> {
    const result = await this.#s.store.append(draft, guard);
    if (!result.duplicate) {
      this.#s.fanout.committed(result.message);
    }
    // Right after the push, in the same microtask: both leave in one flush.
    committed?.(result);
    if (!result.duplicate) {
      for (const listener of this.#commitListeners) {
        try {
          listener(result.message);
        } catch {
          // A listener's failure is its own; the commit stands and the sender gets its reply.
        }
      }
    }
    return result;
  }
}

/** `@room` notifies everyone: only the room's moderators and owners may. */
function mayMentionRoom(standing: RoomStanding): boolean {
  return allowed("delete.any", standing);
}
