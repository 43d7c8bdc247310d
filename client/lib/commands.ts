/**
 * Slash commands in the composer: what the text asks for, and what to offer while the
 * name is still being typed. Pure functions; the Composer island wires them up.
 */
import type { CommandInfo } from "../../protocol/messages.ts";

/** The server's rule for command names (protocol/schema.ts), kept here to keep zod out. */
export const COMMAND_NAME = /^[a-z][a-z0-9_-]{0,31}$/;

/** What the composer's text means once sent. */
export type Submission =
  | { kind: "message"; text: string }
  | { kind: "command"; name: string; args: string }
  /** Starts with "/" but names no command the server could have, e.g. "/ " or "/Ünï". */
  | { kind: "invalid"; name: string };

/**
 * "/kick bob spam" is a command; "//path" sends "/path" as a message. Without any
 * commands from the server (an older one), everything is a message.
 */
export function parseSubmission(text: string, commandsOn: boolean): Submission {
  if (!commandsOn || !text.startsWith("/")) return { kind: "message", text };
  if (text.startsWith("//")) return { kind: "message", text: text.slice(1) };
  const match = /^\/(\S*)(?:\s+([\s\S]*))?$/.exec(text)!;
  const name = match[1]!.toLowerCase();
  if (!COMMAND_NAME.test(name)) return { kind: "invalid", name: match[1]! };
  return { kind: "command", name, args: (match[2] ?? "").trimEnd() };
}

/** The command name typed so far ("/ki" -> "ki"), or null once past the name, or not a command. */
export function typedName(text: string): string | null {
  const match = /^\/([^\s/]*)$/.exec(text);
  return match ? match[1]!.toLowerCase() : null;
}

/** Commands whose name starts with `prefix`, in the server's order. */
export function matchCommands(commands: readonly CommandInfo[], prefix: string): CommandInfo[] {
  return commands.filter((c) => c.name.startsWith(prefix));
}

/** Whether the command's usage names arguments ("/kick <user>"), or it runs alone ("/help"). */
export function takesArgs(command: CommandInfo): boolean {
  return command.usage.trim() !== `/${command.name}`;
}

/** The composer text once `command` is picked from the list. */
export function completion(command: CommandInfo): string {
  return `/${command.name} `;
}
