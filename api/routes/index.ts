// The REST surface under /api/v1.
import type { FastifyInstance } from 'fastify';
import { isDeepStrictEqual } from 'node:util';
import type { Client } from '@temporalio/client';
import type { Database } from '../../db/client.js';
import type { SecretBox } from '../../db/crypto.js';
import type { CredentialFieldNames } from '../../domain/secret-fields.js';
import {
  applianceRepo,
  assetGroupRepo,
  assetRepo,
  scheduleRepo,
  tagRepo,
  authRecordRepo,
  rootDelegationOf,
  type RootDelegation,
  knownHostKeyRepo,
  profileRepo,
  vaultRepo,
  type Appliance,
  type ProfileInput,
} from '../../db/repositories/index.js';
import { checkLocator, checkVaultSettings, specOf } from '../vault-parts.js';
import { applianceQueue } from '../../workflows/activity-stubs.js';
import { applianceWorkers, type ApplianceWorkers } from '../appliance-status.js';
import { checkTechnologySecrets, checkTechnologySettings, technologySpecOf } from '../technology-settings.js';
import { badRequest } from '../problems.js';
import { InUseError } from '../../db/errors.js';
import * as S from '../schemas.js';
import { registerResource } from './records.js';
import { scanRoutes } from './scans.js';
import { scheduleRoutes } from './schedules.js';
import { applianceEnrolmentRoutes, ENROLMENT_CODE_TTL_MS } from './appliances.js';
import { apiKeyRoutes } from './api-keys.js';
import { auditRoutes } from './audit.js';
import { vaultTypeRoutes } from './vault-types.js';
import { technologyRoutes } from './technologies.js';
import { vaultTestRoutes } from './vault-test.js';
import type { KeyChecker } from '../key-checker.js';
import { createListCursors, listCursorKeys, listIdentity, pageRequest } from '../paging.js';
import { hostsAfter, overlappingRanges, type IpRange } from '../../domain/targets.js';
import { checkTagRule, TagRuleError, type TagRule, type TagRuleInput } from '../../domain/tag-rules.js';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';

export interface ApiDeps {
  db: Database;
  box: SecretBox;
  temporal: Client;
}

export interface RouteDeps extends ApiDeps {
  keys: KeyChecker;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);
const stamps = (r: { createdAt: Date; updatedAt: Date }) => ({
  createdAt: iso(r.createdAt)!,
  updatedAt: iso(r.updatedAt)!,
});

/**
 * A stored access secret goes only where it was entered for: a change to a setting that
 * decides where it is sent must come with the secret, entered again, in the same request.
 */
function requireAccessForNewDestination(
  destinationFields: readonly string[],
  current: Record<string, unknown>,
  next: Record<string, unknown>,
): void {
  const moved = destinationFields.filter((f) => !isDeepStrictEqual(current[f], next[f]));
  if (moved.length > 0) {
    throw badRequest(
      'access',
      `is required when ${moved.map((f) => `config.${f}`).join(', ')} change${moved.length === 1 ? 's' : ''}: the stored access secret is only ever sent where it was entered for, so enter it again`,
    );
  }
}

async function validateLocator(db: Database, vaultId: string, locator: Record<string, unknown>) {
  const vault = await vaultRepo.get(db, vaultId).catch(() => {
    throw badRequest('vaultId', `vault ${vaultId} does not exist`);
  });
  checkLocator(vault.type, locator);
}

/** A root delegation from another vault: that vault exists, the locator fits its type, and it is the only source. */
async function validateRootDelegation(
  db: Database,
  delegation: RootDelegation | null | undefined,
  fields: CredentialFieldNames,
) {
  if (!delegation) return;
  if (fields.rootPassword !== undefined)
    throw badRequest(
      'rootDelegation',
      'cannot be given with fields.rootPassword: take the root-delegation password from one place',
    );
  const vault = await vaultRepo.get(db, delegation.vaultId).catch(() => {
    throw badRequest('rootDelegation.vaultId', `vault ${delegation.vaultId} does not exist`);
  });
  checkLocator(vault.type, delegation.locator, 'rootDelegation.locator');
}

export async function registerResourceRoutes(api: FastifyInstance, deps: RouteDeps): Promise<void> {
  const { db, box } = deps;
  const cursors = createListCursors(listCursorKeys(box));
  /** A keyset page of the addresses some ranges cover (a group's, a tag's): its cursor is the last address. */
  const addressPage = async (
    path: string,
    query: { limit?: number; cursor?: string },
    rangesNow: () => Promise<IpRange[]>,
  ) => {
    const list = listIdentity(path);
    const page = pageRequest(cursors, list, query);
    const ips = hostsAfter(await rangesNow(), page.after?.[0], page.limit + 1);
    const shown = ips.slice(0, page.limit);
    return { items: shown, nextCursor: ips.length > page.limit ? cursors.encode(list, [shown.at(-1)!]) : null };
  };

  registerResource(api, db, cursors, {
    path: '/assets',
    tag: 'assets',
    roles: { read: 'operator', write: 'operator' },
    createBody: S.AssetBody,
    patchBody: S.Type_Partial(S.AssetBody),
    view: S.Asset,
    listQuery: S.AssetQuery,
    get: (id: string) => assetRepo.get(db, id),
    toView: (r) => ({ id: r.id, name: r.name, kind: r.kind, value: r.value, ...stamps(r) }),
    list: async (query, page) => {
      if (query.tag === undefined) return assetRepo.list(db, page);
      const tag = await tagRepo.find(db, query.tag);
      if (!tag) throw badRequest('tag', `no tag has the id or name "${query.tag}"`);
      if (tag.kind === 'static') {
        const tagged = new Set(tag.assetIds);
        return assetRepo.list(db, page, (asset) => tagged.has(asset.id));
      }
      const selected = await tagRepo.ranges(db, tag);
      return assetRepo.list(db, page, (asset) => overlappingRanges(selected, asset.ranges).length > 0);
    },
    create: (tx, b) => assetRepo.create(tx, b),
    update: (tx, id, b) => assetRepo.update(tx, id, b),
    remove: (tx, id) => assetRepo.remove(tx, id),
  });

  registerResource(api, db, cursors, {
    path: '/groups',
    tag: 'assets',
    roles: { read: 'operator', write: 'operator' },
    createBody: S.AssetGroupBody,
    patchBody: S.Type_Partial(S.AssetGroupBody),
    view: S.AssetGroup,
    listQuery: S.Page,
    get: (id: string) => assetGroupRepo.get(db, id),
    toView: (g) => ({
      id: g.id,
      name: g.name,
      businessImpact: g.businessImpact,
      description: g.description,
      assetIds: g.assetIds,
      ...stamps(g),
    }),
    list: (_query, page) => assetGroupRepo.list(db, page),
    create: (tx, b) => assetGroupRepo.create(tx, b),
    update: (tx, id, b) => assetGroupRepo.update(tx, id, b),
    remove: async (tx, id) => {
      // A schedule's runs resolve the group each time: it stays while one names it.
      const users = await scheduleRepo.usingGroup(tx, id);
      if (users.length > 0)
        throw new InUseError(
          `the asset group is a target of the schedule${users.length > 1 ? 's' : ''} ${users.map((n) => `"${n}"`).join(', ')}: take it out of their scan targets first`,
        );
      return assetGroupRepo.remove(tx, id);
    },
  });
  api.withTypeProvider<TypeBoxTypeProvider>().get(
    '/groups/:id/hosts',
    {
      config: { role: 'operator' as const },
      schema: {
        tags: ['assets'],
        summary: "The addresses the group's assets cover now, in order (what a scan of the group targets)",
        params: S.IdParams,
        querystring: S.Page,
        response: { 200: S.GroupHosts },
      },
    },
    async (req) =>
      addressPage(`/groups/${req.params.id}/hosts`, req.query, async () =>
        assetGroupRepo.ranges(db, await assetGroupRepo.get(db, req.params.id)),
      ),
  );

  /** A tag's kind, rule and assets go together: what the tag would be after the change is checked. */
  const checkTag = (tag: {
    kind: string;
    rule?: TagRuleInput | null;
    assetIds?: string[] | undefined;
  }): TagRule | undefined => {
    if (tag.kind !== 'dynamic') {
      if (tag.rule) throw badRequest('rule', 'a static tag has no rule: its assets are given (assetIds)');
      return undefined;
    }
    if (!tag.rule) throw badRequest('rule', 'a dynamic tag needs a rule');
    if (tag.assetIds?.length) throw badRequest('assetIds', "a dynamic tag's assets come from its rule");
    try {
      return checkTagRule(tag.rule);
    } catch (err) {
      if (err instanceof TagRuleError) throw badRequest(err.field, err.reason);
      throw err;
    }
  };
  registerResource(api, db, cursors, {
    path: '/tags',
    tag: 'assets',
    roles: { read: 'operator', write: 'operator' },
    createBody: S.TagBody,
    patchBody: S.Type_Partial(S.TagBody),
    view: S.Tag,
    listQuery: S.Page,
    get: (id: string) => tagRepo.get(db, id),
    toView: (t) => ({
      id: t.id,
      name: t.name,
      kind: t.kind,
      description: t.description,
      assetIds: t.assetIds,
      rule: t.rule ? { ...t.rule } : null,
      ...stamps(t),
    }),
    list: (_query, page) => tagRepo.list(db, page),
    create: (tx, b) => {
      const rule = checkTag(b);
      return tagRepo.create(tx, { ...b, rule });
    },
    update: async (tx, id, b) => {
      const current = await tagRepo.get(tx, id);
      const kind = b.kind ?? current.kind;
      const rule = checkTag({
        kind,
        rule: b.rule ?? (kind === 'dynamic' ? current.rule : undefined),
        assetIds: b.assetIds,
      });
      return tagRepo.update(tx, id, { ...b, rule });
    },
    remove: (tx, id) => tagRepo.remove(tx, id),
  });
  api.withTypeProvider<TypeBoxTypeProvider>().get(
    '/tags/:id/hosts',
    {
      config: { role: 'operator' as const },
      schema: {
        tags: ['assets'],
        summary: 'The registered addresses the tag selects now, in order (what a scan of the tag targets)',
        params: S.IdParams,
        querystring: S.Page,
        response: { 200: S.GroupHosts },
      },
    },
    async (req) =>
      addressPage(`/tags/${req.params.id}/hosts`, req.query, async () =>
        tagRepo.ranges(db, await tagRepo.get(db, req.params.id)),
      ),
  );

  // Each appliance with what its queue's pollers say of its workers, as the list shows it.
  const withWorkers = async (appliance: Appliance) => ({
    ...appliance,
    ...(await applianceWorkers(deps.temporal, appliance.id)),
  });
  registerResource(api, db, cursors, {
    path: '/appliances',
    tag: 'appliances',
    roles: { read: 'operator', write: 'admin' },
    createBody: S.ApplianceBody,
    patchBody: S.Type_Partial(S.ApplianceBody),
    view: S.Appliance,
    listQuery: S.Page,
    get: async (id: string) => withWorkers(await applianceRepo.get(db, id)),
    toView: (r: Appliance & { enrolment?: { code: string; expiresAt: string } } & Partial<ApplianceWorkers>) => ({
      id: r.id,
      name: r.name,
      description: r.description,
      taskQueue: applianceQueue(r.id),
      enrolled: r.keyId !== null,
      keyId: r.keyId,
      enrolledAt: iso(r.enrolledAt),
      online: r.online ?? null,
      workers: r.workers ?? null,
      lastPollAt: r.lastPollAt ?? null,
      ...stamps(r),
      // Only the answer to POST carries a code: the one time it exists outside the database.
      ...(r.enrolment && { enrolment: r.enrolment }),
    }),
    list: async (_query, page) => {
      const listed = await applianceRepo.list(db, page);
      return { ...listed, rows: await Promise.all(listed.rows.map(withWorkers)) };
    },
    create: async (tx, b) => {
      const appliance = await applianceRepo.create(tx, b);
      const code = await applianceRepo.createEnrolmentCode(tx, appliance.id, ENROLMENT_CODE_TTL_MS);
      return { ...appliance, enrolment: { code: code.code, expiresAt: code.expiresAt.toISOString() } };
    },
    update: (tx, id, b) => applianceRepo.update(tx, id, b),
    remove: (tx, id) => applianceRepo.remove(tx, id),
  });
  await api.register(applianceEnrolmentRoutes);

  registerResource(api, db, cursors, {
    path: '/vaults',
    tag: 'vaults',
    roles: { read: 'operator', write: 'admin' },
    createBody: S.VaultBody,
    patchBody: S.VaultPatch,
    view: S.Vault,
    listQuery: S.Page,
    get: (id: string) => vaultRepo.get(db, id),
    toView: (r) => ({ id: r.id, name: r.name, type: r.type, config: r.config, ...stamps(r) }),
    list: (_query, page) => vaultRepo.list(db, page),
    create: async (tx, b) => {
      checkVaultSettings(b.type, b);
      return vaultRepo.create(tx, box, b);
    },
    update: async (tx, id, b) => {
      const current = await vaultRepo.get(tx, id);
      const config = b.config ?? current.config;
      if (b.config && !b.access)
        requireAccessForNewDestination(specOf(current.type).destinationFields, current.config, b.config);
      // The stored access secret is not read here: a config change is checked against the new config alone.
      if (b.config || b.access) checkVaultSettings(current.type, { config, ...(b.access && { access: b.access }) });
      return vaultRepo.update(tx, box, id, b);
    },
    remove: (tx, id) => vaultRepo.remove(tx, id),
  });

  registerResource(api, db, cursors, {
    path: '/auth-records',
    tag: 'auth-records',
    roles: { read: 'operator', write: 'admin' },
    createBody: S.AuthRecordBody,
    patchBody: S.AuthRecordPatch,
    view: S.AuthRecord,
    listQuery: S.Page,
    get: (id: string) => authRecordRepo.get(db, id),
    toView: (r) => ({
      id: r.id,
      name: r.name,
      technology: r.technology,
      targets: r.targets,
      username: r.username,
      port: r.port,
      vaultId: r.vaultId,
      locator: r.locator,
      fields: { ...r.fields },
      rootDelegation: rootDelegationOf(r),
      settings: r.settings,
      ...stamps(r),
    }),
    list: (_query, page) => authRecordRepo.list(db, page),
    create: async (tx, b) => {
      await validateLocator(tx, b.vaultId, b.locator);
      await validateRootDelegation(tx, b.rootDelegation, b.fields);
      const settings = b.settings ?? {};
      checkTechnologySettings(b.technology, settings);
      checkTechnologySecrets(b.technology, b.fields, b.rootDelegation);
      return authRecordRepo.create(tx, { ...b, settings, port: b.port ?? technologySpecOf(b.technology).defaultPort });
    },
    update: async (tx, id, b) => {
      const current = await authRecordRepo.get(tx, id);
      if (b.locator || b.vaultId) await validateLocator(tx, b.vaultId ?? current.vaultId, b.locator ?? current.locator);
      if (b.rootDelegation || b.fields)
        await validateRootDelegation(
          tx,
          b.rootDelegation === undefined ? rootDelegationOf(current) : b.rootDelegation,
          b.fields ?? current.fields,
        );
      // Settings belong to a technology: a change of either is checked as the record would be.
      if (b.settings || b.technology)
        checkTechnologySettings(b.technology ?? current.technology, b.settings ?? current.settings);
      if (b.technology || b.fields || b.rootDelegation)
        checkTechnologySecrets(
          b.technology ?? current.technology,
          b.fields ?? current.fields,
          b.rootDelegation === undefined ? rootDelegationOf(current) : b.rootDelegation,
        );
      return authRecordRepo.update(tx, id, b);
    },
    remove: (tx, id) => authRecordRepo.remove(tx, id),
  });

  const checkRetry = (b: Partial<ProfileInput>) => {
    if (b.retry && b.retry.maxIntervalMs < b.retry.initialIntervalMs)
      throw badRequest('retry.maxIntervalMs', 'must not be smaller than retry.initialIntervalMs');
  };
  registerResource(api, db, cursors, {
    path: '/option-profiles',
    tag: 'option-profiles',
    roles: { read: 'operator', write: 'operator' },
    createBody: S.ProfileBody,
    patchBody: S.ProfilePatch,
    view: S.Profile,
    listQuery: S.Page,
    get: (id: string) => profileRepo.get(db, id),
    toView: (r) => ({
      id: r.id,
      name: r.name,
      technologies: r.technologies as ProfileInput['technologies'],
      maxParallelHosts: r.maxParallelHosts,
      timeouts: r.timeouts,
      retry: r.retry,
      maxFailedLogins: r.maxFailedLogins,
      isDefault: r.isDefault,
      ...stamps(r),
    }),
    list: (_query, page) => profileRepo.list(db, page),
    create: async (tx, b) => (checkRetry(b), profileRepo.create(tx, b)),
    update: async (tx, id, b) => (checkRetry(b), profileRepo.update(tx, id, b)),
    remove: (tx, id) => profileRepo.remove(tx, id),
  });

  await api.register(scanRoutes, { ...deps, cursors });
  await api.register(scheduleRoutes, { ...deps, cursors });

  // Pinned SSH host keys: learned on a host's first successful login, or registered here.
  registerResource(api, db, cursors, {
    path: '/known-host-keys',
    tag: 'known-host-keys',
    roles: { read: 'operator', write: 'admin' },
    createBody: S.KnownHostKeyBody,
    patchBody: S.KnownHostKeyPatch,
    view: S.KnownHostKey,
    get: (id: string) => knownHostKeyRepo.get(db, id),
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
    list: (query, page) => knownHostKeyRepo.list(db, { ...page, ip: query.ip }),
    create: (tx, b) => knownHostKeyRepo.create(tx, b),
    update: (tx, id, b) => knownHostKeyRepo.update(tx, id, b),
    remove: (tx, id) => knownHostKeyRepo.remove(tx, id),
  });

  await api.register(apiKeyRoutes, { db, keys: deps.keys, cursors });
  await api.register(auditRoutes, { db, cursors });
  await api.register(vaultTypeRoutes);
  await api.register(technologyRoutes);
  await api.register(vaultTestRoutes, deps);
}
