/**
 * An existing Deno application with its own users that mounts Parley under `/chat`.
 * The application signs a short JWT for each of its users; Parley trusts that
 * secret. Programs use the JWT as a bearer token. Browsers get a single-use ticket
 * from the application instead, so no long-lived token ever sits in a URL.
 *
 * Run it with `deno run -A examples/mount_app.ts`, then open http://localhost:8000/.
 *
 * @module
 */
import { SignJWT } from "jose";
import { createChatServer } from "../mod.ts";

export interface MountedApp {
  /** The application's whole fetch handler, Parley included. */
  fetch(request: Request, info?: Deno.ServeHandlerInfo): Promise<Response>;
  /** The JWT this application gives its user `id`, valid for `ttl` (e.g. "10m"). */
  tokenFor(id: string, name: string, ttl?: string): Promise<string>;
  close(): Promise<void>;
}

/** The application's users; a real one has a database and passwords. */
const USERS = new Map([["7", "Grace"], ["8", "Linus"]]);

export async function createApp(
  options: { secret: string; data?: string; passwordCost?: number },
): Promise<MountedApp> {
  const key = new TextEncoder().encode(options.secret);
  const chat = await createChatServer({
    data: options.data ?? ":memory:",
    basePath: "/chat",
    branding: { title: "Acme chat" },
    log: "warn",
    auth: {
      // Parley's own sign-up is closed: every user comes from the application.
      registration: "closed",
      jwt: { secret: options.secret, issuer: "acme", audience: "parley" },
      ...(options.passwordCost ? { passwordCost: options.passwordCost } : {}),
    },
  });
  const tokenFor = (id: string, name: string, ttl = "10m") =>
    new SignJWT({ name }).setProtectedHeader({ alg: "HS256" }).setSubject(id)
      .setIssuer("acme").setAudience("parley").setExpirationTime(ttl).sign(key);

  async function fetch(request: Request, info?: Deno.ServeHandlerInfo): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/chat" || url.pathname.startsWith("/chat/")) {
      return await chat.fetch(request, info);
    }
    if (url.pathname === "/") {
      return new Response("Acme home. Chat lives at /chat/.", {
        headers: { "content-type": "text/plain" },
      });
    }
    // The application's own session check stands in for a real login here.
    const id = request.headers.get("x-acme-user") ?? "";
    const name = USERS.get(id);
    if (url.pathname === "/chat-ticket" && request.method === "POST" && name) {
      // Trade the user's JWT for a Parley ticket, server to server.
      const ticket = await chat.fetch(
        new Request(new URL("/chat/api/ticket", url), {
          method: "POST",
          headers: { authorization: `Bearer ${await tokenFor(id, name, "1m")}` },
        }),
      );
      return new Response(ticket.body, { status: ticket.status, headers: ticket.headers });
    }
    return new Response("Not found", { status: 404 });
  }

  return { fetch, tokenFor, close: () => chat.close() };
}

if (import.meta.main) {
  const app = await createApp({
    secret: Deno.env.get("ACME_JWT_SECRET") ?? crypto.randomUUID() + crypto.randomUUID(),
  });
  Deno.serve({ port: Number(Deno.env.get("PORT") ?? 8000) }, app.fetch);
}
