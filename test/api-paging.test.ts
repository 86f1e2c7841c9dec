// Keyset paging on every list, through real HTTP: { items, nextCursor } everywhere, each row
// once in a total order, the last page saying it is the last, and paging parameters a client
// got wrong (or a cursor it altered, or took from another list) refused with a 400 naming them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScanEnvironment, type ScanEnvironment } from './harness/scan-env.js';
import { applianceRepo, profileRepo, resultRepo, scanRepo } from '../db/repositories/index.js';

let env: ScanEnvironment;
let scanA: string;
let scanB: string;

beforeAll(async () => {
  env = await startScanEnvironment();
  const db = env.database.db;
  for (let i = 1; i <= 5; i++) {
    await env.api('POST', '/assets', { name: `asset ${i}`, value: `10.50.${i}.0/24` });
    await env.api('POST', '/appliances', { name: `appliance ${i}` });
    await env.api('POST', '/option-profiles', {
      name: `profile ${i}`,
      technologies: ['unix'],
      maxParallelHosts: 5,
      timeouts: { connectMs: 1000, commandMs: 1000, vaultMs: 1000 },
      retry: { maxAttempts: 1, initialIntervalMs: 0, maxIntervalMs: 0 },
    });
    await env.api('POST', '/known-host-keys', { ip: `10.50.0.${i}`, port: 22, sha256: `SHA256:${'A'.repeat(42)}${i}` });
    await env.createKey('auditor', `pager ${i}`);
  }
  for (let i = 1; i <= 5; i++) {
    const vault = await env.api('POST', '/vaults', {
      name: `vault ${i}`,
      type: 'hashicorp',
      config: { url: 'https://vault.example.test:8200', authMethod: 'token' },
      access: { token: 't' },
    });
    await env.api('POST', '/auth-records', {
      name: `record ${i}`,
      technology: 'unix',
      targets: `10.50.${i}.1-10.50.${i}.9`,
      username: 'scanner',
      vaultId: vault.body.id,
      locator: { path: 'servers/a' },
      fields: { password: 'password' },
    });
  }
  // Scans and their results straight into the database: paging is what is tested, not scanning.
  const appliance = (await applianceRepo.list(db, { limit: 1 })).rows[0]!;
  const profile = await profileRepo.getDefault(db);
  const scanIds: string[] = [];
  for (let i = 1; i <= 5; i++) {
    const scan = await scanRepo.create(db, {
      title: `scan ${i}`,
      targets: '10.50.1.0/24',
      optionProfileId: profile.id,
      applianceId: appliance.id,
    });
    scanIds.push(scan.id);
  }
  [scanA, scanB] = scanIds as [string, string];
  // Addresses whose text order is not their numeric order, and two technologies' worth of keys.
  const hosts = ['10.50.1.2', '10.50.1.10', '10.50.1.9', '10.50.1.100', '10.50.1.11'];
  await resultRepo.publishSkipped(
    db,
    scanA,
    'unix',
    hosts.map((ip) => ({ ip, code: 'NO_AUTH_RECORD' as const })),
  );
  await resultRepo.publishSkipped(db, scanB, 'unix', [{ ip: '10.50.1.1', code: 'NO_AUTH_RECORD' }]);
});
afterAll(async () => {
  await env?.stop();
});

interface Page {
  items: Record<string, unknown>[];
  nextCursor: string | null;
}

async function page(path: string, query: string): Promise<Page> {
  const res = await env.api<Page>('GET', `${path}${path.includes('?') ? '&' : '?'}${query}`);
  expect(res.status, `${path}?${query}: ${res.text}`).toBe(200);
  expect(Object.keys(res.body).sort()).toEqual(['items', 'nextCursor']);
  return res.body;
}

/** Every item of a list, a page of `limit` at a time, following nextCursor to the end. */
async function allPages(path: string, limit: number): Promise<{ items: Record<string, unknown>[]; pages: number }> {
  const items: Record<string, unknown>[] = [];
  let pages = 0;
  let cursor: string | null = null;
  do {
    const got: Page = await page(path, `limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    expect(got.items.length, path).toBeLessThanOrEqual(limit);
    // Only the last page may be short, and no page (past the first) is empty.
    if (got.nextCursor) expect(got.items.length).toBe(limit);
    if (pages > 0) expect(got.items.length).toBeGreaterThan(0);
    items.push(...got.items);
    cursor = got.nextCursor;
    pages++;
  } while (cursor);
  return { items, pages };
}

const identity = (item: Record<string, unknown>) => String(item.id ?? item.seq ?? `${item.ip} ${item.technology}`);

const LISTS = [
  '/assets',
  '/appliances',
  '/vaults',
  '/auth-records',
  '/option-profiles',
  '/known-host-keys',
  '/api-keys',
  '/scans',
  '/scans/{scanA}/results',
  '/audit',
];
const pathOf = (list: string) => list.replace('{scanA}', () => scanA);

describe('every list pages by keyset', () => {
  it.each(LISTS)('%s: pages of 2 hold every item once, in the order of one big page', async (list) => {
    const path = pathOf(list);
    const whole = await page(path, 'limit=100');
    expect(whole.items.length, path).toBeGreaterThanOrEqual(5);
    expect(whole.nextCursor).toBeNull();
    const paged = await allPages(path, 2);
    expect(paged.items.map(identity)).toEqual(whole.items.map(identity));
    expect(paged.pages).toBe(Math.ceil(whole.items.length / 2));
  });

  it('orders results by address, numerically, and scans newest first', async () => {
    const results = (await allPages(`/scans/${scanA}/results`, 2)).items.map((r) => r.ip);
    expect(results).toEqual(['10.50.1.2', '10.50.1.9', '10.50.1.10', '10.50.1.11', '10.50.1.100']);
    const scans = (await allPages('/scans', 2)).items.map((s) => s.title);
    expect(scans).toEqual(['scan 5', 'scan 4', 'scan 3', 'scan 2', 'scan 1']);
  });

  it('ends with nextCursor null when the last page is exactly full', async () => {
    const first = await page(`/scans/${scanA}/results`, 'limit=5');
    expect([first.items.length, first.nextCursor]).toEqual([5, null]);
  });

  it('keeps the limit a caller asked for, and its own default when none is given', async () => {
    expect((await page('/api-keys', 'limit=1')).items).toHaveLength(1);
    expect((await env.api('GET', '/assets')).body.items.length).toBeGreaterThanOrEqual(5);
  });
});

describe('paging parameters a client got wrong are a 400 naming them', () => {
  const refused = async (path: string, query: string, field: string) => {
    const res = await env.api('GET', `${path}${path.includes('?') ? '&' : '?'}${query}`);
    expect([res.status, res.body.field], `${path} ${query}: ${res.text}`).toEqual([400, field]);
    return res.body.message as string;
  };

  it.each(LISTS)('%s: limit negative, zero, not a whole number, too large; offset gone', async (list) => {
    const path = pathOf(list);
    const max = list.endsWith('/results') ? 100 : 500;
    for (const limit of ['-1', '0', 'abc', '1.5', '', `${max + 1}`, '1e6', '99999999999999999999'])
      await refused(path, `limit=${encodeURIComponent(limit)}`, 'limit');
    expect(await refused(path, 'offset=10', 'offset')).toMatch(/not a known field/);
    await refused(path, 'limit=1&limit=2', 'limit');
  });

  it.each(LISTS)('%s: a cursor altered, made up, too long or from another list', async (list) => {
    const path = pathOf(list);
    const cursor = (await page(path, 'limit=1')).nextCursor!;
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    const [payload, mac] = cursor.split('.') as [string, string];
    const flipped = (text: string, at: number) =>
      text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1);
    const message = await refused(path, `cursor=${flipped(payload, 3)}.${mac}`, 'cursor');
    expect(message).toMatch(/not a cursor of this list/);
    await refused(path, `cursor=${payload}.${flipped(mac, 5)}`, 'cursor');
    await refused(path, `cursor=${payload}`, 'cursor');
    await refused(path, 'cursor=bm9wZQ', 'cursor');
    await refused(path, `cursor=${'x'.repeat(513)}`, 'cursor');
    await refused(path, `cursor=${encodeURIComponent(cursor)}&cursor=${encodeURIComponent(cursor)}`, 'cursor');
    // A position of this very list, re-signed by nobody: the payload of another list's cursor.
    const other = (await page(list === '/assets' ? '/scans' : '/assets', 'limit=1')).nextCursor!;
    await refused(path, `cursor=${encodeURIComponent(other)}`, 'cursor');
    await refused(path, `cursor=${other.split('.')[0]}.${mac}`, 'cursor');
  });

  it('binds a cursor to its list’s scope: another scan’s results, another filter', async () => {
    const ofScanA = (await page(`/scans/${scanA}/results`, 'limit=1')).nextCursor!;
    const res = await env.api('GET', `/scans/${scanB}/results?cursor=${ofScanA}`);
    expect([res.status, res.body.field]).toEqual([400, 'cursor']);

    const unfiltered = (await page('/known-host-keys', 'limit=1')).nextCursor!;
    const filtered = await env.api('GET', `/known-host-keys?ip=10.50.0.1&cursor=${unfiltered}`);
    expect([filtered.status, filtered.body.field]).toEqual([400, 'cursor']);

    const auditCursor = (await page('/audit', 'limit=1')).nextCursor!;
    const otherFilter = await env.api('GET', `/audit?scan=${scanA}&cursor=${auditCursor}`);
    expect([otherFilter.status, otherFilter.body.field]).toEqual([400, 'cursor']);
    // The same filters, written in another order, are the same list.
    const admin = (await page('/api-keys', 'limit=1')).items[0]!.id as string;
    const since = '2000-01-01T00:00:00Z';
    const both = (await page(`/audit?from=${since}&actor=${admin}`, 'limit=1')).nextCursor!;
    const reordered = await env.api('GET', `/audit?actor=${admin}&cursor=${both}&from=${since}`);
    expect(reordered.status, reordered.text).toBe(200);
  });
});
