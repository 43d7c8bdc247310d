/** examples/echo_bot.ts as a separate program, against a real server: webhook in, API out. */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import type { Message } from "../protocol/messages.ts";
import { eventually, ROOT, startServer, TestClient, type TestServer } from "./helpers.ts";

const ROOT_DIR = fileURLToPath(new URL("..", import.meta.url));
const SECRET = "echo-bot-test-secret-0123456789";

async function admin(
  server: TestServer,
  path: string,
  body: unknown,
): Promise<Record<string, string>> {
  const login = await fetch(`${server.url}/api/login`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: server.url },
    body: JSON.stringify(ROOT),
  });
  assert.equal(login.status, 200);
  await login.body?.cancel();
  const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
  const response = await fetch(`${server.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: server.url, cookie },
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  assert.equal(response.status, 201, JSON.stringify(answer));
  return answer;
}

/** Start the bot as its own process, with only network and environment access. */
async function spawnBot(env: Record<string, string>) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "examples/echo_bot.ts"],
    cwd: ROOT_DIR,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  let err = "";
  const decoder = new TextDecoder();
  const drain = async (stream: ReadableStream<Uint8Array>, onText: (t: string) => void) => {
    for await (const chunk of stream) onText(decoder.decode(chunk, { stream: true }));
  };
  const drained = Promise.all([
    drain(child.stdout, (t) => (out += t)),
    drain(child.stderr, (t) => (err += t)),
  ]);
  const exited = child.status;
  let gone = false;
  exited.then(() => (gone = true));
  await eventually(() => /listening on http:\/\/\S+/.test(out) || gone, 30_000);
  const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
  if (!url) throw new Error(`the bot did not start:\n${out}\n${err}`);
  return {
    url,
    log: () => out + err,
    async stop() {
      if (!gone) child.kill("SIGTERM");
      await exited;
      await drained;
    },
  };
}

Deno.test("example echo bot: answers through the API what a signed webhook tells it, never itself", async () => {
  const server = await startServer();
  const ada = await TestClient.connect(server, "ada");
  let bot: Awaited<ReturnType<typeof spawnBot>> | undefined;
  try {
    const { key } = await admin(server, "/api/admin/keys", {
      name: "echo",
      rooms: ["general"],
      actions: ["post"],
    });
    bot = await spawnBot({
      PARLEY_URL: server.url,
      PARLEY_API_KEY: key!,
      PARLEY_WEBHOOK_SECRET: SECRET,
      BOT_PORT: "0",
    });
    await admin(server, "/api/admin/webhooks", {
      url: bot.url,
      room: "general",
      events: ["message.created"],
      secret: SECRET,
    });

    // A delivery without a valid signature is refused.
    const forged = await fetch(bot.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-parley-timestamp": String(Math.floor(Date.now() / 1000)),
        "x-parley-signature": "sha256=" + "0".repeat(64),
      },
      body: JSON.stringify({ event: "message.created", message: { text: "pwned" } }),
    });
    assert.equal(forged.status, 401);
    await forged.body?.cancel();

    await ada.request("room.join", { room: "general" });
    const echoes: Message[] = [];
    ada.onPush = (frame) => {
      if (frame.type === "message" && frame.message.author.name === "echo") {
        echoes.push(frame.message);
      }
    };
    await ada.request("send", { room: "general", text: "hello bot", nonce: "nonce-echo-1" });
    await eventually(() => echoes.length === 1, 10_000).catch(() => {
      throw new Error(`no echo; bot output:\n${bot!.log()}`);
    });
    assert.equal(echoes[0]!.text, "echo: hello bot");
    assert.match(echoes[0]!.author.id, /^bot:/);
    await ada.request("send", { room: "general", text: "and again", nonce: "nonce-echo-2" });
    await eventually(() => echoes.length === 2, 10_000);
    assert.equal(echoes[1]!.text, "echo: and again");
    // Its own messages come back through the webhook too; it must not echo them.
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(echoes.length, 2, bot.log());
  } finally {
    await bot?.stop();
    await ada.close();
    await server.close();
  }
});
