/**
 * The PostgreSQL store's repositories: a table per kind of thing (migration 2 in
 * postgres_schema.ts). As in the rest of the store, every operation is one statement, so
 * none holds a transaction across round trips (see postgres_batch.ts for why).
 */
import { PgAccounts, PgInvites, PgLoginFailures, PgSessions, PgTickets } from "./postgres_auth.ts";
import { PgApiKeys, PgWebhooks } from "./postgres_admin.ts";
import { PgAccess, PgModlog } from "./postgres_rooms.ts";
import { type Guarded, PgContext } from "./postgres_context.ts";
import type { Sql } from "./postgres_schema.ts";
import type { Repositories } from "./repositories.ts";

export function postgresRepositories(sql: Sql, guarded: Guarded): Repositories {
  const pg = new PgContext(sql, guarded);
  return {
    accounts: new PgAccounts(pg),
    sessions: new PgSessions(pg),
    invites: new PgInvites(pg),
    tickets: new PgTickets(pg),
    loginFailures: new PgLoginFailures(pg),
    access: new PgAccess(pg),
    modlog: new PgModlog(pg),
    webhooks: new PgWebhooks(pg),
    apiKeys: new PgApiKeys(pg),
  };
}
