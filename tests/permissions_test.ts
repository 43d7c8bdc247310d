/**
 * The whole permission matrix, over real sockets: every actor × every action × every
 * room kind, each case in a fresh room, allowed or refused as the table says. The
 * table is written out here on purpose, apart from protocol/permissions.ts, so a change
 * to the rules has to change both.
 */
import assert from "node:assert/strict";
import type { RequestBody, RequestType } from "../protocol/messages.ts";
import { RequestFailed, ROOT, startServer, TestClient, type TestServer } from "./helpers.ts";

const ACTORS = ["admin", "owner", "moderator", "member", "outsider", "invited", "guest"] as const;
type Actor = (typeof ACTORS)[number];
const ALL = ACTORS.join(" ");
const STAFF = "admin owner moderator";
const MEMBERS = "admin owner moderator member invited";

/** Who may, per room kind. Actors try to join first, so "outsider" joins open rooms. */
const MATRIX: Record<string, Record<"public" | "private" | "announcement", string>> = {
  "room.join": { public: ALL, private: "admin owner moderator member invited", announcement: ALL },
  "send": {
    public: ALL,
    private: "admin owner moderator member invited",
    announcement: STAFF,
  },
  "edit.own": {
    public: ALL,
    private: "admin owner moderator member invited",
    announcement: STAFF,
  },
  "delete.own": {
    public: ALL,
    private: "admin owner moderator member invited",
    announcement: "admin owner moderator member outsider invited",
  },
  "delete.any": { public: STAFF, private: STAFF, announcement: STAFF },
  // Any member may react, in announcement rooms too; guests only where they may post.
  "react": {
    public: ALL,
    private: MEMBERS,
    announcement: "admin owner moderator member outsider invited",
  },
  "search": { public: ALL, private: MEMBERS, announcement: ALL },
  "history": { public: ALL, private: MEMBERS, announcement: ALL },
  // Listed in room.directory: open rooms, to anyone signed in; private rooms to no one.
  "directory": { public: ALL, private: "", announcement: ALL },
  "invite": { public: STAFF, private: STAFF, announcement: STAFF },
  "kick": { public: STAFF, private: STAFF, announcement: STAFF },
  "ban": { public: STAFF, private: STAFF, announcement: STAFF },
  "mute": { public: STAFF, private: STAFF, announcement: STAFF },
  "room.update": { public: STAFF, private: STAFF, announcement: STAFF },
  "role.change": { public: STAFF, private: STAFF, announcement: STAFF },
  "modlog.read": { public: STAFF, private: STAFF, announcement: STAFF },
  "room.delete": { public: "admin owner", private: "admin owner", announcement: "admin owner" },
};

/** Cases that cannot be set up: a guest in an announcement room can never have posted. */
const NOT_APPLICABLE = new Set(["announcement edit.own guest", "announcement delete.own guest"]);

type Clients = Record<Actor | "victim" | "newcomer", TestClient>;

async function setup(server: TestServer): Promise<Clients> {
  const guestCookie = await guestSession(server);
  const clients = {} as Clients;
  clients.admin = await TestClient.open(server, await login(server));
  for (
    const name of ["owner", "moderator", "member", "outsider", "invited", "victim", "newcomer"]
  ) {
    clients[name as Actor] = await TestClient.connect(server, name);
  }
  clients.guest = await TestClient.open(server, guestCookie);
  return clients;
}

async function login(server: TestServer) {
  const response = await fetch(`${server.url}/api/login`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: server.url },
    body: JSON.stringify(ROOT),
  });
  const { user } = await response.json();
  return { cookie: response.headers.get("set-cookie")!.split(";")[0]!, user };
}

async function guestSession(server: TestServer) {
  const response = await fetch(`${server.url}/api/guest`, {
    method: "POST",
    headers: { origin: server.url },
  });
  assert.equal(response.status, 201);
  const { user } = await response.json();
  return { cookie: response.headers.get("set-cookie")!.split(";")[0]!, user };
}

/** The reply's error code, or "ok". */
async function attempt<T extends RequestType>(
  client: TestClient,
  type: T,
  body: RequestBody<T>,
): Promise<string> {
  try {
    await client.request(type, body);
    return "ok";
  } catch (error) {
    if (error instanceof RequestFailed) return error.code;
    throw error;
  }
}

async function must<T extends RequestType>(client: TestClient, type: T, body: RequestBody<T>) {
  return await client.request(type, body);
}

let roomCounter = 0;

/** A fresh room of `kind` with its cast in place; returns its name and a victim message. */
async function stage(c: Clients, kind: "public" | "private" | "announcement") {
  const room = `m${++roomCounter}`;
  await must(c.owner, "room.create", { room, kind });
  await must(c.owner, "room.join", { room });
  for (const who of ["moderator", "member", "victim", "invited"] as const) {
    if (kind === "private") await must(c.owner, "room.invite", { room, user: c[who].user.id });
    if (who !== "invited") await must(c[who], "room.join", { room });
  }
  await must(c.owner, "room.role", { room, user: c.moderator.user.id, role: "moderator" });
  // The victim's message, for delete.any; in an announcement room only staff post.
  if (kind === "announcement") {
    await must(c.owner, "room.role", { room, user: c.victim.user.id, role: "moderator" });
  }
  const { message } = await must(c.victim, "send", {
    room,
    text: "victim's",
    nonce: `victim-${room}`,
  });
  if (kind === "announcement") {
    await must(c.owner, "room.role", { room, user: c.victim.user.id, role: "member" });
  }
  return { room, victimSeq: message.seq };
}

async function perform(
  c: Clients,
  actor: Actor,
  action: string,
  kind: "public" | "private" | "announcement",
): Promise<{ code: string; joined: boolean }> {
  const { room, victimSeq } = await stage(c, kind);
  const me = c[actor];
  if (action === "room.join") {
    return { code: await attempt(me, "room.join", { room }), joined: false };
  }
  const joined = (await attempt(me, "room.join", { room })) === "ok";
  const victim = c.victim.user.id;
  let code: string;
  switch (action) {
    case "send":
      code = await attempt(me, "send", { room, text: "hi", nonce: `n-${room}-${actor}` });
      break;
    case "edit.own":
    case "delete.own": {
      // An own message to act on; in an announcement room a member posted it while staff.
      const demote = kind === "announcement" && !STAFF.split(" ").includes(actor);
      if (demote) await must(c.owner, "room.role", { room, user: me.user.id, role: "moderator" });
      const seq = await me.request("send", { room, text: "mine", nonce: `own-nonce-${room}` })
        .then((r) => r.message.seq, () => victimSeq);
      if (demote) await must(c.owner, "room.role", { room, user: me.user.id, role: "member" });
      code = action === "edit.own"
        ? await attempt(me, "edit", { room, seq, text: "mine, edited" })
        : await attempt(me, "delete", { room, seq });
      break;
    }
    case "delete.any":
      code = await attempt(me, "delete", { room, seq: victimSeq });
      break;
    case "react":
      code = await attempt(me, "react", { room, seq: victimSeq, emoji: "👍" });
      break;
    case "search":
      code = await attempt(me, "search", { room, text: "victim's" });
      break;
    case "history":
      code = await attempt(me, "history", { room });
      break;
    case "directory": {
      // Not listed is this cell's refusal.
      const listed = await me.request("room.directory", { query: room, limit: 100 });
      code = listed.rooms.some((r) => r.name === room) ? "ok" : "unlisted";
      break;
    }
    case "invite":
      code = await attempt(me, "room.invite", { room, user: c.newcomer.user.id });
      break;
    case "kick":
      code = await attempt(me, "room.kick", { room, user: victim });
      break;
    case "ban":
      code = await attempt(me, "room.ban", { room, user: victim, minutes: 5 });
      break;
    case "mute":
      code = await attempt(me, "room.mute", { room, user: victim, minutes: 5 });
      break;
    case "room.update":
      code = await attempt(me, "room.update", { room, topic: `set by ${actor}` });
      break;
    case "role.change":
      code = await attempt(me, "room.role", { room, user: victim, role: "moderator" });
      break;
    case "modlog.read":
      code = await attempt(me, "room.modlog", { room });
      break;
    case "room.delete":
      code = await attempt(me, "room.delete", { room });
      break;
    default:
      throw new Error(`no case for ${action}`);
  }
  return { code, joined };
}

Deno.test("permissions: every actor × action × room kind is allowed or refused as the matrix says", async () => {
  const server = await startServer({
    guests: true,
    frameRate: { perSecond: 1e6, burst: 1e6 },
    messageRate: { perSecond: 1e6, burst: 1e6 },
    roomRate: { perSecond: 1e6, burst: 1e6 },
  });
  const c = await setup(server);
  const mismatches: string[] = [];
  let checked = 0;
  try {
    for (const kind of ["public", "private", "announcement"] as const) {
      for (const [action, byKind] of Object.entries(MATRIX)) {
        const allowedActors = byKind[kind].split(" ");
        for (const actor of ACTORS) {
          if (NOT_APPLICABLE.has(`${kind} ${action} ${actor}`)) continue;
          const { code, joined } = await perform(c, actor, action, kind);
          // Leave it behind: a connection may hold only so many rooms.
          for (const client of Object.values(c)) {
            await attempt(client, "room.leave", { room: `m${roomCounter}` });
          }
          const expected = allowedActors.includes(actor);
          // Refusals say "forbidden"; posting (send, edit, delete, react) and reading history
          // without having been let in says not_joined; the directory leaves the room out.
          const refusedRight = code === "forbidden" ||
            (code === "not_joined" && !joined &&
              ["send", "edit.own", "delete.own", "delete.any", "react", "history"].includes(
                action,
              )) ||
            (code === "unlisted" && action === "directory");
          if (expected ? code !== "ok" : !refusedRight) {
            mismatches.push(
              `${kind} ${action} by ${actor}: got ${code}, expected ${
                expected ? "ok" : "forbidden"
              }`,
            );
          }
          checked++;
        }
      }
    }
    assert.deepEqual(mismatches, []);
    assert.equal(checked, 3 * Object.keys(MATRIX).length * ACTORS.length - NOT_APPLICABLE.size);
  } finally {
    for (const client of Object.values(c)) await client.close();
    await server.close();
  }
});

Deno.test("permissions: direct messages admit their two users only; guests may not create rooms or DMs", async () => {
  const server = await startServer({ guests: true });
  const c = await setup(server);
  try {
    // Server-level actions by server role.
    assert.equal(await attempt(c.member, "room.create", { room: "by-user" }), "ok");
    assert.equal(await attempt(c.admin, "room.create", { room: "by-admin" }), "ok");
    assert.equal(await attempt(c.guest, "room.create", { room: "by-guest" }), "forbidden");
    assert.equal(await attempt(c.guest, "dm.open", { user: c.member.user.id }), "forbidden");
    assert.equal(await attempt(c.member, "dm.open", { user: c.guest.user.id }), "forbidden");
    assert.equal(await attempt(c.member, "room.create", { room: "dm-squat" }), "invalid_room_name");

    const { room } = await must(c.owner, "dm.open", { user: c.member.user.id });
    assert.equal(room.kind, "dm");
    assert.deepEqual(room.peers?.map((p) => p.name).sort(), ["member", "owner"]);
    // Either side opening it again lands in the same room.
    assert.equal((await must(c.member, "dm.open", { user: c.owner.user.id })).room.name, room.name);
    const name = room.name;
    for (const peer of [c.owner, c.member]) {
      assert.equal(await attempt(peer, "room.join", { room: name }), "ok");
    }
    assert.equal(
      await attempt(c.owner, "send", { room: name, text: "psst", nonce: "dm-nonce-1" }),
      "ok",
    );
    for (const other of [c.outsider, c.admin, c.guest]) {
      assert.equal(await attempt(other, "room.join", { room: name }), "forbidden");
      const rooms = await must(other, "room.list", {});
      assert.ok(!rooms.rooms.some((r) => r.name === name), "a DM is invisible to others");
    }
    for (const action of ["room.kick", "room.ban", "room.mute", "room.role"] as const) {
      const body = { room: name, user: c.member.user.id };
      const extra = action === "room.mute"
        ? { minutes: 1 }
        : action === "room.role"
        ? { role: "moderator" as const }
        : {};
      assert.equal(
        await attempt(c.owner, action, { ...body, ...extra } as never),
        "forbidden",
        action,
      );
    }
    assert.equal(
      await attempt(c.owner, "room.invite", { room: name, user: c.outsider.user.id }),
      "forbidden",
    );
    assert.equal(await attempt(c.owner, "room.update", { room: name, topic: "x" }), "forbidden");
    assert.equal(await attempt(c.owner, "room.delete", { room: name }), "forbidden");
    assert.equal(await attempt(c.admin, "room.delete", { room: name }), "ok");
  } finally {
    for (const client of Object.values(c)) await client.close();
    await server.close();
  }
});

Deno.test("permissions: a muted member may take a reaction back but not add one; leaving ends reacting and searching", async () => {
  const server = await startServer({ guests: true });
  const c = await setup(server);
  try {
    const room = "mutes";
    await must(c.owner, "room.create", { room });
    await must(c.owner, "room.join", { room });
    await must(c.member, "room.join", { room });
    const { message } = await must(c.owner, "send", {
      room,
      text: "react here",
      nonce: "mutes-nonce-1",
    });
    const react = (emoji: string, remove = false) =>
      attempt(c.member, "react", { room, seq: message.seq, emoji, ...(remove ? { remove } : {}) });
    assert.equal(await react("👍"), "ok");
    await must(c.owner, "room.mute", { room, user: c.member.user.id, minutes: 5 });
    // Muted: adding is refused, taking back is not.
    const refused = await c.member.request("react", { room, seq: message.seq, emoji: "🎉" })
      .then(() => null, (error) => error);
    assert.ok(refused instanceof RequestFailed);
    assert.equal(refused.code, "forbidden");
    assert.equal(await react("👍", true), "ok");
    assert.equal(await react("👍"), "forbidden");
    // Searching and reading history do not post: a muted member still may.
    assert.equal(await attempt(c.member, "search", { room, text: "react" }), "ok");
    assert.equal(await attempt(c.member, "history", { room }), "ok");
    await must(c.owner, "room.unmute", { room, user: c.member.user.id });
    assert.equal(await react("👍"), "ok");

    // Not a member (any more): join first, to react and to search.
    await must(c.member, "room.leave", { room });
    assert.equal(await react("🎉"), "not_joined");
    assert.equal(await attempt(c.member, "search", { room, text: "react" }), "forbidden");
    assert.equal(await attempt(c.outsider, "search", { room, text: "react" }), "forbidden");
    assert.equal(
      await attempt(c.outsider, "react", { room, seq: message.seq, emoji: "🎉" }),
      "not_joined",
    );
    // The directory shows the room to anyone signed in, guests and non-members included.
    for (const who of [c.outsider, c.guest, c.member]) {
      const { rooms } = await must(who, "room.directory", { query: room });
      assert.ok(rooms.some((r) => r.name === room));
    }
  } finally {
    for (const client of Object.values(c)) await client.close();
    await server.close();
  }
});
