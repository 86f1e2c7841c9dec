// API keys: an admin creates one for a person or a program, with a role and an optional
// expiry; the key is in the answer to that request and nowhere else, ever. Revoking is at once.
import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Database } from '../../db/client.js';
import { apiKeyRepo, type ApiKey } from '../../db/repositories/index.js';
import { API_ROLES } from '../../domain/roles.js';
import { withAudit } from '../plugins/audit.js';
import type { KeyChecker } from '../key-checker.js';
import { badRequest } from '../problems.js';
import { parseDateField } from '../validation.js';
import { IdParams, Page, Paged } from '../schemas.js';
import { pageAnswer, pageRequest, type ListCursors } from '../paging.js';

const tags = ['api-keys'];
const iso = (d: Date | null) => (d ? d.toISOString() : null);

const ApiKeyView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: Type.Enum(API_ROLES),
  keyPrefix: Type.String({ description: 'The first characters of the key, to tell keys apart' }),
  createdAt: Type.String(),
  expiresAt: Type.Union([Type.String(), Type.Null()]),
  lastUsedAt: Type.Union([Type.String(), Type.Null()]),
  revokedAt: Type.Union([Type.String(), Type.Null()]),
  createdByKeyId: Type.Union([Type.String(), Type.Null()]),
});
const ApiKeyBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    role: Type.Enum(API_ROLES),
    expiresAt: Type.Optional(Type.String({ format: 'date-time', description: 'When the key stops working' })),
  },
  { additionalProperties: false },
);

const toView = (k: ApiKey) => ({
  id: k.id,
  name: k.name,
  role: k.role,
  keyPrefix: k.keyPrefix,
  createdAt: k.createdAt.toISOString(),
  expiresAt: iso(k.expiresAt),
  lastUsedAt: iso(k.lastUsedAt),
  revokedAt: iso(k.revokedAt),
  createdByKeyId: k.createdByKeyId,
});

export async function apiKeyRoutes(
  parent: FastifyInstance,
  { db, keys, cursors }: { db: Database; keys: KeyChecker; cursors: ListCursors },
): Promise<void> {
  const api = parent.withTypeProvider<TypeBoxTypeProvider>();
  const admin = { role: 'admin' as const };

  api.get(
    '/api-keys',
    { config: admin, schema: { tags, querystring: Page, response: { 200: Paged(ApiKeyView) } } },
    async (req) => {
      const page = pageRequest(cursors, '/api-keys', req.query);
      return pageAnswer(cursors, '/api-keys', await apiKeyRepo.list(db, page), toView);
    },
  );
  api.get(
    '/api-keys/:id',
    { config: admin, schema: { tags, params: IdParams, response: { 200: ApiKeyView } } },
    async (req) => toView(await apiKeyRepo.get(db, req.params.id)),
  );
  api.post(
    '/api-keys',
    {
      config: admin,
      schema: {
        tags,
        body: ApiKeyBody,
        description: 'Creates a key. The answer is the only place the key ever appears: store it now.',
        response: { 201: Type.Intersect([ApiKeyView, Type.Object({ key: Type.String() })]) },
      },
    },
    async (req, reply) => {
      const expiresAt = req.body.expiresAt ? parseDateField(req.body.expiresAt, 'expiresAt') : null;
      if (expiresAt && expiresAt.getTime() <= Date.now()) throw badRequest('expiresAt', 'must be in the future');
      const created = await withAudit(
        req,
        (tx) =>
          apiKeyRepo.create(tx, {
            name: req.body.name,
            role: req.body.role,
            expiresAt,
            createdByKeyId: req.principal?.keyId ?? null,
          }),
        (c) => ({ recordId: c.record.id, detail: { role: c.record.role } }),
        201,
      );
      return reply.code(201).send({ ...toView(created.record), key: created.key });
    },
  );
  api.post(
    '/api-keys/:id/revoke',
    {
      config: admin,
      schema: {
        tags,
        params: IdParams,
        description: 'Revokes the key and ends its sessions, at once.',
        response: { 200: ApiKeyView },
      },
    },
    async (req) => {
      const revoked = await withAudit(req, (tx) => apiKeyRepo.revoke(tx, req.params.id));
      keys.forget(revoked.id);
      return toView(revoked);
    },
  );
}
