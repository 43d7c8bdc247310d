/**
 * An echo bot that speaks only HTTP: Parley tells it about new messages through a signed
 * webhook, and it answers "echo: <text>" through the bot API. It ignores its own messages
 * (which come back through the same webhook), and uses the delivery's message id as the
 * nonce, so a redelivered webhook never posts twice.
 *
 * Setup, as a server admin (session cookie or token):
 *   1. POST /api/admin/keys {"name": "echo", "rooms": ["general"], "actions": ["post"]}
 *      and keep the `key`;
 *   2. start the bot:
 *        PARLEY_URL=http://localhost:8000 PARLEY_API_KEY=pk_… \
 *        PARLEY_WEBHOOK_SECRET=<16+ characters> BOT_PORT=8787 \
 *        deno run --allow-net --allow-env examples/echo_bot.ts
 *   3. POST /api/admin/webhooks {"url": "http://localhost:8787/", "room": "general",
 *      "events": ["message.created"], "secret": "<the same secret>"}
 *
 * @module
 */

export interface EchoBotOptions {
  /** The Parley server, e.g. "http://localhost:8000". */
  server: string;
  /** An API key with the `post` action in the rooms to echo in. */
  key: string;
  /** The webhook's signing secret. */
  secret: string;
  /** Port for the webhook receiver; 0 picks a free one. */
  port?: number;
  hostname?: string;
  /** Deliveries signed longer ago than this are refused (replays). */
  toleranceSeconds?: number;
}

export interface EchoBot {
  /** Where to point the webhook. */
  url: string;
  user: { id: string; name: string };
  close(): Promise<void>;
}

interface Delivery {
  event: string;
  message: { id: string; room: string; kind: string; text: string; author: { id: string } };
}

const MAX_BODY_BYTES = 64 * 1024;
const MAX_TEXT = 4000;

export async function startEchoBot(options: EchoBotOptions): Promise<EchoBot> {
  const server = options.server.replace(/\/+$/, "");
  const auth = { authorization: `Bearer ${options.key}` };
  const tolerance = options.toleranceSeconds ?? 300;
  const me = await fetch(`${server}/api/v1/me`, { headers: auth });
  if (!me.ok) throw new Error(`the API key was refused: ${me.status} ${await me.text()}`);
  const { user } = await me.json() as { user: { id: string; name: string } };
  const hmacKey = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(options.secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["verify"],
  );
  const replies = new Set<Promise<void>>();

  /** HMAC-SHA256 over "timestamp.body", checked in constant time by Web Crypto. */
  async function authentic(headers: Headers, body: Uint8Array): Promise<boolean> {
    const timestamp = headers.get("x-parley-timestamp") ?? "";
    const hex = /^sha256=([0-9a-f]{64})$/.exec(headers.get("x-parley-signature") ?? "")?.[1];
    if (!hex || !/^\d+$/.test(timestamp)) return false;
    if (Math.abs(Date.now() / 1000 - Number(timestamp)) > tolerance) return false;
    const prefix = new TextEncoder().encode(`${timestamp}.`);
    const signed = new Uint8Array(prefix.length + body.length);
    signed.set(prefix);
    signed.set(body, prefix.length);
    const signature = new Uint8Array(hex.match(/../g)!.map((pair) => parseInt(pair, 16)));
    return await crypto.subtle.verify("HMAC", hmacKey, signature, signed);
  }

  async function reply(message: Delivery["message"]): Promise<void> {
    const text = `echo: ${message.text}`.slice(0, MAX_TEXT);
    const url = `${server}/api/v1/rooms/${encodeURIComponent(message.room)}/messages`;
    for (let attempt = 1; attempt <= 3; attempt++) {
      const response = await fetch(url, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ text, nonce: `echo-${message.id}`.slice(0, 64) }),
      });
      await response.body?.cancel();
      if (response.ok) return;
      if (response.status !== 429 && response.status < 500) {
        console.error(`echo refused in #${message.room}: ${response.status}`);
        return;
      }
      const wait = Number(response.headers.get("retry-after") ?? 1);
      await new Promise((resolve) => setTimeout(resolve, Math.min(wait, 10) * 1000));
    }
  }

  const http = Deno.serve({
    port: options.port ?? 8787,
    hostname: options.hostname ?? "127.0.0.1",
    onListen() {},
  }, async (request) => {
    if (request.method !== "POST") return new Response("POST webhooks here", { status: 405 });
    const body = new Uint8Array(await request.arrayBuffer());
    if (body.length > MAX_BODY_BYTES) return new Response(null, { status: 413 });
    if (!(await authentic(request.headers, body))) {
      return new Response("bad signature", { status: 401 });
    }
    const delivery = JSON.parse(new TextDecoder().decode(body)) as Delivery;
    const message = delivery.message;
    if (
      delivery.event === "message.created" && message.kind === "text" &&
      message.author.id !== user.id
    ) {
      // Answer the webhook at once; post the echo on the side.
      const pending = reply(message).catch((error) => console.error("echo failed:", error))
        .finally(() => replies.delete(pending));
      replies.add(pending);
    }
    return new Response(null, { status: 204 });
  });

  return {
    url: `http://${http.addr.hostname}:${http.addr.port}/`,
    user,
    async close() {
      await http.shutdown();
      await Promise.allSettled([...replies]);
    },
  };
}

if (import.meta.main) {
  const env = (name: string) => {
    const value = Deno.env.get(name);
    if (!value) {
      console.error(`set ${name}; see the top of examples/echo_bot.ts`);
      Deno.exit(2);
    }
    return value;
  };
  const bot = await startEchoBot({
    server: Deno.env.get("PARLEY_URL") ?? "http://localhost:8000",
    key: env("PARLEY_API_KEY"),
    secret: env("PARLEY_WEBHOOK_SECRET"),
    port: Number(Deno.env.get("BOT_PORT") ?? 8787),
    hostname: Deno.env.get("BOT_HOSTNAME") ?? "127.0.0.1",
  });
  console.log(`echo bot ${bot.user.name} listening on ${bot.url}`);
  const stop = async () => {
    await bot.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGTERM", stop);
}
