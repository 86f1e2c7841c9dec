// Vault access sealed to one appliance (RFC 9180 HPKE): it opens only with that appliance's
// key, for the vault record and scan it was sealed for; anything forged, altered or replayed
// fails with a code that says so, at the appliance, as a per-host failure.
import { describe, expect, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import {
  generateApplianceKeyPair,
  importAppliancePrivateKey,
  openGrant,
  sealGrant,
  type AccessGrant,
  type SealedGrant,
} from '../activities/secrets/sealed-access.js';
import { createApplianceActivities, type FetchCredentialsResult } from '../activities/appliance.js';
import { SecretStore } from '../activities/secrets/secret-store.js';
import { LoginSlots } from '../activities/login-slots.js';
import type { ScanError } from '../domain/scan-error.js';
import type { VaultFetchRequest } from '../activities/vault/adapter.js';
import { instantTechnology, instantVault } from './harness/simulated.js';
import { CredentialCache } from '../activities/secrets/credential-cache.js';

const ids = {
  appliance: '11111111-1111-4111-8111-111111111111',
  otherAppliance: '22222222-2222-4222-8222-222222222222',
  vault: '33333333-3333-4333-8333-333333333333',
  record: '44444444-4444-4444-8444-444444444444',
  scan: '55555555-5555-4555-8555-555555555555',
  otherScan: '66666666-6666-4666-8666-666666666666',
};

const grant = (): AccessGrant => ({
  vault: {
    id: ids.vault,
    type: 'hashicorp',
    config: { url: 'https://vault.example.test' },
    access: { token: 'hvs.sealed-token' },
  },
  records: {
    [ids.record]: {
      technology: 'unix',
      username: 'scanner',
      port: 22,
      settings: {},
      locator: { path: 'p' },
      fields: { password: 'pw' },
    },
  },
  hosts: [{ ip: '192.0.2.10', authRecordId: ids.record, hostKey: null }],
  notAfter: new Date(Date.now() + 60_000).toISOString(),
});

/** The batch run a grant is sealed for (MockActivityEnvironment's default run). */
const batchRun = { workflowId: 'test', runId: '00000000-0000-0000-0000-000000000000' };
const useBy = (applianceId: string, scanId = ids.scan, run = batchRun) => ({ applianceId, scanId, ...run });

async function applianceKey() {
  const pair = await generateApplianceKeyPair();
  return { ...pair, key: await importAppliancePrivateKey(pair.privateKeyRaw, pair.publicKey) };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'opened';
  } catch (err) {
    return (err as ScanError).code;
  }
}

describe('sealed vault access', () => {
  it('opens for the appliance, vault record and scan it was sealed for, and for nothing else', async () => {
    const mine = await applianceKey();
    const theirs = await applianceKey();
    const sealed = await sealGrant(grant(), mine.publicKey, useBy(ids.appliance));
    expect(JSON.stringify(sealed)).not.toContain('hvs.sealed-token');
    expect(sealed).toMatchObject({ v: 1, applianceId: ids.appliance, vaultId: ids.vault, authRecordIds: [ids.record] });

    const context = useBy(ids.appliance);
    expect((await openGrant(sealed, mine.key, context)).vault.access).toEqual({ token: 'hvs.sealed-token' });

    // Replayed into another scan, another batch run, or presented as another vault record:
    // the binding does not hold.
    expect(await codeOf(openGrant(sealed, mine.key, { ...context, scanId: ids.otherScan }))).toBe(
      'SEALED_ACCESS_INVALID',
    );
    expect(await codeOf(openGrant(sealed, mine.key, { ...context, runId: ids.otherScan }))).toBe(
      'SEALED_ACCESS_INVALID',
    );
    expect(await codeOf(openGrant(sealed, mine.key, { ...context, workflowId: 'scan-x/unix/a..b' }))).toBe(
      'SEALED_ACCESS_INVALID',
    );
    // Kept until after it expired: useless.
    expect(await codeOf(openGrant(sealed, mine.key, context, new Date(Date.now() + 120_000)))).toBe(
      'SEALED_ACCESS_INVALID',
    );
    expect(await codeOf(openGrant({ ...sealed, vaultId: ids.record }, mine.key, context))).toBe(
      'SEALED_ACCESS_INVALID',
    );
    // Altered ciphertext or encapsulated key: authentication fails.
    const flipped = Buffer.from(sealed.ct, 'base64');
    flipped[5] = flipped[5]! ^ 1;
    expect(await codeOf(openGrant({ ...sealed, ct: flipped.toString('base64') }, mine.key, context))).toBe(
      'SEALED_ACCESS_INVALID',
    );
    // Replayed to another appliance: refused as sealed for someone else, whatever key it holds.
    expect(await codeOf(openGrant(sealed, theirs.key, { ...context, applianceId: ids.otherAppliance }))).toBe(
      'SEALED_ACCESS_INVALID',
    );
    // Relabelled as the other appliance's (envelope edited): its key still cannot open it.
    const relabelled = { ...sealed, applianceId: ids.otherAppliance, keyId: theirs.key.keyId };
    expect(await codeOf(openGrant(relabelled, theirs.key, { ...context, applianceId: ids.otherAppliance }))).toBe(
      'SEALED_ACCESS_INVALID',
    );
    // Sealed to a key this appliance no longer holds (it was enrolled again): said so.
    const oldKey = await applianceKey();
    const stale = await sealGrant(grant(), oldKey.publicKey, useBy(ids.appliance));
    expect(await codeOf(openGrant(stale, mine.key, context))).toBe('APPLIANCE_KEY_ROTATED');
  });

  it('a forged or replayed grant fails its hosts with a clear code at the appliance, and nothing reaches the vault', async () => {
    const mine = await applianceKey();
    let vaultCalls = 0;
    const vault = {
      ...instantVault,
      fetch: (request: VaultFetchRequest) => (vaultCalls++, instantVault.fetch(request)),
    };
    const store = new SecretStore({ ttlMs: 60_000 });
    const activities = createApplianceActivities({
      applianceId: ids.appliance,
      ownQueue: 'own',
      store,
      cache: new CredentialCache(store, { ttlMs: 60_000, maxLifetimeMs: 60_000 }),
      key: { forKeyId: async (keyId) => (keyId === mine.key.keyId ? mine.key : undefined) },
      vaults: () => vault,
      technologies: () => instantTechnology(),
      loginSlots: new LoginSlots(),
    });
    const fetch = (grants: SealedGrant[], scanId = ids.scan): Promise<FetchCredentialsResult> =>
      new MockActivityEnvironment().run(activities.fetchCredentials, {
        scanId,
        technology: 'unix' as const,
        hosts: [{ ip: '192.0.2.10', authRecordId: ids.record }],
        grants,
        vaultTimeoutMs: 1000,
      });
    const sealed = await sealGrant(grant(), mine.publicKey, useBy(ids.appliance));

    const honest = await fetch([sealed]);
    expect(honest.held.map((h) => h.ip)).toEqual(['192.0.2.10']);
    expect(honest.reads).toEqual([expect.objectContaining({ vaultId: ids.vault, hosts: 1, outcome: 'success' })]);
    expect(vaultCalls).toBe(1);

    const replayed = await fetch([sealed], ids.otherScan);
    const forged = await fetch([{ ...sealed, ct: Buffer.from('forged').toString('base64') }]);
    const widened = await fetch([{ ...sealed, authRecordIds: ['aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'] }]);
    const garbage = await fetch([{ v: 1 } as unknown as SealedGrant]);
    for (const result of [replayed, forged, widened, garbage]) {
      expect(result.held).toEqual([]);
      expect(result.failed).toEqual([
        { ip: '192.0.2.10', failure: expect.objectContaining({ code: 'SEALED_ACCESS_INVALID' }) },
      ]);
    }
    expect(vaultCalls).toBe(1);
    await store.purgeAll();
  });
});
