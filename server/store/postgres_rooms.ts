/** Per-room access and the moderation log in PostgreSQL tables. */
import type { ModerationEvent } from "../../protocol/messages.ts";
import type { RoomRole } from "../../protocol/permissions.ts";
import { json, type PgContext } from "./postgres_context.ts";
import { clean } from "./postgres_schema.ts";
import type {
  AccessRepository,
  ModlogPage,
  ModlogRepository,
  Restriction,
  RestrictionKind,
  RoomAccessState,
  RoomInvitation,
} from "./repositories.ts";

type AccessRow =
  | { kind: "role"; user_id: string; value: RoomRole }
  | { kind: "inv"; user_id: string; value: RoomInvitation }
  | { kind: "ban"; user_id: string; value: Restriction }
  | { kind: "mute"; user_id: string; value: Restriction }
  | { kind: "dm"; user_id: null; value: string[] };

export class PgAccess implements AccessRepository {
  constructor(readonly pg: PgContext) {}

  load(room: string): Promise<RoomAccessState> {
    return this.pg.guarded(async () => {
      // One round trip for the whole room: AccessControl reads it on every cache miss.
      const rows = await this.pg.sql<AccessRow[]>`
        SELECT 'role' AS kind, user_id, to_jsonb(role) AS value
          FROM room_roles WHERE room = ${room}
        UNION ALL
        SELECT 'inv', user_id, jsonb_build_object('by', by_user, 'ts', ts)
          FROM room_invitations WHERE room = ${room}
        UNION ALL
        SELECT kind, user_id, jsonb_build_object('until', until_ts, 'reason', reason, 'ts', ts,
            'by', jsonb_build_object('id', by_id, 'name', by_name))
          FROM room_restrictions WHERE room = ${room}
        UNION ALL
        SELECT 'dm', NULL, to_jsonb(peers) FROM dm_peers WHERE room = ${room}`;
      const state: RoomAccessState = {
        roles: new Map(),
        invited: new Map(),
        bans: new Map(),
        mutes: new Map(),
        peers: null,
      };
      for (const row of rows) {
        if (row.kind === "role") state.roles.set(row.user_id, row.value);
        else if (row.kind === "inv") state.invited.set(row.user_id, row.value);
        else if (row.kind === "ban") state.bans.set(row.user_id, row.value);
        else if (row.kind === "mute") state.mutes.set(row.user_id, row.value);
        else state.peers = row.value;
      }
      return state;
    });
  }

  setRole(room: string, userId: string, role: RoomRole | null): Promise<void> {
    return this.pg.guarded(async () => {
      if (role === null) {
        await this.pg.sql`DELETE FROM room_roles WHERE room = ${room} AND user_id = ${userId}`;
        return;
      }
      await this.pg.sql`
        INSERT INTO room_roles (room, user_id, role) VALUES (${room}, ${userId}, ${role})
        ON CONFLICT (room, user_id) DO UPDATE SET role = excluded.role`;
    });
  }

  invite(room: string, userId: string, invitation: RoomInvitation): Promise<void> {
    return this.pg.guarded(async () => {
      await this.pg.sql`
        INSERT INTO room_invitations (room, user_id, by_user, ts)
        VALUES (${room}, ${userId}, ${invitation.by}, ${invitation.ts}::int8)
        ON CONFLICT (room, user_id) DO UPDATE SET by_user = excluded.by_user, ts = excluded.ts`;
    });
  }

  uninvite(room: string, userId: string): Promise<void> {
    return this.pg.guarded(async () => {
      await this.pg.sql`
        DELETE FROM room_invitations WHERE room = ${room} AND user_id = ${userId}`;
    });
  }

  restrict(kind: RestrictionKind, room: string, userId: string, r: Restriction): Promise<void> {
    return this.pg.guarded(async () => {
      await this.pg.sql`
        INSERT INTO room_restrictions (room, kind, user_id, until_ts, by_id, by_name, reason, ts)
        VALUES (${room}, ${kind}, ${userId}, ${r.until}::int8, ${r.by.id}, ${clean(r.by.name)},
          ${clean(r.reason)}, ${r.ts}::int8)
        ON CONFLICT (room, kind, user_id) DO UPDATE SET until_ts = excluded.until_ts,
          by_id = excluded.by_id, by_name = excluded.by_name, reason = excluded.reason,
          ts = excluded.ts`;
    });
  }

  lift(kind: RestrictionKind, room: string, userId: string): Promise<void> {
    return this.pg.guarded(async () => {
      await this.pg.sql`
        DELETE FROM room_restrictions
        WHERE room = ${room} AND kind = ${kind} AND user_id = ${userId}`;
    });
  }

  setPeers(room: string, peers: string[]): Promise<void> {
    return this.pg.guarded(async () => {
      await this.pg.sql`
        INSERT INTO dm_peers (room, peers) VALUES (${room}, ${peers}::text[])
        ON CONFLICT (room) DO UPDATE SET peers = excluded.peers`;
    });
  }

  forget(room: string): Promise<void> {
    return this.pg.guarded(async () => {
      await this.pg.sql`
        WITH r AS (DELETE FROM room_roles WHERE room = ${room}),
          i AS (DELETE FROM room_invitations WHERE room = ${room}),
          b AS (DELETE FROM room_restrictions WHERE room = ${room})
        DELETE FROM dm_peers WHERE room = ${room}`;
    });
  }
}

/**
 * The log orders by (ts, n), n from an identity: the order entries reached PostgreSQL in,
 * cluster-wide. This instance sends its appends one at a time, so that order is also the
 * order of its calls, as in the other adapters (a mute, then a ban, in one millisecond).
 */
export class PgModlog implements ModlogRepository {
  #last: Promise<unknown> = Promise.resolve();

  constructor(readonly pg: PgContext) {}

  append(event: ModerationEvent): Promise<void> {
    const run = () =>
      this.pg.guarded(async () => {
        await this.pg.sql`
          INSERT INTO modlog (room, ts, event)
          VALUES (${event.room}, ${Math.floor(event.ts)}::int8, ${json(event)}::text::jsonb)`;
      });
    const done = this.#last.then(run, run);
    this.#last = done.catch(() => {});
    return done;
  }

  page(room: string, query: { before?: number; limit: number }): Promise<ModlogPage> {
    const before = query.before === undefined ? null : Math.floor(query.before);
    return this.pg.guarded(async () => {
      const rows = await this.pg.sql<{ event: ModerationEvent }[]>`
        SELECT event FROM modlog
        WHERE room = ${room} AND (${before}::int8 IS NULL OR ts < ${before}::int8)
        ORDER BY ts DESC, n DESC
        LIMIT ${query.limit + 1}::int8`;
      return {
        entries: rows.slice(0, query.limit).map((row) => row.event),
        hasMore: rows.length > query.limit,
      };
    });
  }

  forget(room: string): Promise<void> {
    return this.pg.guarded(async () => {
      await this.pg.sql`DELETE FROM modlog WHERE room = ${room}`;
    });
  }
}
