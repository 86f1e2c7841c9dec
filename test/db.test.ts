// The data layer, run twice: on PGlite in memory and on a fresh PostgreSQL database.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** The migrations the journal lists: each must be applied exactly once. */
const MIGRATIONS = (
  JSON.parse(readFileSync(new URL('../db/migrations/meta/_journal.json', import.meta.url), 'utf8')) as {
    entries: unknown[];
  }
).entries.length;
import { openDatabase, type OpenedDatabase } from '../db/client.js';
import { SecretBox, SecretBoxError, type Keyring } from '../db/crypto.js';
import {
  ConflictError,
  InUseError,
  InvalidReferenceError,
  InvalidValueError,
  NotFoundError,
  type DataError,
} from '../db/errors.js';
import { CHECK_CONSTRAINTS, FOREIGN_KEYS, UNIQUE_CONSTRAINTS } from '../db/translate-errors.js';
import {
  applianceRepo,
  assetRepo,
  authRecordRepo,
  DEFAULT_PROFILE,
  profileRepo,
  profileSettings,
  resultRepo,
  scanRepo,
  vaultRepo,
  type HostResultInput,
} from '../db/repositories/index.js';
import { appliances } from '../db/schema.js';
import { PGLITE_TEMPLATE_ENV } from './harness/shared-fixtures.js';

const ADMIN_URL = process.env.VAULTSCAN_TEST_PG_ADMIN_URL ?? 'postgres://root@127.0.0.1:5432/test';

interface Backend {
  name: 'pglite' | 'postgres';
  open(): Promise<{ database: OpenedDatabase; dispose(): Promise<void> }>;
}

const backends: Backend[] = [
  {
    name: 'pglite',
    async open() {
      const database = await openDatabase({ pgliteDir: 'memory://', pgliteTemplate: process.env[PGLITE_TEMPLATE_ENV] });
      return { database, dispose: () => database.close() };
    },
  },
  {
    name: 'postgres',
    async open() {
      const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => undefined });
      const name = `vstest_${randomBytes(6).toString('hex')}`;
      await admin.unsafe(`create database ${name}`);
      const url = new URL(ADMIN_URL);
      url.pathname = `/${name}`;
      try {
        const database = await openDatabase({ url: url.toString() });
        return {
          database,
          async dispose() {
            await database.close();
            await admin.unsafe(`drop database if exists ${name} with (force)`);
            await admin.end();
          },
        };
      } catch (err) {
        await admin.unsafe(`drop database if exists ${name} with (force)`);
        await admin.end();
        throw err;
      }
    },
  },
];

const keyring = (id: string): Keyring => ({ activeKeyId: id, keys: new Map([[id, randomBytes(32)]]) });

async function rejection(promise: Promise<unknown>): Promise<DataError> {
  try {
    await promise;
  } catch (err) {
    return err as DataError;
  }
  throw new Error('expected the call to fail');
}

const packages = (n: number, tag = '') =>
  Array.from({ length: n }, (_, i) => ({
    name: `pkg-${String(i).padStart(4, '0')}${tag}`,
    version: `1.${i}`,
    arch: 'x86_64',
  }));

describe('PostgreSQL migrations', () => {
  it('run once when several processes open a fresh database at the same moment', async () => {
    const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => undefined });
    const name = `vstest_${randomBytes(6).toString('hex')}`;
    await admin.unsafe(`create database ${name}`);
    try {
      const url = new URL(ADMIN_URL);
      url.pathname = `/${name}`;
      const opened = await Promise.all(Array.from({ length: 4 }, () => openDatabase({ url: url.toString() })));
      const [first] = opened;
      expect(await first!.query('select count(*)::int as n from drizzle.__drizzle_migrations')).toEqual([
        { n: MIGRATIONS },
      ]);
      expect(
        await first!.query(`select count(*)::int as n from information_schema.tables where table_schema = 'public'`),
      ).toEqual([{ n: 21 }]);
      await Promise.all(opened.map((o) => o.close()));
    } finally {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    }
  });
});

describe('PGlite on disk (the embedded default)', () => {
  it('keeps its data across a restart and does not re-run migrations', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vaultscan-pglite-'));
    try {
      const first = await openDatabase({ pgliteDir: join(dir, 'db') });
      const appliance = await applianceRepo.create(first.db, { name: 'persisted' });
      await first.close();
      const second = await openDatabase({ pgliteDir: join(dir, 'db') });
      expect((await applianceRepo.get(second.db, appliance.id)).name).toBe('persisted');
      expect(await second.query('select count(*)::int as n from drizzle.__drizzle_migrations')).toEqual([
        { n: MIGRATIONS },
      ]);
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a database URL that is not PostgreSQL', async () => {
    await expect(openDatabase({ url: 'mysql://localhost/x' })).rejects.toThrow('must start with postgres://');
  });
});

describe.each(backends)('the database on $name', (backend) => {
  let database: OpenedDatabase;
  let dispose: () => Promise<void>;
  const masterKeys = keyring('m1');
  const box = new SecretBox(masterKeys);
  const db = () => database.db;
  const rowCount = async (table: string) =>
    Number((await database.query(`select count(*)::int as n from ${table}`))[0]!.n);

  beforeAll(async () => {
    ({ database, dispose } = await backend.open());
  });
  afterAll(async () => {
    await dispose?.();
  });

  it('applies the migrations: every table, and the migration journal', async () => {
    const tables = await database.query(
      `select table_name from information_schema.tables where table_schema = 'public' order by 1`,
    );
    expect(tables.map((t) => t.table_name)).toEqual([
      'api_keys',
      'api_sessions',
      'appliances',
      'asset_group_members',
      'asset_groups',
      'asset_tags',
      'assets',
      'audit_events',
      'auth_records',
      'enrolment_codes',
      'host_attempts',
      'host_packages',
      'host_results',
      'known_host_keys',
      'option_profiles',
      'scan_appliances',
      'scans',
      'schedule_appliances',
      'schedules',
      'tags',
      'vault_records',
    ]);
    expect(await rowCount('drizzle.__drizzle_migrations')).toBe(MIGRATIONS);
    expect(MIGRATIONS).toBeGreaterThanOrEqual(2);
    expect(database.kind).toBe(backend.name);
  });

  it('has a translation for every unique, foreign-key and check constraint in the schema', async () => {
    const rows = await database.query(
      `select conname as name, contype as type from pg_constraint where connamespace = 'public'::regnamespace and contype in ('u','f','c')
       union select indexrelid::regclass::text, 'i' from pg_index where indisunique and not indisprimary and indexrelid::regclass::text not in (select conname from pg_constraint)`,
    );
    const known = { u: UNIQUE_CONSTRAINTS, i: UNIQUE_CONSTRAINTS, f: FOREIGN_KEYS, c: CHECK_CONSTRAINTS } as Record<
      string,
      Record<string, unknown>
    >;
    const missing = rows.filter((r) => !(String(r.name) in known[String(r.type)]!)).map((r) => r.name);
    expect(missing).toEqual([]);
    expect(rows.length).toBeGreaterThanOrEqual(18);
  });

  it('rolls back a failed transaction', async () => {
    await expect(
      db().transaction(async (tx) => {
        await tx.insert(appliances).values({ name: 'rolled-back' });
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    expect((await database.query(`select * from appliances where name = 'rolled-back'`)).length).toBe(0);
  });

  describe('appliances', () => {
    it('round-trips create, get, list, update and delete', async () => {
      const created = await applianceRepo.create(db(), { name: 'dc-1', description: 'first' });
      expect(created).toMatchObject({ name: 'dc-1', description: 'first' });
      expect(created.createdAt).toBeInstanceOf(Date);
      expect(await applianceRepo.get(db(), created.id)).toEqual(created);
      expect((await applianceRepo.list(db())).rows.map((a) => a.id)).toContain(created.id);
      const updated = await applianceRepo.update(db(), created.id, { description: 'renamed' });
      expect(updated.description).toBe('renamed');
      expect(updated.updatedAt.getTime()).toBeGreaterThanOrEqual(created.updatedAt.getTime());
      await applianceRepo.remove(db(), created.id);
      await expect(applianceRepo.get(db(), created.id)).rejects.toBeInstanceOf(NotFoundError);
    });

    it('reports a taken name as a 409 naming the field, and unknown ids as 404', async () => {
      await applianceRepo.create(db(), { name: 'dup' });
      const err = await rejection(applianceRepo.create(db(), { name: 'dup' }));
      expect(err).toBeInstanceOf(ConflictError);
      expect(err).toMatchObject({
        statusCode: 409,
        field: 'name',
        message: 'name: an appliance named "dup" already exists',
      });
      const missing = await rejection(applianceRepo.get(db(), '00000000-0000-4000-8000-000000000000'));
      expect(missing).toBeInstanceOf(NotFoundError);
      expect(missing.statusCode).toBe(404);
      expect(await rejection(applianceRepo.get(db(), 'not-a-uuid'))).toBeInstanceOf(NotFoundError);
      expect(await rejection(applianceRepo.remove(db(), '00000000-0000-4000-8000-000000000000'))).toBeInstanceOf(
        NotFoundError,
      );
    });

    it('ensure() creates once and then returns the same appliance', async () => {
      const [a, b] = await Promise.all([
        applianceRepo.ensure(db(), 'local', 'embedded'),
        applianceRepo.ensure(db(), 'local', 'embedded'),
      ]);
      expect(a.id).toBe(b.id);
      expect((await applianceRepo.ensure(db(), 'local')).id).toBe(a.id);
    });
  });

  describe('assets', () => {
    it('stores the value as entered with its normalised range', async () => {
      const cidr = await assetRepo.create(db(), { name: 'lab', value: ' 10.1.0.77/24 ' });
      expect(cidr).toMatchObject({
        kind: 'cidr',
        value: '10.1.0.77/24',
        firstIp: '10.1.0.0',
        lastIp: '10.1.0.255',
        ipVersion: 4,
      });
      expect(cidr.ranges).toEqual([{ first: '10.1.0.0', last: '10.1.0.255', version: 4 }]);
      const range = await assetRepo.create(db(), { name: 'lab2', value: '10.1.1.0 - 10.1.1.9' });
      expect(range).toMatchObject({ kind: 'range', firstIp: '10.1.1.0', lastIp: '10.1.1.9' });
      const v6 = await assetRepo.create(db(), { name: 'v6', value: '2001:DB8::1' });
      expect(v6).toMatchObject({ kind: 'ip', firstIp: '2001:db8::1', ipVersion: 6 });
      expect(await assetRepo.get(db(), cidr.id)).toEqual(cidr);

      const moved = await assetRepo.update(db(), range.id, { value: '10.1.2.0/31' });
      expect(moved).toMatchObject({ kind: 'cidr', firstIp: '10.1.2.0', lastIp: '10.1.2.1', name: 'lab2' });
      expect(await assetRepo.coveredRanges(db())).toEqual([
        { first: '10.1.0.0', last: '10.1.0.255', version: 4 },
        { first: '10.1.2.0', last: '10.1.2.1', version: 4 },
        { first: '2001:db8::1', last: '2001:db8::1', version: 6 },
      ]);
      await assetRepo.remove(db(), v6.id);
    });

    it('refuses a bad value or several entries, naming the field', async () => {
      const bad = await rejection(assetRepo.create(db(), { name: 'x', value: '10.0.0.300' }));
      expect(bad).toBeInstanceOf(InvalidValueError);
      expect(bad).toMatchObject({
        statusCode: 400,
        field: 'value',
        message: 'value: 10.0.0.300 is not a valid IP address',
      });
      expect((await rejection(assetRepo.create(db(), { name: 'x', value: '10.0.0.1, 10.0.0.2' }))).message).toMatch(
        /one IP address, range or CIDR block/,
      );
    });

    it('pages by keyset in creation order: rows created in one transaction (one created_at) each once', async () => {
      const before = (await assetRepo.list(db(), { limit: 500 })).rows.map((a) => a.id);
      // now() is the transaction's start: all three share created_at, and only id orders them.
      const sameInstant = await db().transaction(async (tx) =>
        Promise.all(['10.9.0.1', '10.9.0.2', '10.9.0.3'].map((value) => assetRepo.create(tx, { name: value, value }))),
      );
      const seen: string[] = [];
      let after: string[] | undefined;
      do {
        const page = await assetRepo.list(db(), { limit: 1, ...(after && { after }) });
        seen.push(...page.rows.map((a) => a.id));
        // A row added while a client pages lands at the end; it shifts nothing already seen.
        if (seen.length === 1) await assetRepo.create(db(), { name: 'latecomer', value: '10.9.0.9' });
        after = page.next ?? undefined;
      } while (after);
      const latecomer = (await assetRepo.list(db(), { limit: 500 })).rows.find((a) => a.name === 'latecomer')!;
      expect(seen).toEqual([...before, ...sameInstant.map((a) => a.id).sort(), latecomer.id]);
      expect(new Set(seen).size).toBe(seen.length);
      for (const asset of [...sameInstant, latecomer]) await assetRepo.remove(db(), asset.id);
    });
  });

  describe('vault records', () => {
    const planted = `planted-${randomBytes(12).toString('hex')}`;

    it('seals the access secret, never returns it from reads, and opens it for the control plane', async () => {
      const vault = await vaultRepo.create(db(), box, {
        name: 'bao',
        type: 'hashicorp',
        config: { address: 'https://bao:8200' },
        access: { token: planted },
      });
      expect(vault).not.toHaveProperty('accessCiphertext');
      expect(JSON.stringify(vault)).not.toContain(planted);
      expect(JSON.stringify(await vaultRepo.get(db(), vault.id))).not.toContain('access');
      expect(JSON.stringify(await vaultRepo.list(db()))).not.toContain(planted);
      expect(await vaultRepo.loadAccess(db(), box, vault.id)).toEqual({ token: planted });
      const full = await vaultRepo.loadWithAccess(db(), box, vault.id);
      expect(full).toMatchObject({
        id: vault.id,
        type: 'hashicorp',
        config: { address: 'https://bao:8200' },
        access: { token: planted },
      });

      // No table, dumped row by row as text, holds the secret, in plain or base64 form.
      const tables = await database.query(
        `select table_name from information_schema.tables where table_schema = 'public'`,
      );
      let dump = '';
      for (const { table_name } of tables)
        dump += (await database.query(`select t::text as row from "${String(table_name)}" t`))
          .map((r) => r.row)
          .join('\n');
      expect(dump).toContain(vault.id);
      expect(dump).not.toContain(planted);
      expect(dump).not.toContain(Buffer.from(planted).toString('base64').slice(0, 16));
    });

    it('binds a ciphertext to its row: copied into another vault record, it does not open', async () => {
      const a = await vaultRepo.create(db(), box, {
        name: 'va',
        type: 'hashicorp',
        config: {},
        access: { token: 'a' },
      });
      const b = await vaultRepo.create(db(), box, {
        name: 'vb',
        type: 'hashicorp',
        config: {},
        access: { token: 'b' },
      });
      await database.query(
        `update vault_records set access_ciphertext = (select access_ciphertext from vault_records where id = '${a.id}') where id = '${b.id}'`,
      );
      await expect(vaultRepo.loadAccess(db(), box, b.id)).rejects.toBeInstanceOf(SecretBoxError);
      await vaultRepo.update(db(), box, b.id, { access: { token: 'b2' } });
      expect(await vaultRepo.loadAccess(db(), box, b.id)).toEqual({ token: 'b2' });
      expect(await vaultRepo.loadAccess(db(), box, a.id)).toEqual({ token: 'a' });
    });

    it('re-seals every access secret under a new master key after rotation', async () => {
      const newKey = randomBytes(32);
      const rotated = new SecretBox({
        activeKeyId: 'm2',
        keys: new Map([
          ['m2', newKey],
          ['m1', masterKeys.keys.get('m1')!],
        ]),
      });
      const before = await database.query(`select id from vault_records`);
      expect(await vaultRepo.resealAll(db(), rotated)).toBe(before.length);
      expect(await vaultRepo.resealAll(db(), rotated)).toBe(0);
      const keyIds = await database.query(
        `select distinct split_part(access_ciphertext, ':', 2) as k from vault_records`,
      );
      expect(keyIds.map((r) => r.k)).toEqual(['m2']);
      const onlyNew = new SecretBox({ activeKeyId: 'm2', keys: new Map([['m2', newKey]]) });
      const vault = (await vaultRepo.list(db())).rows.find((v) => v.name === 'va')!;
      expect(await vaultRepo.loadAccess(db(), onlyNew, vault.id)).toEqual({ token: 'a' });
    });

    it('reports a taken name as a conflict', async () => {
      const err = await rejection(
        vaultRepo.create(db(), box, { name: 'bao', type: 'hashicorp', config: {}, access: {} }),
      );
      expect(err).toMatchObject({ statusCode: 409, field: 'name' });
    });
  });

  describe('authentication records', () => {
    it('round-trips, keeping field names and parsed targets', async () => {
      const vault = await vaultRepo.create(db(), box, {
        name: 'auth-vault',
        type: 'hashicorp',
        config: {},
        access: { token: 't' },
      });
      const record = await authRecordRepo.create(db(), {
        name: 'linux',
        technology: 'unix',
        targets: '10.1.0.0/30, 10.1.0.9',
        username: 'scanner',
        port: 22,
        vaultId: vault.id,
        locator: { mount: 'secret', path: 'ssh/linux' },
        fields: { password: 'password', privateKey: 'id_ed25519' },
      });
      expect(record).toMatchObject({
        targets: '10.1.0.0/30, 10.1.0.9',
        port: 22,
        fields: { password: 'password', privateKey: 'id_ed25519' },
      });
      expect(record.ranges).toEqual([
        { first: '10.1.0.0', last: '10.1.0.3', version: 4 },
        { first: '10.1.0.9', last: '10.1.0.9', version: 4 },
      ]);
      const updated = await authRecordRepo.update(db(), record.id, { targets: '10.1.0.5', port: 2222 });
      expect(updated).toMatchObject({
        port: 2222,
        ranges: [{ first: '10.1.0.5', last: '10.1.0.5', version: 4 }],
        username: 'scanner',
      });
      expect((await authRecordRepo.listForTechnologies(db(), ['unix'])).map((r) => r.id)).toContain(record.id);
      expect(await authRecordRepo.listForTechnologies(db(), [])).toEqual([]);
    });

    it('types foreign-key, value and uniqueness failures', async () => {
      const vault = (await vaultRepo.list(db())).rows.find((v) => v.name === 'auth-vault')!;
      const base = {
        name: 'r2',
        technology: 'unix',
        targets: '10.1.0.1',
        username: 'u',
        port: 22,
        vaultId: vault.id,
        locator: {},
        fields: { password: 'p' },
      };

      const unknownVault = await rejection(
        authRecordRepo.create(db(), { ...base, vaultId: '00000000-0000-4000-8000-000000000000' }),
      );
      expect(unknownVault).toBeInstanceOf(InvalidReferenceError);
      expect(unknownVault).toMatchObject({ statusCode: 400, field: 'vaultId' });
      expect(await rejection(authRecordRepo.create(db(), { ...base, vaultId: 'nope' }))).toMatchObject({
        field: 'vaultId',
        statusCode: 400,
      });
      expect(await rejection(authRecordRepo.create(db(), { ...base, targets: '10.0.0.9-10.0.0.1' }))).toMatchObject({
        field: 'targets',
        message: 'targets: range 10.0.0.9-10.0.0.1 ends before it starts',
      });
      expect(await rejection(authRecordRepo.create(db(), { ...base, port: 70000 }))).toMatchObject({
        field: 'port',
        statusCode: 400,
      });
      expect(await rejection(authRecordRepo.create(db(), { ...base, technology: 'windows' }))).toMatchObject({
        field: 'technology',
      });
      expect(await rejection(authRecordRepo.create(db(), { ...base, name: 'linux' }))).toMatchObject({
        field: 'name',
        statusCode: 409,
      });
    });

    it('covers a host with one record per technology: an overlap is refused, naming the record and the addresses', async () => {
      const vault = (await vaultRepo.list(db())).rows.find((v) => v.name === 'auth-vault')!;
      const base = {
        technology: 'unix',
        username: 'u',
        port: 22,
        vaultId: vault.id,
        locator: {},
        fields: { password: 'p' },
      };
      const before = (await authRecordRepo.list(db())).rows.length;
      // 'linux' covers 10.1.0.5 since the round-trip test.
      const err = await rejection(
        authRecordRepo.create(db(), { ...base, name: 'overlapping', targets: '10.1.0.4-10.1.0.6, 10.1.7.0/24' }),
      );
      expect(err).toBeInstanceOf(ConflictError);
      expect(err).toMatchObject({ statusCode: 409, field: 'targets' });
      expect(err.message).toBe(
        'targets: 10.1.0.5 already covered by the unix authentication record "linux"; a host can be covered by one record per technology',
      );
      expect((await authRecordRepo.list(db())).rows.length).toBe(before);

      const next = await authRecordRepo.create(db(), { ...base, name: 'next door', targets: '10.1.0.6-10.1.0.8' });
      expect(await rejection(authRecordRepo.update(db(), next.id, { targets: '::ffff:10.1.0.5' }))).toMatchObject({
        statusCode: 409,
        field: 'targets',
      });
      expect((await authRecordRepo.get(db(), next.id)).targets).toBe('10.1.0.6-10.1.0.8');
      // Changing a record's own targets, or anything else, is no overlap with itself.
      expect((await authRecordRepo.update(db(), next.id, { targets: '10.1.0.6-10.1.0.7', port: 2200 })).port).toBe(
        2200,
      );

      // Two writers at once: the lock lets exactly one of them cover the address.
      const racing = await Promise.allSettled([
        authRecordRepo.create(db(), { ...base, name: 'race a', targets: '10.1.9.1' }),
        authRecordRepo.create(db(), { ...base, name: 'race b', targets: '10.1.9.0/30' }),
      ]);
      expect(racing.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
      for (const r of racing) if (r.status === 'fulfilled') await authRecordRepo.remove(db(), r.value.id);
      await authRecordRepo.remove(db(), next.id);
    });

    it('refuses to delete a vault that a record uses, leaving both intact', async () => {
      const vault = (await vaultRepo.list(db())).rows.find((v) => v.name === 'auth-vault')!;
      const err = await rejection(vaultRepo.remove(db(), vault.id));
      expect(err).toBeInstanceOf(InUseError);
      expect(err.statusCode).toBe(409);
      expect(err.message).toMatch(/used by authentication records/);
      expect((await vaultRepo.get(db(), vault.id)).id).toBe(vault.id);
      expect((await authRecordRepo.list(db())).rows.some((r) => r.vaultId === vault.id)).toBe(true);
    });
  });

  describe('option profiles', () => {
    it('creates the documented default once, even when asked concurrently', async () => {
      const defaults = await Promise.all(Array.from({ length: 5 }, () => profileRepo.getDefault(db())));
      expect(new Set(defaults.map((d) => d.id)).size).toBe(1);
      expect(profileSettings(defaults[0]!)).toEqual({ ...DEFAULT_PROFILE, maxFailedLogins: 3 });
      expect(defaults[0]).toMatchObject({
        name: 'Default',
        isDefault: true,
        technologies: ['unix'],
        maxParallelHosts: 10,
        timeouts: { connectMs: 10_000, commandMs: 60_000, vaultMs: 10_000 },
        retry: { maxAttempts: 3, initialIntervalMs: 1_000, maxIntervalMs: 30_000 },
      });
    });

    it('moves the default to a new default profile and keeps exactly one', async () => {
      const fast = await profileRepo.create(db(), {
        name: 'fast',
        ...DEFAULT_PROFILE,
        maxParallelHosts: 50,
        isDefault: true,
      });
      expect((await profileRepo.getDefault(db())).id).toBe(fast.id);
      const old = (await profileRepo.list(db())).rows.find((p) => p.name === 'Default')!;
      await profileRepo.setDefault(db(), old.id);
      expect((await profileRepo.getDefault(db())).id).toBe(old.id);
      expect((await database.query(`select count(*)::int as n from option_profiles where is_default`))[0]!.n).toBe(1);
      expect(
        await rejection(profileRepo.create(db(), { name: 'bad', ...DEFAULT_PROFILE, maxParallelHosts: 0 })),
      ).toMatchObject({ field: 'maxParallelHosts' });
      expect(await rejection(profileRepo.update(db(), fast.id, { name: 'Default' }))).toMatchObject({
        field: 'name',
        statusCode: 409,
      });
    });
  });

  describe('scans and results', () => {
    let scanId: string;
    let applianceId: string;
    let authRecordId: string;

    const result = (ip: string, over: Partial<HostResultInput> = {}): HostResultInput => ({
      scanId,
      ip,
      technology: 'unix',
      category: 'PASSED',
      errorCode: null,
      vendorCode: null,
      cause: null,
      login: 'scanner',
      authRecordId,
      facts: { osId: 'debian', osVersion: '12' },
      packages: packages(1_500),
      attempts: [
        {
          attemptNo: 1,
          code: 'VAULT_RATE_LIMITED',
          vendorCode: '429',
          httpStatus: 429,
          message: 'rate limited',
          at: '2025-01-01T00:00:00.000Z',
        },
        { attemptNo: 2, code: null, vendorCode: null, httpStatus: null, message: null, at: '2025-01-01T00:00:05.000Z' },
      ],
      ...over,
    });

    beforeAll(async () => {
      applianceId = (await applianceRepo.ensure(db(), 'scan-appliance')).id;
      authRecordId = (await authRecordRepo.list(db())).rows.find((r) => r.name === 'linux')!.id;
    });

    it('creates a scan from its target spec, counting hosts, with typed reference errors', async () => {
      const profile = await profileRepo.getDefault(db());
      const scan = await scanRepo.create(db(), {
        title: 'nightly',
        targets: '10.1.0.0/28, 10.1.0.20',
        optionProfileId: profile.id,
        applianceId,
      });
      scanId = scan.id;
      expect(scan).toMatchObject({
        status: 'QUEUED',
        hostCount: 17,
        workflowId: null,
        startedAt: null,
        finishedAt: null,
        summary: null,
      });
      expect(scan.ranges).toHaveLength(2);

      expect(
        await rejection(
          scanRepo.create(db(), {
            title: 't',
            targets: '10.1.0.1',
            optionProfileId: profile.id,
            applianceId: '00000000-0000-4000-8000-000000000000',
          }),
        ),
      ).toMatchObject({
        field: 'applianceId',
        statusCode: 400,
      });
      expect(
        await rejection(
          scanRepo.create(db(), { title: 't', targets: '2001:db8::/64', optionProfileId: profile.id, applianceId }),
        ),
      ).toMatchObject({
        field: 'targets',
        message: expect.stringMatching(/^targets: the targets cover 18,446,744,073,709,551,616 hosts/),
      });
      expect(await rejection(applianceRepo.remove(db(), applianceId))).toBeInstanceOf(InUseError);
      expect(await rejection(profileRepo.remove(db(), profile.id))).toBeInstanceOf(InUseError);
    });

    it('moves through its statuses, and ending it twice keeps the first ending', async () => {
      expect((await scanRepo.setWorkflowId(db(), scanId, `scan-${scanId}`)).workflowId).toBe(`scan-${scanId}`);
      const running = await scanRepo.markRunning(db(), scanId);
      expect(running.status).toBe('RUNNING');
      expect(running.startedAt).toBeInstanceOf(Date);
      expect((await scanRepo.markRunning(db(), scanId)).startedAt).toEqual(running.startedAt);
      expect((await scanRepo.list(db(), { limit: 10 })).rows[0]!.id).toBe(scanId);
    });

    it('publishes a host result idempotently, in one transaction, with ~1,500 packages', async () => {
      const first = await resultRepo.publish(db(), result('10.1.0.2'));
      const again = await resultRepo.publish(db(), result('10.1.0.2'));
      expect(again.resultId).toBe(first.resultId);
      expect(await rowCount('host_results')).toBe(1);
      expect(await rowCount('host_attempts')).toBe(2);
      expect(await rowCount('host_packages')).toBe(1_500);

      // Concurrent duplicates (a retried activity racing the original) still leave one copy.
      await Promise.all([resultRepo.publish(db(), result('10.1.0.2')), resultRepo.publish(db(), result('10.1.0.2'))]);
      expect(await rowCount('host_results')).toBe(1);
      expect(await rowCount('host_attempts')).toBe(2);
      expect(await rowCount('host_packages')).toBe(1_500);

      // A later publish replaces the earlier one.
      await resultRepo.publish(
        db(),
        result('::ffff:10.1.0.2', {
          category: 'INSUFFICIENT_PRIVILEGES',
          errorCode: 'PRIVILEGE_ESCALATION_FAILED',
          packages: packages(3, 'b'),
          attempts: [],
        }),
      );
      expect(await rowCount('host_results')).toBe(1);
      expect(await rowCount('host_attempts')).toBe(0);
      expect(await rowCount('host_packages')).toBe(3);
      await resultRepo.publish(db(), result('10.1.0.2'));
    });

    it('rolls the whole publish back when part of it fails', async () => {
      const twice = result('10.1.0.3', { attempts: [result('x').attempts[0]!, result('x').attempts[0]!] });
      expect(await rejection(resultRepo.publish(db(), twice))).toBeInstanceOf(ConflictError);
      expect((await database.query(`select * from host_results where ip = '10.1.0.3'`)).length).toBe(0);
      expect(await rowCount('host_packages')).toBe(1_500);
    });

    it('publishes a batch of hosts in one go, each with its own attempts and inventory', async () => {
      const profile = await profileRepo.getDefault(db());
      const batchScan = await scanRepo.create(db(), {
        title: 'batch',
        targets: '10.2.0.0/28',
        optionProfileId: profile.id,
        applianceId,
      });
      const host = (ip: string, over: Partial<HostResultInput> = {}) => result(ip, { scanId: batchScan.id, ...over });
      const before = await rowCount('host_packages');
      const { resultIds } = await resultRepo.publishMany(db(), [
        host('10.2.0.5', { packages: packages(4, 'c') }),
        host('10.2.0.6', { packages: [], category: 'FAILED', errorCode: 'AUTH_FAILED' }),
        host('10.2.0.7', { packages: packages(2, 'd') }),
      ]);
      expect(new Set(resultIds).size).toBe(3);
      const listed = async () =>
        new Map((await resultRepo.list(db(), batchScan.id, { includePackages: true })).rows.map((r) => [r.ip, r]));
      let byIp = await listed();
      expect(byIp.get('10.2.0.5')!.packages).toEqual(packages(4, 'c'));
      expect(byIp.get('10.2.0.6')!.packages).toEqual([]);
      expect(byIp.get('10.2.0.7')!.packageCount).toBe(2);
      expect(byIp.get('10.2.0.7')!.attempts).toHaveLength(2);
      expect(await rowCount('host_packages')).toBe(before + 6);

      // Republished in another batch: the same rows replaced, nothing duplicated.
      const again = await resultRepo.publishMany(db(), [
        host('10.2.0.9', { packages: [] }),
        host('10.2.0.7', { packages: packages(1, 'e'), attempts: [] }),
      ]);
      expect(again.resultIds[1]).toBe(resultIds[2]);
      byIp = await listed();
      expect(byIp.get('10.2.0.7')!.packages).toEqual(packages(1, 'e'));
      expect(byIp.get('10.2.0.7')!.attempts).toEqual([]);
      expect(await rowCount('host_packages')).toBe(before + 5);

      expect(await rejection(resultRepo.publishMany(db(), [host('10.2.0.8'), host('::ffff:10.2.0.8')]))).toMatchObject({
        field: 'results',
        statusCode: 400,
      });
      expect(byIp.has('10.2.0.8') || (await listed()).has('10.2.0.8')).toBe(false);

      await scanRepo.remove(db(), batchScan.id);
      expect(await rowCount('host_packages')).toBe(before);
    });

    it('types a result for an unknown scan or a bad address', async () => {
      expect(
        await rejection(
          resultRepo.publish(db(), { ...result('10.1.0.4'), scanId: '00000000-0000-4000-8000-000000000000' }),
        ),
      ).toMatchObject({ field: 'scanId', statusCode: 400 });
      expect(await rejection(resultRepo.publish(db(), result('10.1.0.256')))).toMatchObject({
        field: 'ip',
        statusCode: 400,
      });
    });

    it('lists results in numeric address order with attempts, and counts them by category', async () => {
      await resultRepo.publish(
        db(),
        result('10.1.0.10', {
          category: 'FAILED',
          errorCode: 'AUTH_FAILED',
          cause: 'the host rejected the credentials',
          packages: [],
          facts: null,
        }),
      );
      await resultRepo.publish(
        db(),
        result('10.1.0.9', { category: 'UNREACHABLE', errorCode: 'TARGET_UNREACHABLE', packages: [], facts: null }),
      );
      expect(
        await resultRepo.publishSkipped(db(), scanId, 'unix', [
          { ip: '10.1.0.20', code: 'NO_AUTH_RECORD' },
          { ip: '10.1.0.11', code: 'NO_AUTH_RECORD' },
        ]),
      ).toEqual({ NOT_ATTEMPTED: 2 });
      expect(
        await resultRepo.publishSkipped(db(), scanId, 'unix', [{ ip: '10.1.0.20', code: 'NO_AUTH_RECORD' }]),
      ).toEqual({});

      const { rows: listed, next: noMore } = await resultRepo.list(db(), scanId, { limit: 10 });
      expect(noMore).toBeNull();
      expect(listed.map((r) => r.ip)).toEqual(['10.1.0.2', '10.1.0.9', '10.1.0.10', '10.1.0.11', '10.1.0.20']);
      expect(listed[0]).not.toHaveProperty('packages');
      expect(listed[0]!.attempts).toEqual([
        {
          attemptNo: 1,
          code: 'VAULT_RATE_LIMITED',
          vendorCode: '429',
          httpStatus: 429,
          message: 'rate limited',
          at: new Date('2025-01-01T00:00:00.000Z'),
        },
        {
          attemptNo: 2,
          code: null,
          vendorCode: null,
          httpStatus: null,
          message: null,
          at: new Date('2025-01-01T00:00:05.000Z'),
        },
      ]);
      expect(listed[0]).toMatchObject({ packageCount: 1_500, facts: { osId: 'debian', osVersion: '12' } });
      expect(listed[3]).toMatchObject({
        category: 'NOT_ATTEMPTED',
        errorCode: 'NO_AUTH_RECORD',
        authRecordId: null,
        attempts: [],
      });
      // Keyset pages in address order (10.1.0.9 before 10.1.0.10): each continues after the last
      // row of the one before, and the last one says it is the last.
      const first = await resultRepo.list(db(), scanId, { limit: 2 });
      expect([first.rows.map((r) => r.ip), first.next]).toEqual([
        ['10.1.0.2', '10.1.0.9'],
        [expect.any(String), 'unix'],
      ]);
      const second = await resultRepo.list(db(), scanId, { limit: 2, after: first.next! });
      expect(second.rows.map((r) => r.ip)).toEqual(['10.1.0.10', '10.1.0.11']);
      const third = await resultRepo.list(db(), scanId, { limit: 2, after: second.next! });
      expect([third.rows.map((r) => r.ip), third.next]).toEqual([['10.1.0.20'], null]);
      expect((await resultRepo.list(db(), scanId, { category: 'FAILED' })).rows.map((r) => r.ip)).toEqual([
        '10.1.0.10',
      ]);
      // A host a pool's batch handed back, then set aside, keeps its attempts; published again, nothing doubles.
      const attempt = {
        attemptNo: 1,
        code: 'APPLIANCE_UNAVAILABLE' as const,
        vendorCode: null,
        httpStatus: null,
        message: 'no worker of appliance a took the batch within 15000 ms',
        at: '2025-01-01T00:00:10.000Z',
      };
      const pooled = await scanRepo.create(db(), {
        title: 'pooled',
        targets: '10.1.0.30',
        optionProfileId: (await profileRepo.getDefault(db())).id,
        applianceId,
      });
      const setAside = { ip: '10.1.0.30', code: 'APPLIANCE_UNAVAILABLE' as const, attempts: [attempt] };
      expect(await resultRepo.publishSkipped(db(), pooled.id, 'unix', [setAside])).toEqual({ NOT_ATTEMPTED: 1 });
      expect(await resultRepo.publishSkipped(db(), pooled.id, 'unix', [setAside])).toEqual({});
      const [kept] = (await resultRepo.list(db(), pooled.id, { limit: 10 })).rows;
      expect(kept?.attempts).toEqual([{ ...attempt, at: new Date(attempt.at) }]);
      await scanRepo.remove(db(), pooled.id);
      const withPackages = await resultRepo.list(db(), scanId, { limit: 1, includePackages: true });
      expect(withPackages.rows[0]!.packages).toHaveLength(1_500);
      expect((await resultRepo.get(db(), scanId, '10.1.0.2', 'unix')).packages[0]).toEqual({
        name: 'pkg-0000',
        version: '1.0',
        arch: 'x86_64',
      });

      expect(await resultRepo.countByCategory(db(), scanId)).toEqual({
        PASSED: 1,
        INSUFFICIENT_PRIVILEGES: 0,
        FAILED: 1,
        NOT_ATTEMPTED: 2,
        UNREACHABLE: 1,
      });
      expect(await resultRepo.countByCategory(db(), 'not-a-uuid')).toEqual({
        PASSED: 0,
        INSUFFICIENT_PRIVILEGES: 0,
        FAILED: 0,
        NOT_ATTEMPTED: 0,
        UNREACHABLE: 0,
      });
    });

    it('reads the Authentication Report in keyset pages: per host the cause, record and attempt count', async () => {
      const finished = await scanRepo.finish(db(), scanId, 'FINISHED', { PASSED: 1 });
      expect(finished).toMatchObject({ status: 'FINISHED', summary: { PASSED: 1 } });
      expect((await scanRepo.finish(db(), scanId, 'CANCELED')).status).toBe('FINISHED');

      const pages = [];
      for await (const page of resultRepo.reportPages(db(), scanId, { pageSize: 2 })) pages.push(page);
      // Five hosts in pages of two, in address order, every host once.
      expect(pages.map((p) => p.map((h) => h.ip))).toEqual([
        ['10.1.0.2', '10.1.0.9'],
        ['10.1.0.10', '10.1.0.11'],
        ['10.1.0.20'],
      ]);
      expect(pages[0]![0]).toEqual({
        ip: '10.1.0.2',
        technology: 'unix',
        category: 'PASSED',
        errorCode: null,
        vendorCode: null,
        cause: null,
        login: 'scanner',
        authRecordId,
        authRecordName: 'linux',
        flags: [],
        finishedAt: expect.any(Date),
        attempts: 2,
      });
      expect(pages[1]![0]).toMatchObject({
        ip: '10.1.0.10',
        category: 'FAILED',
        errorCode: 'AUTH_FAILED',
        cause: 'the host rejected the credentials',
      });

      const notAttempted = [];
      for await (const page of resultRepo.reportPages(db(), scanId, { category: 'NOT_ATTEMPTED' }))
        notAttempted.push(...page);
      expect(notAttempted.map((h) => [h.ip, h.authRecordName, h.cause, h.attempts])).toEqual([
        ['10.1.0.11', null, 'No authentication record covers this host.', 0],
        ['10.1.0.20', null, 'No authentication record covers this host.', 0],
      ]);
      const none = [];
      for await (const page of resultRepo.reportPages(db(), '00000000-0000-4000-8000-000000000000')) none.push(page);
      expect(none).toEqual([]);
    });

    it('keeps results when their authentication record is deleted, and deletes them with their scan', async () => {
      const vault = await vaultRepo.create(db(), box, {
        name: 'temp-vault',
        type: 'hashicorp',
        config: {},
        access: { token: 't' },
      });
      const temp = await authRecordRepo.create(db(), {
        name: 'temp',
        technology: 'unix',
        targets: '10.1.0.12',
        username: 'u',
        port: 22,
        vaultId: vault.id,
        locator: {},
        fields: {},
      });
      await resultRepo.publish(db(), result('10.1.0.12', { authRecordId: temp.id, packages: [] }));
      await authRecordRepo.remove(db(), temp.id);
      await vaultRepo.remove(db(), vault.id);
      expect((await resultRepo.get(db(), scanId, '10.1.0.12', 'unix')).authRecordId).toBeNull();

      // The inventories go with their results (a statement-level trigger, not a row-level foreign key).
      expect(await rowCount('host_packages')).toBeGreaterThan(0);
      await scanRepo.remove(db(), scanId);
      expect(await rowCount('host_results')).toBe(0);
      expect(await rowCount('host_attempts')).toBe(0);
      expect(await rowCount('host_packages')).toBe(0);
    });
  });
});
