/**
 * Display-name identities held in an HMAC-signed, HttpOnly cookie. One browser may hold
 * several (one per tab); a tab picks one by its id, and can pick only those the server
 * signed for this browser.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { LIMITS } from "../protocol/limits.ts";
import type { Member } from "../protocol/messages.ts";

export const IDENTITY_COOKIE = "parley_id";
const MAX_IDENTITIES = 8;
const COOKIE_MAX_AGE_S = 60 * 60 * 24 * 365;

export class IdentitySigner {
  readonly #secret: Uint8Array;
  constructor(secret: Uint8Array) {
    this.#secret = secret;
  }

  sign(identities: Member[]): string {
    const payload = base64url(new TextEncoder().encode(JSON.stringify(identities)));
    return `${payload}.${this.#mac(payload)}`;
  }

  /** The identities in a cookie value, or [] when it is missing, malformed or forged. */
  verify(value: string | undefined): Member[] {
    if (!value) return [];
    const dot = value.indexOf(".");
    if (dot < 0) return [];
    const payload = value.slice(0, dot);
    const given = new TextEncoder().encode(value.slice(dot + 1));
    const expected = new TextEncoder().encode(this.#mac(payload));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return [];
    try {
      const parsed: unknown = JSON.parse(new TextDecoder().decode(fromBase64url(payload)));
      return Array.isArray(parsed) ? parsed.filter(isMember) : [];
    } catch {
      return [];
    }
  }

  #mac(payload: string): string {
    return base64url(createHmac("sha256", this.#secret).update(payload).digest());
  }
}

/** Trimmed display name, or null when it breaks the rules. */
export function normalizeDisplayName(name: unknown): string | null {
  if (typeof name !== "string") return null;
  const trimmed = name.normalize("NFC").replace(/\s+/g, " ").trim();
  if (trimmed.length === 0 || trimmed.length > LIMITS.displayNameChars) return null;
  // Control and bidi-override characters make names that impersonate or garble the UI.
  if (/[\p{Cc}\u202a-\u202e\u2066-\u2069]/u.test(trimmed)) return null;
  return trimmed;
}

/** Add a new identity for `name`, newest first, keeping at most MAX_IDENTITIES. */
export function addIdentity(existing: Member[], name: string): { user: Member; all: Member[] } {
  const user: Member = { id: `u_${randomId()}`, name };
  const others = existing.filter((m) => m.name !== name);
  return { user, all: [user, ...others].slice(0, MAX_IDENTITIES) };
}

export function identityCookie(value: string, secure: boolean): string {
  return `${IDENTITY_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${COOKIE_MAX_AGE_S}${
    secure ? "; Secure" : ""
  }`;
}

export function readCookie(header: string | null, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function isMember(value: unknown): value is Member {
  const m = value as Member;
  return typeof m === "object" && m !== null && typeof m.id === "string" &&
    typeof m.name === "string";
}

function randomId(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(12)));
}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromBase64url(text: string): Uint8Array {
  const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}
