// Opens the database: PostgreSQL through postgres.js when given a postgres:// URL, otherwise
// PGlite (PostgreSQL compiled to WebAssembly, in this process) in a directory — the embedded
// default. Either way the migrations under db/migrations run before the handle is returned,
// and the repositories see one drizzle type, so they work unchanged on both.
import { mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import * as schema from './schema.js';

/** The handle every repository takes; a transaction (`db.transaction(tx => …)`) is one too. */
export type Database = PgDatabase<PgQueryResultHKT, typeof schema>;
/** The handle a transaction callback receives: a Database whose statements run inside it. */
export type Transaction = Parameters<Parameters<Database['transaction']>[0]>[0];

export interface OpenedDatabase {
  db: Database;
  kind: 'postgres' | 'pglite';
  /** Runs one raw SQL statement and returns its rows (for tests and maintenance tooling). */
  query(sqlText: string): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** A postgres:// (or postgresql://) URL; when set, PGlite is not used. */
  url?: string;
  /** PGlite's data directory; "memory://" keeps everything in memory (tests). Default: memory://. */
  pgliteDir?: string;
  /**
   * A data directory to start an empty PGlite one from: a file written by PGlite's
   * dumpDataDir. It spares PostgreSQL's initdb (seconds): the tests start each in-memory
   * database from one made once per run. Migrations run all the same.
   */
  pgliteTemplate?: string;
}

const migrationsFolder = fileURLToPath(new URL('./migrations', import.meta.url));
// Any fixed number: every vaultscan process that migrates takes this lock first.
const MIGRATION_LOCK_ID = 0x7661756c74; // "vault"

export async function openDatabase(options: OpenDatabaseOptions): Promise<OpenedDatabase> {
  if (options.url) {
    if (!/^postgres(ql)?:\/\//.test(options.url))
      throw new Error('the database URL must start with postgres:// or postgresql://');
    return openPostgres(options.url);
  }
  return openPglite(options.pgliteDir ?? 'memory://', options.pgliteTemplate);
}

async function openPostgres(url: string): Promise<OpenedDatabase> {
  await migratePostgresOnce(url);
  const client = postgres(url, { max: 10, onnotice: () => undefined, connection: { application_name: 'vaultscan' } });
  const db = drizzlePostgres(client, { schema });
  return {
    db,
    kind: 'postgres',
    query: async (text) => [...(await client.unsafe<Record<string, unknown>[]>(text))],
    close: () => client.end({ timeout: 5 }),
  };
}

/**
 * The API and the control-plane worker may start at the same moment against one database; an
 * advisory lock, held on the migrator's single connection, lets one of them migrate at a time.
 */
async function migratePostgresOnce(url: string): Promise<void> {
  const client = postgres(url, {
    max: 1,
    onnotice: () => undefined,
    connection: { application_name: 'vaultscan-migrate' },
  });
  try {
    const db = drizzlePostgres(client);
    await db.execute(sql`select pg_advisory_lock(${MIGRATION_LOCK_ID})`);
    try {
      await migratePostgres(db, { migrationsFolder });
    } finally {
      await db.execute(sql`select pg_advisory_unlock(${MIGRATION_LOCK_ID})`);
    }
  } finally {
    await client.end({ timeout: 5 });
  }
}

async function openPglite(dataDir: string, template?: string): Promise<OpenedDatabase> {
  if (!dataDir.startsWith('memory://')) mkdirSync(dataDir, { recursive: true });
  const client = await PGlite.create(dataDir, template ? { loadDataDir: new Blob([readFileSync(template)]) } : {});
  try {
    const db = drizzlePglite(client, { schema });
    await migratePglite(db, { migrationsFolder });
    return {
      db,
      kind: 'pglite',
      query: async (text) => (await client.query<Record<string, unknown>>(text)).rows,
      close: () => client.close(),
    };
  } catch (err) {
    await client.close();
    throw err;
  }
}
