/**
 * The library API end to end: hooks (allow, rewrite, refuse, throw, time out), custom
 * frames, slash commands, switched-off features, an application's own users, and a
 * mount under a base path, each on a real server over real sockets.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import {
  type ChatServer,
  type ChatServerOptions,
  createChatServer,
  defineCommand,
  defineFrame,
} from "../mod.ts";
import { eventually, RequestFailed, signIn, TestClient, upgradeStatus } from "./helpers.ts";

interface Served {
  chat: ChatServer;
  url: string;
  wsUrl: string;
  close(): Promise<void>;
}

/** Serve `createChatServer(options)` on 127.0.0.1, port 0, under `basePath` if given. */
async function serve(options: ChatServerOptions): Promise<Served> {
  const chat = await createChatServer({
    data: ":memory:",
    log: "silent",
    ...options,
    auth: { passwordCost: 12, ...options.auth },
  });
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, chat.fetch);
  const root = `http://127.0.0.1:${server.addr.port}${options.basePath ?? ""}`;
  return {
    chat,
    url: root,
    wsUrl: root.replace(/^http/, "ws") + "/ws",
    async close() {
      await chat.close();
      await server.shutdown();
    },
  };
}

async function refused(promise: Promise<unknown>): Promise<RequestFailed> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof RequestFailed, String(error));
    return error;
  }
  throw new Error("expected a refusal");
}

Deno.test("hooks: beforeSend allows, rewrites, refuses, and a throw or a timeout is internal", async () => {
  const afterSend: string[] = [];
  const served = await serve({
    limits: { hookTimeoutMs: 200 },
    hooks: [
      {
        beforeSend(message) {
          if (message.text.includes("boom")) throw new Error("hook bug");
          if (message.text.includes("slow")) return new Promise(() => {}); // never settles
          if (message.text.includes("spam")) return Promise.resolve({ refuse: "No spam here." });
          return Promise.resolve({ text: message.text.replaceAll("darn", "d**n") });
        },
      },
      {
        // The second hook sees the first one's rewrite.
        beforeSend(message) {
          return Promise.resolve({ text: message.text.replaceAll("d**n", "[filtered]") });
        },
        afterSend(message) {
          afterSend.push(message.text);
          throw new Error("afterSend failures are only logged");
        },
      },
    ],
  });
  const ada = await TestClient.connect(served, "ada");
  try {
    await ada.request("room.join", { room: "general" });
    const plain = await ada.request("send", { room: "general", text: "hello", nonce: "nonce-001" });
    assert.equal(plain.message.text, "hello");
    const rewritten = await ada.request("send", {
      room: "general",
      text: "darn it",
      nonce: "nonce-002",
    });
    assert.equal(rewritten.message.text, "[filtered] it", "rewrites chain in order");
    const spam = await refused(
      ada.request("send", { room: "general", text: "spam!", nonce: "nonce-003" }),
    );
    assert.deepEqual([spam.code, spam.message], ["refused", "refused: No spam here."]);
    const boom = await refused(
      ada.request("send", { room: "general", text: "boom", nonce: "nonce-004" }),
    );
    assert.equal(boom.code, "internal");
    const slow = await refused(
      ada.request("send", { room: "general", text: "slow", nonce: "nonce-005" }),
    );
    assert.equal(slow.code, "internal");
    // Nothing refused or failed was committed, and the server still serves.
    const { messages } = await ada.request("history", { room: "general" });
    assert.deepEqual(messages.map((m) => m.text), ["hello", "[filtered] it"]);
    assert.deepEqual(afterSend, ["hello", "[filtered] it"]);
    // Edits pass through beforeSend too.
    const edit = await ada.request("edit", { room: "general", seq: 1, text: "darn" });
    assert.equal(edit.message.text, "[filtered]");
  } finally {
    await ada.close();
    await served.close();
  }
});

Deno.test("hooks: onConnect refuses or adds fields; beforeJoin refuses; onPresence hears joins", async () => {
  const presence: string[] = [];
  const served = await serve({
    hooks: {
      onConnect(user) {
        if (user.name === "mallory") return Promise.resolve({ refuse: "Not today." });
        return Promise.resolve({ fields: { team: user.name === "ada" ? "red" : "blue" } });
      },
      beforeJoin(user, room) {
        if (room.name === "red-only" && user.fields.team !== "red") {
          return Promise.resolve({ refuse: "Red team only." });
        }
        return Promise.resolve();
      },
      onPresence(event) {
        presence.push(`${event.room}:${event.joins.map((m) => m.name).join()}`);
      },
    },
  });
  try {
    const mallory = await signIn(served, "mallory");
    const origin = new URL(served.url).origin;
    assert.equal(await upgradeStatus(served.wsUrl, { cookie: mallory.cookie, origin }), 403);
    const ada = await TestClient.connect(served, "ada");
    const bob = await TestClient.connect(served, "bob");
    await ada.request("room.create", { room: "red-only" });
    await ada.request("room.join", { room: "red-only" });
    const no = await refused(bob.request("room.join", { room: "red-only" }));
    assert.deepEqual([no.code, no.message], ["refused", "refused: Red team only."]);
    await eventually(() => presence.includes("red-only:ada"));
    await ada.close();
    await bob.close();
  } finally {
    await served.close();
  }
});

Deno.test("custom frames: validated like built-ins, answered by their handler, and in /protocol.json", async () => {
  const votes = new Map<string, number>();
  const vote = defineFrame({
    type: "x.poll.vote",
    description: "Vote in a room's poll",
    body: { room: z.string(), option: z.enum(["yes", "no"]) },
    result: z.strictObject({ yes: z.int(), no: z.int() }),
    handler(frame, context) {
      if (!context.joined(frame.room)) throw new Error("not in the room");
      votes.set(context.user.id, frame.option === "yes" ? 1 : 0);
      const yes = [...votes.values()].filter((v) => v === 1).length;
      const tally = { yes, no: votes.size - yes };
      context.pushToRoom(frame.room, "x.poll.tally", tally);
      return tally;
    },
  });
  const served = await serve({ frames: [vote] });
  const ada = await TestClient.connect(served, "ada");
  const bob = await TestClient.connect(served, "bob");
  try {
    for (const c of [ada, bob]) await c.request("room.join", { room: "general" });
    const pushed = bob.next((f) => f.type === "custom" && f.name === "x.poll.tally");
    const ok = await ada.requestRaw({ type: "x.poll.vote", room: "general", option: "yes" });
    assert.ok("ok" in ok);
    assert.deepEqual(ok.ok, { yes: 1, no: 0 });
    assert.deepEqual(await pushed, {
      type: "custom",
      name: "x.poll.tally",
      room: "general",
      data: { yes: 1, no: 0 },
    });
    const bad = await ada.requestRaw({ type: "x.poll.vote", room: "general", option: "maybe" });
    assert.ok("error" in bad);
    assert.equal(bad.error.code, "invalid_frame");
    const extra = await ada.requestRaw({
      type: "x.poll.vote",
      room: "general",
      option: "no",
      x: 1,
    });
    assert.ok("error" in extra && extra.error.code === "invalid_frame");
    const unknown = await ada.requestRaw({ type: "x.poll.close" });
    assert.ok("error" in unknown && unknown.error.code === "unknown_type");
    // A handler that throws is an internal error; the socket stays usable.
    await bob.request("room.leave", { room: "general" });
    const thrown = await bob.requestRaw({ type: "x.poll.vote", room: "general", option: "no" });
    assert.ok("error" in thrown && thrown.error.code === "internal");
    await bob.request("ping", {});

    const schema = await (await fetch(`${served.url}/protocol.json`)).json();
    const frame = schema.client.oneOf.find((s: { properties: { type: { const: string } } }) =>
      s.properties.type.const === "x.poll.vote"
    );
    assert.deepEqual(frame.properties.option.enum, ["yes", "no"]);
    assert.ok(schema.results["x.poll.vote"].properties.yes);
  } finally {
    await ada.close();
    await bob.close();
    await served.close();
  }
  await assert.rejects(
    createChatServer({ data: ":memory:", log: "silent", frames: [{ ...vote, type: "poll" }] }),
    /x\.app\.action/,
  );
});

Deno.test("slash commands: built-ins act with the caller's permissions; an app adds its own", async () => {
  const served = await serve({
    commands: [
      defineCommand({
        name: "roll",
        usage: "/roll [sides]",
        description: "Roll a die",
        async run(args, { hub, conn, room }) {
          const sides = Number(args) || 6;
          const { message } = await hub.send(conn, room, `rolled ${sides}`, crypto.randomUUID());
          return { message };
        },
      }),
    ],
  });
  const ada = await TestClient.connect(served, "ada");
  const bob = await TestClient.connect(served, "bob");
  try {
    const hello = ada.frames.find((f) => f.type === "reply");
    assert.ok(hello && "ok" in hello);
    const names = (hello.ok as { commands: { name: string }[] }).commands.map((c) => c.name);
    assert.deepEqual(names, [
      "me",
      "topic",
      "invite",
      "kick",
      "ban",
      "mute",
      "leave",
      "help",
      "roll",
    ]);
    await ada.request("room.create", { room: "den" });
    for (const c of [ada, bob]) await c.request("room.join", { room: "den" });
    const me = await ada.request("command", { room: "den", name: "me", args: "waves" });
    assert.equal(me.message?.text, "/me waves");
    assert.equal(
      (await ada.request("command", { room: "den", name: "roll", args: "20" })).message?.text,
      "rolled 20",
    );
    const help = await ada.request("command", { room: "den", name: "help", args: "" });
    assert.match(help.text!, /\/kick <user> \[reason\]/);
    // Bob is a plain member: the same permission check refuses him.
    const no = await refused(bob.request("command", { room: "den", name: "kick", args: "ada" }));
    assert.equal(no.code, "forbidden");
    const gone = bob.next((f) => f.type === "room.removed");
    await ada.request("command", { room: "den", name: "mute", args: "@bob 10m too loud" });
    assert.equal(
      (await refused(bob.request("send", { room: "den", text: "hi", nonce: "nonce-b1" }))).code,
      "forbidden",
    );
    await ada.request("command", { room: "den", name: "ban", args: "bob 2h spam" });
    await gone;
    const log = await ada.request("room.modlog", { room: "den" });
    assert.deepEqual(log.entries.map((e) => [e.action, e.reason]), [["ban", "spam"], [
      "mute",
      "too loud",
    ]]);
    assert.equal(
      (await refused(ada.request("command", { room: "den", name: "nope", args: "" }))).code,
      "unknown_command",
    );
  } finally {
    await ada.close();
    await bob.close();
    await served.close();
  }
});

Deno.test("library: features switched off are refused; an app's own users; a base path and branding", async () => {
  const served = await serve({
    basePath: "/chat",
    features: { directMessages: false, edits: false, receipts: false },
    branding: { title: "Acme Chat", accent: "#ff6600" },
    auth: {
      authenticate: (request) =>
        Promise.resolve(
          request.headers.get("x-app-user") === "42"
            ? { id: "42", name: "Grace", role: "admin" }
            : null,
        ),
    },
  });
  try {
    const page = await (await fetch(`${served.url}/`)).text();
    assert.match(page, /<title>Acme Chat<\/title>/);
    assert.match(page, /\/chat\/assets\/app\.[0-9a-f]+\.js/);
    assert.equal(
      await (await fetch(`${served.url}/branding.css`)).text(),
      ":root { --accent: #ff6600; }\n",
    );
    const outside = await fetch(served.url.replace("/chat", "/elsewhere"));
    assert.equal(outside.status, 404);
    await outside.body?.cancel();

    const socket = new WebSocket(
      served.wsUrl,
      { headers: { "x-app-user": "42" } } as unknown as string[],
    );
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = reject;
    });
    const grace = await TestClient.wrap(socket);
    assert.deepEqual(grace.user, { id: "app:42", name: "Grace" });
    const hello = grace.frames.find((f) => f.type === "reply")!;
    assert.ok("ok" in hello);
    assert.deepEqual((hello.ok as { features: unknown }).features, {
      directMessages: false,
      receipts: false,
      edits: false,
      guests: false,
    });
    const ada = await TestClient.connect(served, "ada");
    await ada.request("room.join", { room: "general" });
    await ada.request("send", { room: "general", text: "hi", nonce: "nonce-a1" });
    assert.equal(
      (await refused(ada.request("edit", { room: "general", seq: 1, text: "hey" }))).code,
      "forbidden",
    );
    assert.equal((await refused(ada.request("dm.open", { user: "app:42" }))).code, "forbidden");
    assert.equal(
      (await refused(ada.request("room.create", { room: "r", receipts: true }))).code,
      "forbidden",
    );
    await grace.close();
    await ada.close();
  } finally {
    await served.close();
  }
});

type Behaviour = "allow" | "rewrite" | "refuse" | "throw" | "timeout";

/** A hook that behaves as told: what it returns when it allows, rewrites or refuses. */
function behave<T>(behaviour: Behaviour, rewrite: T): Promise<T | { refuse: string } | void> {
  switch (behaviour) {
    case "allow":
      return Promise.resolve();
    case "rewrite":
      return Promise.resolve(rewrite);
    case "refuse":
      return Promise.resolve({ refuse: "policy says no" });
    case "throw":
      return Promise.reject(new Error("hook bug"));
    case "timeout":
      return new Promise(() => {});
  }
}

Deno.test("hooks: every hook × allow, rewrite, refuse, throw and time out", async (t) => {
  const BEHAVIOURS: Behaviour[] = ["allow", "rewrite", "refuse", "throw", "timeout"];
  for (const behaviour of BEHAVIOURS) {
    await t.step(`onConnect ${behaviour}`, async () => {
      const served = await serve({
        limits: { hookTimeoutMs: 100 },
        hooks: { onConnect: () => behave(behaviour, { fields: { team: "red" } }) },
      });
      try {
        const { cookie } = await signIn(served, "ada");
        const status = await upgradeStatus(served.wsUrl, { cookie, origin: served.url });
        const expected = { allow: 101, rewrite: 101, refuse: 403, throw: 500, timeout: 500 };
        assert.equal(status, expected[behaviour]);
      } finally {
        await served.close();
      }
    });
    await t.step(`beforeJoin ${behaviour}`, async () => {
      const served = await serve({
        limits: { hookTimeoutMs: 100 },
        // A join has nothing to rewrite: "rewrite" answers with an empty object, an allow.
        hooks: { beforeJoin: () => behave(behaviour, undefined) },
      });
      const ada = await TestClient.connect(served, "ada");
      try {
        const code = await ada.request("room.join", { room: "general" }).then(
          () => "ok",
          (e) => e.code,
        );
        const expected = {
          allow: "ok",
          rewrite: "ok",
          refuse: "refused",
          throw: "internal",
          timeout: "internal",
        };
        assert.equal(code, expected[behaviour]);
        await ada.request("ping", {});
      } finally {
        await ada.close();
        await served.close();
      }
    });
    await t.step(`beforeSend ${behaviour}`, async () => {
      const served = await serve({
        limits: { hookTimeoutMs: 100 },
        hooks: { beforeSend: () => behave(behaviour, { text: "rewritten" }) },
      });
      const ada = await TestClient.connect(served, "ada");
      try {
        await ada.request("room.join", { room: "general" });
        const result = await ada.request("send", {
          room: "general",
          text: "original",
          nonce: "nonce-h1",
        })
          .then((r) => r.message.text, (e) => e.code);
        const expected = {
          allow: "original",
          rewrite: "rewritten",
          refuse: "refused",
          throw: "internal",
          timeout: "internal",
        };
        assert.equal(result, expected[behaviour]);
        const { messages } = await ada.request("history", { room: "general" });
        assert.equal(messages.length, ["allow", "rewrite"].includes(behaviour) ? 1 : 0);
      } finally {
        await ada.close();
        await served.close();
      }
    });
    // Hooks after the fact cannot refuse: whatever they do, the message stands and arrives.
    for (const hook of ["afterSend", "onPresence"] as const) {
      await t.step(`${hook} ${behaviour}`, async () => {
        let calls = 0;
        const served = await serve({
          limits: { hookTimeoutMs: 100 },
          hooks: {
            [hook]: () => {
              calls++;
              return behave(behaviour, undefined);
            },
          },
        });
        const ada = await TestClient.connect(served, "ada");
        const bob = await TestClient.connect(served, "bob");
        try {
          for (const c of [ada, bob]) await c.request("room.join", { room: "general" });
          const heard = bob.next((f) => f.type === "message");
          const sent = await ada.request("send", {
            room: "general",
            text: "stands",
            nonce: "nonce-h2",
          });
          assert.equal(sent.message.seq, 1);
          await heard;
          await eventually(() => calls >= 1);
        } finally {
          await ada.close();
          await bob.close();
          await served.close();
        }
      });
    }
  }
});
