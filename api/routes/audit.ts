// The audit trail, for auditors and admins: filtered and paged newest first, and a check that
// the hash chain still holds from the first row to the last.
import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Database } from '../../db/client.js';
import { auditRepo, type AuditEvent } from '../../db/repositories/index.js';
import { AUDIT_OUTCOMES } from '../../db/schema.js';
import { listIdentity, pageAnswer, pageRequest, type ListCursors } from '../paging.js';
import { parseDateField } from '../validation.js';
import { Id, Paged, paging } from '../schemas.js';

const tags = ['audit'];
const role = { role: 'auditTrail' as const };

const AuditQuery = Type.Object(
  {
    from: Type.Optional(Type.String({ format: 'date-time', description: 'Events at or after this time' })),
    to: Type.Optional(Type.String({ format: 'date-time', description: 'Events at or before this time' })),
    actor: Type.Optional(Type.String({ format: 'uuid', description: 'The id of the API key that acted' })),
    record: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'The id of the record acted on' })),
    scan: Type.Optional(Type.String({ format: 'uuid' })),
    ...paging(),
  },
  { additionalProperties: false },
);

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const AuditEventView = Type.Object({
  seq: Type.Integer(),
  at: Type.String(),
  actorKeyId: Nullable(Id),
  actorName: Type.String(),
  action: Type.String(),
  recordId: Nullable(Type.String()),
  scanId: Nullable(Type.String()),
  applianceId: Nullable(Type.String()),
  clientIp: Nullable(Type.String()),
  outcome: Type.Enum(AUDIT_OUTCOMES),
  status: Nullable(Type.Integer()),
  detail: Type.Record(Type.String(), Type.Unknown()),
  prevHash: Type.String(),
  hash: Type.String(),
});

const toView = (e: AuditEvent) => ({ ...e, at: e.at.toISOString() });

export async function auditRoutes(
  parent: FastifyInstance,
  { db, cursors }: { db: Database; cursors: ListCursors },
): Promise<void> {
  const api = parent.withTypeProvider<TypeBoxTypeProvider>();

  api.get(
    '/audit',
    {
      config: role,
      schema: {
        tags,
        querystring: AuditQuery,
        response: { 200: Paged(AuditEventView) },
      },
    },
    async (req) => {
      const { limit, cursor, ...filters } = req.query;
      const list = listIdentity('/audit', filters);
      const events = await auditRepo.list(db, {
        ...(filters.from && { from: parseDateField(filters.from, 'from') }),
        ...(filters.to && { to: parseDateField(filters.to, 'to') }),
        ...(filters.actor && { actorKeyId: filters.actor }),
        ...(filters.record && { recordId: filters.record }),
        ...(filters.scan && { scanId: filters.scan }),
        ...pageRequest(cursors, list, { limit, cursor }),
      });
      return pageAnswer(cursors, list, events, toView);
    },
  );

  api.get(
    '/audit/verify',
    {
      config: role,
      schema: {
        tags,
        description: 'Recomputes the hash chain: intact, or the first row that was deleted, inserted or altered.',
        response: {
          200: Type.Object({
            intact: Type.Boolean(),
            rows: Type.Integer(),
            headHash: Type.Optional(Type.String()),
            firstBroken: Type.Optional(Type.Object({ seq: Type.Integer(), reason: Type.String() })),
          }),
        },
      },
    },
    async (req) => auditRepo.verify(db, req.server.auditTrail.keys),
  );
}
