/**
 * Redis Presence, after Centrifuge's Redis presence manager, with entries per connection.
 *
 * Keys (room names and user ids hold no newline):
 * - `<prefix>:p:<room>` ZSET userId -> the latest expiry of the user's entries in the room:
 *   snapshots and counts read it alone, whatever the number of connections;
 * - `<prefix>:pu:<room>` HASH userId -> Member JSON;
 * - `<prefix>:pe:<room>\n<userId>` ZSET "instance\nconn" -> expiry: the user's entries, so
 *   "first" and "last" look at one user's few entries, never at the whole room;
 * - `<prefix>:pi:<instance>` SET "room\nuserId\nconn": what `refresh` keeps alive.
 *
 * Every call is one Lua script, so first/last answers and expiry reports are atomic across
 * processes: a sweep removes an expired user and returns them in one step, so exactly one
 * caller reports them. Scripts read the clock with Redis TIME (allowed since Redis 5 and the
 * only mode in 7), so processes with skewed clocks agree on who expired. Keys expire 2×ttl
 * after their last write, so the keys of rooms that nobody sweeps any more do not stay.
 * Scripts build some key names themselves: standalone Redis only, not Redis Cluster.
 */
import type { Member } from "../../protocol/messages.ts";
import {
  closeRedis,
  connectRedis,
  DEFAULT_PREFIX,
  LuaScript,
  type Redis,
} from "../redis/client.ts";
import type { Expired, Presence } from "./types.ts";

const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function str(n) return string.format('%.0f', n) end
`;

/** KEYS p, pu, pe, pi; ARGV userId, member JSON, "instance\nconn", "room\nuser\nconn", ttl. */
const ADD = new LuaScript(`${NOW}
local ttl = tonumber(ARGV[5])
local present = redis.call('ZCOUNT', KEYS[3], '(' .. str(now), '+inf') > 0
local expires = str(now + ttl)
redis.call('ZADD', KEYS[3], expires, ARGV[3])
redis.call('ZADD', KEYS[1], 'GT', expires, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[4], ARGV[4])
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], 2 * ttl) end
if present then return 0 end
return 1`);

/** KEYS p, pu, pe, pi; ARGV userId, "instance\nconn", "room\nuser\nconn". */
const REMOVE = new LuaScript(`${NOW}
redis.call('SREM', KEYS[4], ARGV[3])
if redis.call('ZREM', KEYS[3], ARGV[2]) == 0 then return 0 end
if redis.call('ZCOUNT', KEYS[3], '(' .. str(now), '+inf') > 0 then
  local top = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
  redis.call('ZADD', KEYS[1], top[2], ARGV[1])
  return 0
end
-- Entries of other instances that expired go with it: this is the one report.
redis.call('DEL', KEYS[3])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1`);

/**
 * KEYS pi; ARGV prefix, instance, ttl, rooms to sweep...
 * Keeps this instance's entries alive, then removes the users of the given rooms whose
 * entries all expired and returns them as room, member JSON, room, member JSON...
 */
const REFRESH = new LuaScript(`${NOW}
local prefix, instance, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local expires = str(now + ttl)
local touched = {}
for _, index in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local room, user, conn = string.match(index, '^([^\\n]*)\\n([^\\n]*)\\n(.*)$')
  local pe = room and (prefix .. ':pe:' .. room .. '\\n' .. user)
  local entry = room and (instance .. '\\n' .. conn)
  -- Swept by another instance while we did not refresh: it is gone for good.
  if pe and redis.call('ZSCORE', pe, entry) then
    redis.call('ZADD', pe, 'XX', expires, entry)
    redis.call('PEXPIRE', pe, 2 * ttl)
    redis.call('ZADD', prefix .. ':p:' .. room, 'GT', expires, user)
    touched[room] = true
  else
    redis.call('SREM', KEYS[1], index)
  end
end
for room in pairs(touched) do
  redis.call('PEXPIRE', prefix .. ':p:' .. room, 2 * ttl)
  redis.call('PEXPIRE', prefix .. ':pu:' .. room, 2 * ttl)
end
redis.call('PEXPIRE', KEYS[1], 2 * ttl)
local gone = {}
for i = 4, #ARGV do
  local room = ARGV[i]
  local p, pu = prefix .. ':p:' .. room, prefix .. ':pu:' .. room
  for _, user in ipairs(redis.call('ZRANGEBYSCORE', p, '-inf', str(now))) do
    local pe = prefix .. ':pe:' .. room .. '\\n' .. user
    redis.call('ZREMRANGEBYSCORE', pe, '-inf', str(now))
    local top = redis.call('ZRANGE', pe, -1, -1, 'WITHSCORES')
    if top[2] then
      redis.call('ZADD', p, top[2], user)
    else
      redis.call('DEL', pe)
      redis.call('ZREM', p, user)
      gone[#gone + 1] = room
      gone[#gone + 1] = redis.call('HGET', pu, user) or user
      redis.call('HDEL', pu, user)
    end
  end
end
return gone`);

/** KEYS p, pu: the live users as userId, member JSON, userId, member JSON... */
const SNAPSHOT = new LuaScript(`${NOW}
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. str(now), '+inf')
local out = {}
-- HMGET in slices: unpack() of a very large room would overflow the Lua stack.
for first = 1, #ids, 500 do
  local slice = {}
  for i = first, math.min(first + 499, #ids) do slice[#slice + 1] = ids[i] end
  local members = redis.call('HMGET', KEYS[2], unpack(slice))
  for i, id in ipairs(slice) do
    out[#out + 1] = id
    out[#out + 1] = members[i] or id
  end
end
return out`);

/** KEYS p of each room: how many users are live in each. */
const COUNTS = new LuaScript(`${NOW}
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('ZCOUNT', key, '(' .. str(now), '+inf') end
return out`);

/** KEYS pi; ARGV prefix, instance: drop every entry of this instance, reporting nothing. */
const CLOSE = new LuaScript(`${NOW}
local prefix, instance = ARGV[1], ARGV[2]
for _, index in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local room, user, conn = string.match(index, '^([^\\n]*)\\n([^\\n]*)\\n(.*)$')
  if room then
    local p, pu = prefix .. ':p:' .. room, prefix .. ':pu:' .. room
    local pe = prefix .. ':pe:' .. room .. '\\n' .. user
    redis.call('ZREM', pe, instance .. '\\n' .. conn)
    local top = redis.call('ZRANGE', pe, -1, -1, 'WITHSCORES')
    if top[2] then
      redis.call('ZADD', p, top[2], user)
    else
      redis.call('ZREM', p, user)
      redis.call('HDEL', pu, user)
    end
  end
end
redis.call('DEL', KEYS[1])
return 0`);

/** Rooms per COUNTS call: many calls go out pipelined on one connection. */
const COUNTS_CHUNK = 500;

/** A dead process's entries go after this unless refreshed (in-process ones never expire). */
export const REDIS_PRESENCE_TTL_MS = 30_000;

export interface RedisPresenceOptions {
  prefix?: string;
  instanceId?: string;
  /** How long an entry lives without a refresh (default 30 s). */
  ttlMs?: number;
}

export class RedisPresence implements Presence {
  readonly instanceId: string;
  readonly ttlMs: number;
  readonly #prefix: string;
  readonly #instanceKey: string;
  #closed = false;

  /** Open its own connection, closed by `close`; rejects when Redis cannot be reached. */
  static async connect(
    url: string,
    options: RedisPresenceOptions & { connectTimeoutMs?: number } = {},
  ): Promise<RedisPresence> {
    const prefix = options.prefix ?? DEFAULT_PREFIX;
    const client = await connectRedis(url, {
      name: `${prefix}-presence`,
      ...(options.connectTimeoutMs ? { timeoutMs: options.connectTimeoutMs } : {}),
    });
    return new RedisPresence(client, options, true);
  }

  /** On a connection from `connectRedis`, possibly shared; closed by `close` if `owned`. */
  constructor(
    private readonly client: Redis,
    options: RedisPresenceOptions = {},
    private readonly owned = false,
  ) {
    this.instanceId = options.instanceId ?? crypto.randomUUID();
    this.ttlMs = options.ttlMs ?? REDIS_PRESENCE_TTL_MS;
    this.#prefix = options.prefix ?? DEFAULT_PREFIX;
    this.#instanceKey = `${this.#prefix}:pi:${this.instanceId}`;
  }

  async add(room: string, user: Member, conn: string): Promise<boolean> {
    const keys = this.#userKeys(room, user.id);
    const args = [user.id, JSON.stringify(user), this.#entry(conn), `${room}\n${user.id}\n${conn}`];
    return await ADD.run(this.client, keys, [...args, this.ttlMs]) === 1;
  }

  async remove(room: string, userId: string, conn: string): Promise<boolean> {
    const keys = this.#userKeys(room, userId);
    const args = [userId, this.#entry(conn), `${room}\n${userId}\n${conn}`];
    return await REMOVE.run(this.client, keys, args) === 1;
  }

  async snapshot(room: string): Promise<Member[]> {
    const keys = [`${this.#prefix}:p:${room}`, `${this.#prefix}:pu:${room}`];
    const reply = await SNAPSHOT.run(this.client, keys, []) as string[];
    const members: Member[] = [];
    for (let i = 0; i + 1 < reply.length; i += 2) members.push(member(reply[i]!, reply[i + 1]!));
    return members;
  }

  async counts(rooms: string[]): Promise<Map<string, number>> {
    const chunks: Promise<number[]>[] = [];
    for (let i = 0; i < rooms.length; i += COUNTS_CHUNK) {
      const keys = rooms.slice(i, i + COUNTS_CHUNK).map((room) => `${this.#prefix}:p:${room}`);
      chunks.push(COUNTS.run(this.client, keys, []) as Promise<number[]>);
    }
    const counts = (await Promise.all(chunks)).flat();
    return new Map(rooms.map((room, i) => [room, counts[i] ?? 0]));
  }

  async refresh(rooms: string[]): Promise<Expired[]> {
    const args = [this.#prefix, this.instanceId, this.ttlMs, ...rooms];
    const reply = await REFRESH.run(this.client, [this.#instanceKey], args) as string[];
    const expired: Expired[] = [];
    for (let i = 0; i + 1 < reply.length; i += 2) {
      expired.push({ room: reply[i]!, user: member("", reply[i + 1]!) });
    }
    return expired;
  }

  /** Removes this instance's entries (without reporting leaves), then releases the link. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await CLOSE.run(this.client, [this.#instanceKey], [this.#prefix, this.instanceId]);
    } finally {
      if (this.owned) await closeRedis(this.client);
    }
  }

  #entry(conn: string): string {
    return `${this.instanceId}\n${conn}`;
  }

  #userKeys(room: string, userId: string): string[] {
    const p = this.#prefix;
    return [`${p}:p:${room}`, `${p}:pu:${room}`, `${p}:pe:${room}\n${userId}`, this.#instanceKey];
  }
}

/** A stored Member, or (should its JSON be missing) one named after its id. */
function member(id: string, json: string): Member {
  if (json.startsWith("{")) return JSON.parse(json) as Member;
  return { id: id || json, name: id || json };
}
