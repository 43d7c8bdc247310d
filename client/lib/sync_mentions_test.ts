import { strictEqual } from "node:assert/strict";
import type { Member, Message, RoomInfo } from "../../protocol/messages.ts";
import { atBottom, currentRoom, identity, pageVisible, roomView } from "./state.ts";
import { type Requester, RoomSync } from "./sync.ts";

const me: Member = { id: "u1", name: "Ada" };
const bob: Member = { id: "u2", name: "Bob" };

const text = (seq: number, mentions?: string[]): Message => ({
  id: `m${seq}`,
  room: "lounge",
  seq,
  kind: "text",
  author: bob,
  text: `t${seq}`,
  ts: seq,
  ...(mentions ? { mentions } : {}),
});

const info = (over: Partial<RoomInfo> = {}): RoomInfo => ({
  name: "lounge",
  kind: "public",
  title: "",
  topic: "",
  createdAt: 0,
  createdBy: "u2",
  lastSeq: 1,
  online: 1,
  receipts: false,
  ...over,
});

Deno.test("mentions: from the join, counted live when not watching, cleared by reading", async () => {
  identity.value = me;
  currentRoom.value = "general";
  pageVisible.value = true;
  atBottom.value = true;
  const request = ((type: string, body: Record<string, unknown>) => {
    if (type === "room.join") {
      return Promise.resolve({
        room: info({ unread: 1, mentions: 1, readSeq: 0 }),
        messages: [text(1, ["ada"])],
        hasMore: false,
        presence: [],
      });
    }
    if (type === "read") return Promise.resolve({ seq: body.seq });
    return Promise.reject(new Error(`unexpected ${type}`));
  }) as Requester;
  const sync = new RoomSync(request, { readDelayMs: 0 });
  sync.hello("e1");
  await sync.join("lounge");
  const view = roomView("lounge");
  strictEqual(view.mentions.value, 1);

  sync.receive(text(2, ["room"]));
  sync.receive(text(3));
  sync.receive(text(4, ["bob"]));
  sync.receive(text(5, ["ada"]));
  strictEqual(view.unread.value, 5);
  strictEqual(view.mentions.value, 3);

  // Read up to 2: the mention at 5 is still unread.
  sync.markRead("lounge", 2);
  strictEqual(view.mentions.value, 1);
  sync.markRead("lounge", 5);
  strictEqual(view.mentions.value, 0);
  strictEqual(view.unread.value, 0);

  // Watching the room: nothing is counted.
  currentRoom.value = "lounge";
  sync.receive(text(6, ["ada"]));
  strictEqual(view.mentions.value, 0);
});
