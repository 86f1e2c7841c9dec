// The REST surface under /api/v1.
import type { FastifyInstance } from 'fastify';
import type { Client } from '@temporalio/client';
import type { Database } from '../../db/client.js';
import type { SecretBox } from '../../db/crypto.js';
import {
  applianceRepo,
  assetRepo,
  authRecordRepo,
  knownHostKeyRepo,
  profileRepo,
  vaultRepo,
} from '../../db/repositories/index.js';
import type { AuthRecordInput, ProfileInput } from '../../db/repositories/index.js';
import { getVaultAdapter } from '../../activities/vault/registry.js';
import { applianceQueue } from '../../workflows/activity-stubs.js';
import { badRequest } from '../problems.js';
import * as S from '../schemas.js';
import { registerResource } from './records.js';
import { scanRoutes } from './scans.js';

export interface ApiDeps {
  db: Database;
  box: SecretBox;
  temporal: Client;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);
const stamps = (r: { createdAt: Date; updatedAt: Date }) => ({
  createdAt: iso(r.createdAt),
  updatedAt: iso(r.updatedAt),
});

function checkProblems(problems: { field: string; reason: string }[]): void {
  const first = problems[0];
  if (first) throw badRequest(first.field, first.reason, { problems });
}

function validateVault(
  type: string,
  body: { config?: Record<string, unknown>; access?: Record<string, unknown> },
  currentConfig?: Record<string, unknown>,
) {
  const adapter = getVaultAdapter(type);
  if (!adapter) throw badRequest('type', `unknown vault type "${type}"`);
  if (body.config) checkProblems(adapter.validateConfig(body.config));
  if (body.access) checkProblems(adapter.validateAccess(body.access, body.config ?? currentConfig ?? {}));
}

async function validateLocator(db: Database, vaultId: string, locator: Record<string, unknown>) {
  const vault = await vaultRepo.get(db, vaultId).catch(() => {
    throw badRequest('vaultId', `vault ${vaultId} does not exist`);
  });
  checkProblems(getVaultAdapter(String(vault.type))!.validateLocator(locator));
}

export async function registerResourceRoutes(api: FastifyInstance, deps: ApiDeps): Promise<void> {
  const { db, box } = deps;

  registerResource<
    Awaited<ReturnType<typeof assetRepo.get>>,
    { name: string; value: string },
    { name?: string; value?: string }
  >(api, {
    path: '/assets',
    tag: 'assets',
    createBody: S.AssetBody,
    patchBody: S.Type_Partial(S.AssetBody),
    view: S.Asset,
    toView: (r) => ({ id: r.id, name: r.name, kind: r.kind, value: r.value, ...stamps(r) }),
    list: (p) => assetRepo.list(db, p),
    get: (id) => assetRepo.get(db, id),
    create: (b) => assetRepo.create(db, b),
    update: (id, b) => assetRepo.update(db, id, b),
    remove: (id) => assetRepo.remove(db, id),
  });

  registerResource<
    Awaited<ReturnType<typeof applianceRepo.get>>,
    { name: string; description?: string },
    { name?: string; description?: string }
  >(api, {
    path: '/appliances',
    tag: 'appliances',
    createBody: S.ApplianceBody,
    patchBody: S.Type_Partial(S.ApplianceBody),
    view: S.Appliance,
    toView: (r) => ({
      id: r.id,
      name: r.name,
      description: r.description,
      taskQueue: applianceQueue(String(r.id)),
      ...stamps(r),
    }),
    list: (p) => applianceRepo.list(db, p),
    get: (id) => applianceRepo.get(db, id),
    create: (b) => applianceRepo.create(db, b),
    update: (id, b) => applianceRepo.update(db, id, b),
    remove: (id) => applianceRepo.remove(db, id),
  });

  type VaultCreate = { name: string; type: string; config: Record<string, unknown>; access: Record<string, unknown> };
  registerResource<Awaited<ReturnType<typeof vaultRepo.get>>, VaultCreate, Partial<Omit<VaultCreate, 'type'>>>(api, {
    path: '/vaults',
    tag: 'vaults',
    createBody: S.VaultBody,
    patchBody: S.VaultPatch,
    view: S.Vault,
    toView: (r) => ({ id: r.id, name: r.name, type: r.type, config: r.config, ...stamps(r) }),
    list: (p) => vaultRepo.list(db, p),
    get: (id) => vaultRepo.get(db, id),
    create: async (b) => {
      validateVault(b.type, b);
      return vaultRepo.create(db, box, b);
    },
    update: async (id, b) => {
      const current = await vaultRepo.get(db, id);
      validateVault(String(current.type), b, current.config as Record<string, unknown>);
      return vaultRepo.update(db, box, id, b);
    },
    remove: (id) => vaultRepo.remove(db, id),
  });

  registerResource<
    Awaited<ReturnType<typeof authRecordRepo.get>>,
    Omit<AuthRecordInput, 'port'> & { port?: number },
    Partial<AuthRecordInput>
  >(api, {
    path: '/auth-records',
    tag: 'auth-records',
    createBody: S.AuthRecordBody,
    patchBody: S.AuthRecordPatch,
    view: S.AuthRecord,
    toView: (r) => ({
      id: r.id,
      name: r.name,
      technology: r.technology,
      targets: r.targets,
      username: r.username,
      port: r.port,
      vaultId: r.vaultId,
      locator: r.locator,
      fields: r.fields,
      ...stamps(r),
    }),
    list: (p) => authRecordRepo.list(db, p),
    get: (id) => authRecordRepo.get(db, id),
    create: async (b) => {
      await validateLocator(db, b.vaultId, b.locator);
      return authRecordRepo.create(db, { ...b, port: b.port ?? 22 });
    },
    update: async (id, b) => {
      const current = await authRecordRepo.get(db, id);
      if (b.locator || b.vaultId)
        await validateLocator(
          db,
          b.vaultId ?? String(current.vaultId),
          (b.locator ?? current.locator) as Record<string, unknown>,
        );
      return authRecordRepo.update(db, id, b);
    },
    remove: (id) => authRecordRepo.remove(db, id),
  });

  const checkRetry = (b: Partial<ProfileInput>) => {
    if (b.retry && b.retry.maxIntervalMs < b.retry.initialIntervalMs)
      throw badRequest('retry.maxIntervalMs', 'must not be smaller than retry.initialIntervalMs');
  };
  registerResource<Awaited<ReturnType<typeof profileRepo.get>>, ProfileInput, Partial<ProfileInput>>(api, {
    path: '/option-profiles',
    tag: 'option-profiles',
    createBody: S.ProfileBody,
    patchBody: S.ProfilePatch,
    view: S.Profile,
    toView: (r) => ({
      id: r.id,
      name: r.name,
      technologies: r.technologies,
      maxParallelHosts: r.maxParallelHosts,
      timeouts: r.timeouts,
      retry: r.retry,
      isDefault: r.isDefault,
      ...stamps(r),
    }),
    list: (p) => profileRepo.list(db, p),
    get: (id) => profileRepo.get(db, id),
    create: async (b) => (checkRetry(b), profileRepo.create(db, b)),
    update: async (id, b) => (checkRetry(b), profileRepo.update(db, id, b)),
    remove: (id) => profileRepo.remove(db, id),
  });

  await api.register(scanRoutes, deps);

  // Pinned SSH host keys: learned on a host's first successful login, or registered here.
  registerResource<
    Awaited<ReturnType<typeof knownHostKeyRepo.get>>,
    { ip: string; port: number; sha256: string },
    { sha256?: string }
  >(api, {
    path: '/known-host-keys',
    tag: 'known-host-keys',
    createBody: S.KnownHostKeyBody,
    patchBody: S.KnownHostKeyPatch,
    view: S.KnownHostKey,
    listQuery: S.KnownHostKeyQuery,
    toView: (r) => ({
      id: r.id,
      ip: r.ip,
      port: r.port,
      sha256: `SHA256:${r.sha256}`,
      source: r.source,
      learnedInScanId: r.learnedInScanId,
      ...stamps(r),
    }),
    list: (q) => knownHostKeyRepo.list(db, q as { limit?: number; offset?: number; ip?: string }),
    get: (id) => knownHostKeyRepo.get(db, id),
    create: (b) => knownHostKeyRepo.create(db, b),
    update: (id, b) => knownHostKeyRepo.update(db, id, b),
    remove: (id) => knownHostKeyRepo.remove(db, id),
  });
}
