/**
 * The account and admin routes' shapes (server/http.ts): their request bodies are decoded
 * with these schemas at the boundary, and published with the rest in `/api/openapi.json`.
 */
import * as z from "zod";
import { Member, ServerRole } from "../../protocol/schema.ts";

const Username = z.string().max(64).describe(
  "2-32 letters, digits, '.', '_' or '-' (checked by the account rules)",
);
const Password = z.string().max(1024).describe("At least 10 characters, at most 256");

export const LoginBody = z.strictObject({ username: Username, password: Password });

export const RegisterBody = z.strictObject({
  username: Username,
  password: Password,
  invite: z.string().max(256).optional().describe(
    "An admin's invitation code, when registration is by invitation",
  ),
});

export const LogoutBody = z.strictObject({
  everywhere: z.boolean().optional().describe("End every session of the user, not only this one"),
});

/** Routes that take no fields: the body may be left out, or be `{}`. */
export const EmptyBody = z.strictObject({}).describe("No fields; the body may be left out");

export const UserPatch = z.strictObject({
  role: ServerRole.optional(),
  disabled: z.boolean().optional().describe("Disabling signs the user out everywhere"),
});

export const RoomPatch = z.strictObject({
  disabled: z.boolean().describe("A disabled room refuses joins and posts"),
});

// ---- answers ----------------------------------------------------------------------------------

export const SignedIn = z.strictObject({ user: Member, role: ServerRole }).describe(
  "Signed in: the session is in the HttpOnly parley_session cookie set with this answer",
);

export const IssuedToken = z.strictObject({
  token: z.string().describe("A session token: send it as Authorization: Bearer <token>"),
  user: Member,
  role: ServerRole,
});

export const Ticket = z.strictObject({
  ticket: z.string().describe("Single use: open one WebSocket with /ws?ticket=<ticket>"),
  expiresAt: z.number().describe("ms since the Unix epoch"),
});

export const Invite = z.strictObject({
  code: z.string().describe("Shown once: the store keeps its hash"),
  expiresAt: z.number().describe("ms since the Unix epoch"),
});
