import { deepEqual, equal } from "node:assert/strict";
import type { CommandInfo } from "../../protocol/messages.ts";
import { matchCommands, parseSubmission, takesArgs, typedName } from "./commands.ts";

const cmd = (name: string, usage = `/${name}`): CommandInfo => ({ name, usage, description: "" });
const LIST = [cmd("me", "/me <action>"), cmd("mute", "/mute <user> <time>"), cmd("help")];

Deno.test("parseSubmission: commands, escaped slashes and plain text", () => {
  deepEqual(parseSubmission("hello", true), { kind: "message", text: "hello" });
  deepEqual(parseSubmission("/kick bob  spam ", true), {
    kind: "command",
    name: "kick",
    args: "bob  spam",
  });
  deepEqual(parseSubmission("/help", true), { kind: "command", name: "help", args: "" });
  deepEqual(parseSubmission("/Help", true), { kind: "command", name: "help", args: "" });
  deepEqual(parseSubmission("/me waves\nat all", true), {
    kind: "command",
    name: "me",
    args: "waves\nat all",
  });
  deepEqual(parseSubmission("//usr/bin is a path", true), {
    kind: "message",
    text: "/usr/bin is a path",
  });
  deepEqual(parseSubmission("/ hi", true), { kind: "invalid", name: "" });
  deepEqual(parseSubmission("/9lives", true), { kind: "invalid", name: "9lives" });
  // A server without commands: the text is just text.
  deepEqual(parseSubmission("/kick bob", false), { kind: "message", text: "/kick bob" });
});

Deno.test("typedName and matchCommands: complete while the name is being typed", () => {
  equal(typedName("/"), "");
  equal(typedName("/mu"), "mu");
  equal(typedName("/MU"), "mu");
  equal(typedName("/mute "), null);
  equal(typedName("hello"), null);
  equal(typedName("//x"), null);
  deepEqual(matchCommands(LIST, "").map((c) => c.name), ["me", "mute", "help"]);
  deepEqual(matchCommands(LIST, "m").map((c) => c.name), ["me", "mute"]);
  deepEqual(matchCommands(LIST, "he").map((c) => c.name), ["help"]);
  deepEqual(matchCommands(LIST, "x"), []);
});

Deno.test("takesArgs: from the usage line", () => {
  equal(takesArgs(cmd("help")), false);
  equal(takesArgs(cmd("leave", "/leave ")), false);
  equal(takesArgs(cmd("me", "/me <action>")), true);
});
