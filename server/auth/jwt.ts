/**
 * JWTs from an application that has its own users: HS256 with a shared secret, or
 * RS256/ES256 keys from a JWKS file or URL, verified with `jose`.
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  type JWTPayload,
  jwtVerify,
  type JWTVerifyGetKey,
} from "jose";
import type { ServerRole } from "../../protocol/permissions.ts";
import { AuthError } from "./types.ts";

export interface JwtOptions {
  /** HS256 shared secret. */
  secret?: string;
  /** A JWKS document's URL (https:, http:) or file path, for RS256 and ES256 keys. */
  jwks?: string;
  issuer?: string;
  audience?: string;
  /** The claim that holds the user's roles (a string or an array); "roles" by default. */
  rolesClaim?: string;
}

export interface JwtIdentity {
  id: string;
  name: string;
  role: ServerRole;
  expiresAt: number;
}

/** Clock skew tolerated on exp and nbf. */
const CLOCK_TOLERANCE_S = 30;

export class JwtVerifier {
  /** Imported once: handing jose raw bytes would import a key for every token. */
  readonly #secret: CryptoKey | null;
  readonly #jwks: JWTVerifyGetKey | null;
  readonly #options: JwtOptions;

  private constructor(
    options: JwtOptions,
    secret: CryptoKey | null,
    jwks: JWTVerifyGetKey | null,
  ) {
    this.#options = options;
    this.#secret = secret;
    this.#jwks = jwks;
  }

  /** Null when neither a secret nor a JWKS is configured. */
  static async create(options: JwtOptions): Promise<JwtVerifier | null> {
    if (!options.secret && !options.jwks) return null;
    let jwks: JWTVerifyGetKey | null = null;
    if (options.jwks) {
      jwks = /^https?:\/\//.test(options.jwks)
        ? createRemoteJWKSet(new URL(options.jwks))
        : createLocalJWKSet(JSON.parse(await Deno.readTextFile(options.jwks)));
    }
    const secret = options.secret
      ? await crypto.subtle.importKey(
        "raw",
        new TextEncoder().encode(options.secret),
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["verify"],
      )
      : null;
    return new JwtVerifier(options, secret, jwks);
  }

  /** Verify a token and map its claims onto a user; throws AuthError when refused. */
  async verify(token: string): Promise<JwtIdentity> {
    const payload = await this.#payload(token);
    if (typeof payload.sub !== "string" || payload.sub.length === 0 || payload.sub.length > 100) {
      throw new AuthError("invalid_token", "The token has no usable sub claim.", 401);
    }
    if (typeof payload.exp !== "number") {
      throw new AuthError("invalid_token", "The token must expire (exp).", 401);
    }
    const name = [payload.name, payload.preferred_username, payload.sub]
      .find((v): v is string => typeof v === "string" && v.trim().length > 0)!
      .trim().slice(0, 32);
    return {
      id: `jwt:${payload.sub}`,
      name,
      role: roleFrom(payload[this.#options.rolesClaim ?? "roles"]),
      expiresAt: payload.exp * 1000,
    };
  }

  async #payload(token: string): Promise<JWTPayload> {
    const checks = {
      ...(this.#options.issuer ? { issuer: this.#options.issuer } : {}),
      ...(this.#options.audience ? { audience: this.#options.audience } : {}),
      clockTolerance: CLOCK_TOLERANCE_S,
    };
    let lastError: unknown;
    // A token is tried against each configured key source; HS256 and JWKS may coexist.
    if (this.#secret) {
      try {
        return (await jwtVerify(token, this.#secret, { ...checks, algorithms: ["HS256"] }))
          .payload;
      } catch (error) {
        lastError = error;
      }
    }
    if (this.#jwks) {
      try {
        return (await jwtVerify(token, this.#jwks, { ...checks, algorithms: ["RS256", "ES256"] }))
          .payload;
      } catch (error) {
        lastError = error;
      }
    }
    throw new AuthError("invalid_token", `Token refused: ${describe(lastError)}`, 401);
  }
}

function roleFrom(claim: unknown): ServerRole {
  const roles = Array.isArray(claim) ? claim : typeof claim === "string" ? claim.split(/[ ,]/) : [];
  if (roles.includes("admin")) return "admin";
  if (roles.includes("guest")) return "guest";
  return "user";
}

function describe(error: unknown): string {
  const code = (error as { code?: string })?.code;
  if (code === "ERR_JWT_EXPIRED") return "it has expired.";
  if (code === "ERR_JWS_SIGNATURE_VERIFICATION_FAILED") return "bad signature.";
  if (code === "ERR_JWT_CLAIM_VALIDATION_FAILED") return `${(error as Error).message}.`;
  return "it is malformed or signed with an unknown key.";
}
