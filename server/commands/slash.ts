/**
 * The built-in slash commands. They are registered exactly as an application's own
 * commands are, and act through the same hub calls, so the same permissions apply.
 */
import { ProtocolError } from "../../protocol/errors.ts";
import { type CommandContext, defineCommand, type SlashCommand } from "../extensions.ts";

/** "@bob", "bob" -> the user's id. */
async function userArg(context: CommandContext, token: string | undefined): Promise<string> {
  const name = token?.replace(/^@/, "");
  if (!name) throw new ProtocolError("invalid_frame", "Name a user.");
  return (await context.hub.findUser(name)).id;
}

/** "30", "30m", "2h", "7d" -> minutes; null when the token is not a duration. */
export function parseMinutes(token: string | undefined): number | null {
  const match = token ? /^(\d{1,6})([mhd]?)$/.exec(token) : null;
  if (!match) return null;
  const n = Number(match[1]);
  const unit = { "": 1, m: 1, h: 60, d: 60 * 24 }[match[2] as "" | "m" | "h" | "d"];
  return n > 0 ? n * unit : null;
}

/** Split off the first `count` words; the rest is free text. */
function words(args: string, count: number): [string[], string] {
  const parts = args.trim().split(/\s+/).filter(Boolean);
  return [parts.slice(0, count), parts.slice(count).join(" ")];
}

export function builtinCommands(list: () => SlashCommand[]): SlashCommand[] {
  return [
    defineCommand({
      name: "me",
      usage: "/me <action>",
      description: "Post an action, shown as “Ada waves”",
      async run(args, { hub, conn, room }) {
        if (!args.trim()) throw new ProtocolError("text_empty", "Say what you do: /me waves");
        const { message } = await hub.send(conn, room, `/me ${args.trim()}`, crypto.randomUUID());
        return { message };
      },
    }),
    defineCommand({
      name: "topic",
      usage: "/topic <text>",
      description: "Set the room's topic",
      async run(args, { hub, conn, room }) {
        await hub.updateRoom(conn, room, { topic: args.trim() });
        return { text: args.trim() ? `Topic set.` : "Topic cleared." };
      },
    }),
    defineCommand({
      name: "invite",
      usage: "/invite <user>",
      description: "Invite someone to this room",
      async run(args, context) {
        const [[name]] = words(args, 1);
        await context.hub.invite(context.conn, context.room, await userArg(context, name));
        return { text: `Invited ${name}.` };
      },
    }),
    defineCommand({
      name: "kick",
      usage: "/kick <user> [reason]",
      description: "Remove someone from this room",
      async run(args, context) {
        const [[name], reason] = words(args, 1);
        await context.hub.kick(context.conn, context.room, await userArg(context, name), reason);
        return { text: `Kicked ${name}.` };
      },
    }),
    defineCommand({
      name: "ban",
      usage: "/ban <user> [30m|2h|7d] [reason]",
      description: "Ban someone from this room, for a time or for ever",
      async run(args, context) {
        const [[name, second]] = words(args, 2);
        const minutes = parseMinutes(second);
        const reason = words(args, minutes === null ? 1 : 2)[1];
        const user = await userArg(context, name);
        await context.hub.ban(context.conn, context.room, user, minutes ?? undefined, reason);
        return { text: `Banned ${name}${minutes === null ? " for ever" : ""}.` };
      },
    }),
    defineCommand({
      name: "mute",
      usage: "/mute <user> <30m|2h|7d> [reason]",
      description: "Stop someone posting here for a while",
      async run(args, context) {
        const [[name, second], reason] = words(args, 2);
        const minutes = parseMinutes(second);
        if (minutes === null) {
          throw new ProtocolError("invalid_frame", "Say for how long: /mute bob 10m");
        }
        const user = await userArg(context, name);
        await context.hub.mute(context.conn, context.room, user, minutes, reason);
        return { text: `Muted ${name}.` };
      },
    }),
    defineCommand({
      name: "leave",
      usage: "/leave",
      description: "Leave this room",
      async run(_args, { hub, conn, room }) {
        await hub.leave(conn, room);
        return { text: `You left #${room}.` };
      },
    }),
    defineCommand({
      name: "help",
      usage: "/help",
      description: "List the commands",
      run() {
        const lines = list().map((c) => `${c.usage} — ${c.description}`);
        return Promise.resolve({ text: lines.join("\n") });
      },
    }),
  ];
}
