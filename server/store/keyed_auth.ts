/** Accounts, sessions, single-use secrets and login failures over a KeyValue (see keyed.ts). */
import type { Key, KeyValue } from "./keyed.ts";
import type {
  AccountRecord,
  AccountRepository,
  Expiry,
  LoginFailureRepository,
  LoginFailures,
  SessionRecord,
  SessionRepository,
  SingleUseRepository,
} from "./repositories.ts";

const FIRST_ADMIN: Key = ["meta", "first-admin"];

export class KeyedAccounts implements AccountRepository {
  constructor(readonly kv: KeyValue) {}

  get(id: string): Promise<AccountRecord | null> {
    return this.kv.get<AccountRecord>(["acct", id]);
  }

  async byName(username: string): Promise<AccountRecord | null> {
    const id = await this.kv.get<string>(["uname", username.toLowerCase()]);
    return id ? await this.get(id) : null;
  }

  async list(): Promise<AccountRecord[]> {
    return (await this.kv.list<AccountRecord>(["acct"])).map((row) => row.value);
  }

  async register(account: AccountRecord): Promise<AccountRecord | null> {
    const name: Key = ["uname", account.username.toLowerCase()];
    const write = (value: AccountRecord) => [
      { key: name, value: value.id },
      { key: ["acct", value.id], value },
    ];
    // The first-admin mark and the name are claimed in one step: exactly one registration
    // ever takes the mark, and only together with its name.
    if ((await this.kv.get(FIRST_ADMIN)) === null) {
      const admin: AccountRecord = { ...account, role: "admin" };
      const claimed = await this.kv.atomic({
        absent: [name, FIRST_ADMIN],
        set: [...write(admin), { key: FIRST_ADMIN, value: admin.id }],
      });
      if (claimed) return admin;
    }
    return await this.kv.atomic({ absent: [name], set: write(account) }) ? account : null;
  }

  async put(account: AccountRecord): Promise<void> {
    await this.kv.set(["acct", account.id], account);
  }
}

/** ["sess", hash] holds the session, ["usess", user, hash] lists it under its user. */
export class KeyedSessions implements SessionRepository {
  constructor(readonly kv: KeyValue) {}

  async put(hash: string, session: SessionRecord, { expireIn }: Expiry): Promise<void> {
    await this.kv.atomic({
      set: [
        { key: ["sess", hash], value: session, expireIn },
        { key: ["usess", session.userId, hash], value: session.createdAt, expireIn },
      ],
    });
  }

  get(hash: string): Promise<SessionRecord | null> {
    return this.kv.get<SessionRecord>(["sess", hash]);
  }

  async take(hash: string): Promise<SessionRecord | null> {
    const session = await this.kv.take<SessionRecord>(["sess", hash]);
    if (session) await this.kv.delete(["usess", session.userId, hash]);
    return session;
  }

  async ofUser(userId: string): Promise<string[]> {
    return (await this.kv.list(["usess", userId])).map((row) => row.key[2]!);
  }

  async revokeUser(userId: string): Promise<string[]> {
    const hashes = await this.ofUser(userId);
    for (const hash of hashes) {
      await this.kv.atomic({ delete: [["sess", hash], ["usess", userId, hash]] });
    }
    return hashes;
  }
}

export class KeyedSingleUse<T> implements SingleUseRepository<T> {
  constructor(readonly kv: KeyValue, readonly prefix: string) {}

  async put(hash: string, value: T, { expireIn }: Expiry): Promise<void> {
    await this.kv.set([this.prefix, hash], value, { expireIn });
  }

  take(hash: string): Promise<T | null> {
    return this.kv.take<T>([this.prefix, hash]);
  }
}

export class KeyedLoginFailures implements LoginFailureRepository {
  constructor(readonly kv: KeyValue) {}

  get(key: string): Promise<LoginFailures | null> {
    return this.kv.get<LoginFailures>(["loginfail", key]);
  }

  async put(key: string, failures: LoginFailures, { expireIn }: Expiry): Promise<void> {
    await this.kv.set(["loginfail", key], failures, { expireIn });
  }

  async delete(key: string): Promise<void> {
    await this.kv.delete(["loginfail", key]);
  }
}
