/** Fake connections for hub and session unit tests: no sockets involved. */
import { decodeServerData } from "../protocol/frames.ts";
import type { Member, ServerFrame } from "../protocol/messages.ts";
import type { ServerRole } from "../protocol/permissions.ts";
import type { Principal } from "../server/auth/types.ts";
import type { Connection } from "../server/hub.ts";

export class FakeConnection implements Connection {
  readonly id = crypto.randomUUID();
  readonly sent: string[] = [];
  closedWith: { code: number; reason: string } | null = null;
  readonly principal: Principal;
  constructor(readonly user: Member, role: ServerRole = "user") {
    this.principal = { user, role, via: "session" };
  }

  send(data: string): void {
    this.sent.push(data);
  }

  close(code: number, reason: string): void {
    this.closedWith = { code, reason };
  }

  frames(): ServerFrame[] {
    return this.sent.flatMap((s) => decodeServerData(s));
  }

  pushes<T extends ServerFrame["type"]>(type: T): Extract<ServerFrame, { type: T }>[] {
    return this.frames().filter((f) => f.type === type) as Extract<ServerFrame, { type: T }>[];
  }

  clear(): void {
    this.sent.length = 0;
  }
}

export const tick = () => new Promise((resolve) => setTimeout(resolve, 0));
