/**
 * People and rooms to pick from: the room directory's pages, and the people the user
 * shares rooms with (for starting a direct message), gathered from `room.members` of
 * the rooms they belong to and cached.
 */
import type { Member, RoomInfo } from "../../protocol/messages.ts";
import { cachedMembers } from "./composer_mentions.ts";

/** Rooms a page adds to what is listed, each once, in the order the server gave them. */
export function mergeRooms(held: readonly RoomInfo[], page: readonly RoomInfo[]): RoomInfo[] {
  const names = new Set(held.map((r) => r.name));
  return [...held, ...page.filter((r) => !names.has(r.name))];
}

/** How many rooms' member lists are asked for, at most, to suggest people. */
const ROOMS_ASKED = 25;

/**
 * Everyone in the rooms the user is a member of (dm peers included), each once, by
 * name; never the user. Member lists that cannot be had are skipped.
 */
export async function knownPeople(
  rooms: readonly RoomInfo[],
  me: string | undefined,
  fetch: (room: string) => Promise<Member[]>,
): Promise<Member[]> {
  const byId = new Map<string, Member>();
  for (const room of rooms) for (const p of room.peers ?? []) byId.set(p.id, p);
  const asked = rooms.filter((r) => r.member && r.kind !== "dm").slice(0, ROOMS_ASKED);
  const lists = await Promise.all(
    asked.map((r) => cachedMembers(r.name, fetch).catch(() => [] as Member[])),
  );
  for (const list of lists) for (const m of list) byId.set(m.id, m);
  if (me) byId.delete(me);
  return [...byId.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** People whose name starts with `query` first, then those containing it; at most `limit`. */
export function matchPeople(people: readonly Member[], query: string, limit = 8): Member[] {
  const q = query.trim().toLowerCase();
  if (q === "") return people.slice(0, limit);
  const starts = people.filter((p) => p.name.toLowerCase().startsWith(q));
  const contains = people.filter((p) =>
    !p.name.toLowerCase().startsWith(q) && p.name.toLowerCase().includes(q)
  );
  return [...starts, ...contains].slice(0, limit);
}
