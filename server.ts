/**
 * Parley's command line: flags and PARLEY_* variables become `createChatServer` options
 * (mod.ts, the library any application can use), and the result is served.
 * `export default { fetch }` lets `deno serve --parallel server.ts` run one hub per
 * worker, fanned out over the Bus.
 *
 * @module
 */
import {
  Accounts,
  AuthError,
  type ChatServer,
  createChatServer,
  createLogger,
  type Logger,
  openParts,
  openStore,
  StartupError,
} from "./mod.ts";
import { CLOSE_CODES } from "./protocol/errors.ts";
import { type Config, ConfigError, helpText, parseConfig } from "./server/config.ts";
import { exposedGc } from "./server/idle_gc.ts";

/** The library options that `config` (flags and PARLEY_* variables) stands for. */
export async function compose(
  config: Config,
  log: Logger = createLogger(config.logLevel),
  { workers = false }: { workers?: boolean } = {},
): Promise<ChatServer> {
  const parts = await openParts({
    store: config.store,
    bus: config.bus,
    presenceTtlMs: config.presenceTtlMs,
    workers,
    onError: (what, error) => log.warn(`${what} failed`, { error }),
  });
  const collectGarbage = exposedGc();
  return await createChatServer({
    ...parts,
    log,
    // Under V8_FLAGS' --expose-gc: one collection after a connect storm (server/idle_gc.ts).
    ...(collectGarbage ? { collectGarbage } : {}),
    auth: {
      registration: config.registration,
      guests: config.guests,
      passwordCost: config.passwordCost,
      ...(config.jwt.secret || config.jwt.jwks ? { jwt: config.jwt } : {}),
    },
    limits: {
      messageRate: config.messageRate,
      frameRate: config.frameRate,
      roomRate: config.roomRate,
      maxBufferedBytes: config.maxBufferedBytes,
      socketsPerIp: config.socketsPerIp,
      socketsPerUser: config.socketsPerUser,
      upgradeRate: config.upgradeRate,
      recoveryMax: config.recoveryMax,
      retention: config.retention,
      drainTimeoutMs: config.drainTimeoutMs,
      ...(config.maxUploadBytes === undefined ? {} : { uploadBytes: config.maxUploadBytes }),
    },
    branding: { title: config.title },
    allowedOrigins: config.allowedOrigins,
    publicUrls: config.publicUrls,
    trustProxy: config.trustProxy,
  });
}

/**
 * `--create-admin NAME`: make NAME a server admin. A new account takes its password from
 * PARLEY_ADMIN_PASSWORD, else from the first line of stdin; an existing one is promoted.
 */
async function createAdmin(config: Config, name: string): Promise<number> {
  const store = await openStore(config.store);
  try {
    const accounts = new Accounts({
      store,
      registration: config.registration,
      passwordCost: config.passwordCost,
    });
    const existing = await accounts.byName(name);
    if (existing) {
      await accounts.update(existing.id, { role: "admin", disabled: false });
      console.log(`${existing.username} is now a server admin.`);
      return 0;
    }
    const password = Deno.env.get("PARLEY_ADMIN_PASSWORD") ?? await firstLine(Deno.stdin.readable);
    const account = await accounts.register({ username: name, password }, { asAdmin: true });
    console.log(`Created server admin ${account.username}.`);
    return 0;
  } catch (error) {
    if (!(error instanceof AuthError)) throw error;
    console.error(`error: ${error.message}`);
    return 1;
  } finally {
    await store.close();
  }
}

async function firstLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of stream) {
    text += decoder.decode(chunk, { stream: true });
    if (text.includes("\n")) break;
  }
  return text.split(/\r?\n/)[0] ?? "";
}

/** Run the server until SIGINT or SIGTERM. Returns the process exit code. */
export async function main(args: string[]): Promise<number> {
  let config: Config;
  try {
    const parsed = parseConfig(args, (name) => Deno.env.get(name));
    if (parsed.help) {
      console.log(helpText());
      return 0;
    }
    config = parsed.config;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`error: ${error.message}`);
    return 2;
  }
  if (config.createAdmin !== null) return await createAdmin(config, config.createAdmin);
  const log = createLogger(config.logLevel);
  if (config.publicUrls.length === 0 && ["0.0.0.0", "::", "[::]"].includes(config.hostname)) {
    log.warn(
      "listening on every interface without --public-url: only requests made to localhost or " +
        "an IP address are answered (421 for host names); name yours with --public-url",
    );
  }
  let app: ChatServer;
  try {
    app = await compose(config, log);
  } catch (error) {
    if (!(error instanceof StartupError)) throw error;
    console.error(`error: ${error.message}`);
    return 1;
  }
  const server = Deno.serve({
    port: config.port,
    hostname: config.hostname,
    onListen: ({ hostname, port }) => {
      const host = hostname === "127.0.0.1" || hostname === "::1" ? "localhost" : hostname;
      log.info(`Parley listening on http://${host}:${port}/`, { data: config.data });
    },
  }, app.fetch);
  // A second signal (SIGTERM twice, or SIGINT after it) joins the shutdown under way.
  let stopping: Promise<void> | undefined;
  let failed = false;
  const stop = () => {
    stopping ??= (async () => {
      log.info("shutting down");
      try {
        await app.close(CLOSE_CODES.serviceRestart, "server restarting");
      } catch (error) {
        failed = true;
        log.error("shutdown failed", { error });
      }
      await server.shutdown();
    })();
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, stop);
  await server.finished;
  return failed ? 1 : 0;
}

/** `deno serve` marks this module main too; it must not start a second listener then. */
export function runByDenoServe(): boolean {
  const path = "/proc/self/cmdline";
  try {
    if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") return false;
    return Deno.readTextFileSync(path).split("\0").slice(1, 3).includes("serve");
  } catch {
    return false;
  }
}

let served: Promise<ChatServer> | undefined;

/**
 * Under `deno serve` each worker composes its own app from PARLEY_* variables on the
 * first request. The bus channel and store keep a worker alive, so on SIGINT or
 * SIGTERM it closes them (sockets get "reconnect") and the process can exit.
 */
async function serveFromEnvironment(): Promise<ChatServer> {
  const parsed = parseConfig([], (name) => Deno.env.get(name));
  if (parsed.help) throw new Error("unreachable: no arguments were given");
  const log = createLogger(parsed.config.logLevel);
  const app = await compose(parsed.config, log, { workers: true });
  // Deno's own handler closes this worker's sockets with 1001 at the same signal (see the
  // README's Shutdown); app.close is idempotent, so SIGINT after SIGTERM does no harm.
  const stop = () => {
    app.close(CLOSE_CODES.serviceRestart, "server restarting")
      .catch((error) => log.error("shutdown failed", { error }));
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, stop);
  return app;
}

export default {
  async fetch(request: Request, info: Deno.ServeHandlerInfo): Promise<Response> {
    served ??= serveFromEnvironment();
    return await (await served).fetch(request, info);
  },
} satisfies Deno.ServeDefaultExport;

if (import.meta.main && !runByDenoServe()) Deno.exit(await main(Deno.args));
