/**
 * Finding things: `search` over the messages of the rooms the caller belongs to, and the
 * room directory of public and announcement rooms. Both page with opaque cursors
 * (base64url JSON), checked on the way in: a cursor that does not decode is invalid_frame.
 */
import { ProtocolError } from "../../protocol/errors.ts";
import { ROOM_NAME_PATTERN } from "../../protocol/limits.ts";
import type { ResultOf, RoomInfo } from "../../protocol/messages.ts";
import { allowed } from "../../protocol/permissions.ts";
import { forbidden } from "../access.ts";
import type { Principal } from "../auth/types.ts";
import { searchTerms } from "../store/search_terms.ts";
import type { RoomRecord, SearchCursor, SearchQuery } from "../store/types.ts";
import { isOpen, type Shared } from "./shared.ts";

export const SEARCH_PAGE_DEFAULT = 20;
export const DIRECTORY_PAGE_DEFAULT = 50;

export interface SearchRequest {
  text?: string;
  room?: string;
  author?: string;
  from?: number;
  to?: number;
  replyTo?: number;
  cursor?: string;
  limit?: number;
}

export interface DirectoryRequest {
  query?: string;
  cursor?: string;
  limit?: number;
}

/** Which rooms a caller's scope allows (a bot's key); every room when absent. */
export type RoomScope = (room: string) => boolean;

export class SearchCommands {
  readonly #s: Shared;

  constructor(shared: Shared) {
    this.#s = shared;
  }

  /**
   * Text messages, newest first, of the rooms the caller is a member of (and may still
   * read), or of `room` alone, which the caller must be a member of. `replyTo` (a thread)
   * needs `room`. Spends the caller's search budget.
   */
  async search(
    principal: Principal,
    request: SearchRequest,
    scope?: RoomScope,
  ): Promise<ResultOf<"search">> {
    if (request.replyTo !== undefined && request.room === undefined) {
      throw new ProtocolError("invalid_frame", "replyTo: name the room of the thread too.");
    }
    const before = request.cursor === undefined ? undefined : decodeSearchCursor(request.cursor);
    await this.#s.limit(principal, "search");
    const rooms = request.room === undefined
      ? await this.#readableRooms(principal, scope)
      : [await this.#readable(principal, request.room)];
    const limit = request.limit ?? SEARCH_PAGE_DEFAULT;
    const text = request.text?.trim() ?? "";
    const terms = searchTerms(text);
    // Words were asked for but none is searchable (only punctuation): nothing matches.
    if (rooms.length === 0 || (text !== "" && terms.length === 0)) return { messages: [] };
    const query: SearchQuery = {
      rooms,
      terms,
      limit,
      ...(request.author === undefined ? {} : { author: request.author }),
      ...(request.from === undefined ? {} : { from: request.from }),
      ...(request.to === undefined ? {} : { to: request.to }),
      ...(request.replyTo === undefined ? {} : { replyTo: request.replyTo }),
      ...(before ? { before } : {}),
    };
    const page = await this.#s.store.search(query);
    const last = page.messages.at(-1);
    return {
      messages: page.messages,
      ...(page.hasMore && last ? { next: encodeCursor([last.ts, last.room, last.seq]) } : {}),
    };
  }

  /** The rooms the caller belongs to and may read: live ones, within the scope. */
  async #readableRooms(principal: Principal, scope?: RoomScope): Promise<string[]> {
    const names = (await this.#s.store.roomsOf(principal.user.id))
      .filter((name) => !scope || scope(name));
    const readable = await Promise.all(names.map(async (name) => {
      const record = await this.#s.access.room(name);
      return record && await this.#mayRead(record, principal) ? name : null;
    }));
    return readable.filter((name): name is string => name !== null);
  }

  /** One room the caller asked to search: it must exist and they must be a member. */
  async #readable(principal: Principal, name: string): Promise<string> {
    const record = await this.#s.access.room(name);
    if (!record) throw new ProtocolError("room_not_found", `No room named "${name}".`);
    const member = await this.#s.store.isMember(name, principal.user.id);
    if (!member || !(await this.#mayRead(record, principal))) {
      throw forbidden("room.join", name, `Join #${name} to search it.`);
    }
    return name;
  }

  async #mayRead(record: RoomRecord, principal: Principal): Promise<boolean> {
    if (record.disabled) return false;
    const standing = await this.#s.access.standing(
      record,
      principal.user.id,
      principal.role,
      true,
    );
    return !standing.ban && allowed("room.join", standing);
  }

  /**
   * Public and announcement rooms that are not disabled, whose name, title or topic holds
   * `query` (any case), with their member counts: most members first, then by name.
   * Private and direct-message rooms are never listed.
   */
  async directory(
    principal: Principal,
    request: DirectoryRequest,
    scope?: RoomScope,
  ): Promise<ResultOf<"room.directory">> {
    const after = request.cursor === undefined ? undefined : decodeDirectoryCursor(request.cursor);
    const limit = request.limit ?? DIRECTORY_PAGE_DEFAULT;
    const query = request.query?.trim().toLowerCase() ?? "";
    const records = (await this.#s.store.listRooms()).filter((r) =>
      isOpen(r.kind) && !r.disabled && (!scope || scope(r.name)) &&
      (query === "" || [r.name, r.title, r.topic].some((s) => s.toLowerCase().includes(query)))
    );
    const [counts, mine] = await Promise.all([
      Promise.all(records.map((r) => this.#s.store.membersOf(r.name).then((m) => m.length))),
      this.#s.store.roomsOf(principal.user.id),
    ]);
    const listed = records.map((record, i) => ({ record, members: counts[i]! }))
      .sort((a, b) => b.members - a.members || compareNames(a.record.name, b.record.name))
      .filter(({ record, members }) =>
        !after || members < after[0] || (members === after[0] && record.name > after[1])
      );
    const page = listed.slice(0, limit);
    await this.#s.fanout.presence.count(page.map((p) => p.record.name));
    const member = new Set(mine);
    const rooms: RoomInfo[] = page.map(({ record, members }) => ({
      ...this.#s.roomInfo(record),
      members,
      member: member.has(record.name),
    }));
    const last = page.at(-1);
    return {
      rooms,
      ...(listed.length > limit && last
        ? { next: encodeCursor([last.members, last.record.name]) }
        : {}),
    };
  }
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function encodeCursor(value: unknown[]): string {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}

function decodeCursor(cursor: string): unknown {
  try {
    if (!/^[A-Za-z0-9_-]*$/.test(cursor)) throw new Error("not base64url");
    const binary = atob(cursor.replace(/-/g, "+").replace(/_/g, "/"));
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
}

function badCursor(): ProtocolError {
  return new ProtocolError("invalid_frame", "cursor: pass `next` from the previous page as is.");
}

/** A search cursor: where the previous page ended (ts, room, seq of its last message). */
export function decodeSearchCursor(cursor: string): SearchCursor {
  const value = decodeCursor(cursor);
  if (!Array.isArray(value) || value.length !== 3) throw badCursor();
  const [ts, room, seq] = value;
  if (
    typeof ts !== "number" || !Number.isFinite(ts) || typeof room !== "string" ||
    !ROOM_NAME_PATTERN.test(room) || !Number.isSafeInteger(seq) || (seq as number) < 1
  ) throw badCursor();
  return { ts, room, seq: seq as number };
}

/** A directory cursor: the member count and name of the previous page's last room. */
function decodeDirectoryCursor(cursor: string): [number, string] {
  const value = decodeCursor(cursor);
  if (!Array.isArray(value) || value.length !== 2) throw badCursor();
  const [members, name] = value;
  if (
    !Number.isSafeInteger(members) || (members as number) < 0 || typeof name !== "string" ||
    !ROOM_NAME_PATTERN.test(name)
  ) throw badCursor();
  return [members as number, name];
}
