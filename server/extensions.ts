/**
 * What an application plugs into Parley without forking it: hooks around connecting,
 * joining, sending and presence; its own namespaced frame types; and slash commands.
 */
import * as z from "zod";
import type { CommandInfo, Features, Message } from "../protocol/messages.ts";
import { COMMAND_NAME_PATTERN } from "../protocol/schema.ts";
import type { Connection, Hub } from "./hub.ts";
import type { HookRunner, HookUser } from "./hooks.ts";

export {
  DEFAULT_HOOK_TIMEOUT_MS,
  HookRunner,
  type Hooks,
  type HookUser,
  hookUser,
  type PresenceEvent,
  type Refusal,
  type SendDraft,
} from "./hooks.ts";

// ---- custom frames --------------------------------------------------------------------------

/** Custom frame types are namespaced: "x." and lower-case dotted words. */
export const CUSTOM_TYPE_PATTERN = /^x\.[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;

/** What a custom frame's handler may do besides answering. */
export interface FrameContext {
  user: HookUser;
  hub: Hub;
  /** Whether the caller's socket has joined `room`. */
  joined(room: string): boolean;
  /** A `custom` push to everyone in a room (on every instance). */
  pushToRoom(room: string, name: string, data: unknown): void;
  /** A `custom` push to every socket of one user (on every instance). */
  pushToUser(userId: string, name: string, data: unknown): void;
}

export interface CustomFrame<S extends z.ZodRawShape = z.ZodRawShape, R = unknown> {
  /** e.g. "x.poll.vote" */
  type: string;
  description?: string;
  /** The request's fields besides `type` and `id`. */
  body: S;
  /** The `ok` payload's schema, for the protocol document; any JSON when absent. */
  result?: z.ZodType<R>;
  handler(frame: z.infer<z.ZodObject<S>>, context: FrameContext): Promise<R> | R;
}

/** Declare a custom frame; the identity function keeps the handler's types exact. */
export function defineFrame<S extends z.ZodRawShape, R>(
  frame: CustomFrame<S, R>,
): CustomFrame<S, R> {
  return frame;
}

export interface CompiledFrame {
  frame: CustomFrame;
  schema: z.ZodType;
}

/** Check the registrations and build each frame's full schema (with `type` and `id`). */
export function compileFrames(frames: CustomFrame[]): Map<string, CompiledFrame> {
  const compiled = new Map<string, CompiledFrame>();
  for (const frame of frames) {
    if (!CUSTOM_TYPE_PATTERN.test(frame.type)) {
      throw new Error(`custom frame type "${frame.type}" must look like "x.app.action"`);
    }
    if (compiled.has(frame.type)) throw new Error(`custom frame "${frame.type}" is defined twice`);
    const schema = z.strictObject({
      ...frame.body,
      type: z.literal(frame.type),
      id: z.int().min(0).max(2 ** 31 - 1),
    }).describe(frame.description ?? frame.type);
    compiled.set(frame.type, { frame, schema });
  }
  return compiled;
}

// ---- slash commands --------------------------------------------------------------------------

export interface CommandContext {
  conn: Connection;
  user: HookUser;
  hub: Hub;
  /** The room the command was typed in. */
  room: string;
}

export interface CommandResult {
  /** Feedback for the user who ran it. */
  text?: string;
  /** The message it posted, if any. */
  message?: Message;
}

export interface SlashCommand extends CommandInfo {
  run(args: string, context: CommandContext): Promise<CommandResult | void>;
}

/** Declare a slash command. */
export function defineCommand(command: SlashCommand): SlashCommand {
  if (!COMMAND_NAME_PATTERN.test(command.name)) {
    throw new Error(`command name "${command.name}" must match ${COMMAND_NAME_PATTERN}`);
  }
  return command;
}

/** Everything an application added, compiled once and shared by every session. */
export interface Extensions {
  hooks: HookRunner;
  frames: Map<string, CompiledFrame>;
  commands: Map<string, SlashCommand>;
  features: Features;
}
