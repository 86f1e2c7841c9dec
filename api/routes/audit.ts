// The audit trail, for auditors and admins: filtered and paged newest first, and a check that
// the hash chain still holds from the first row to the last.
import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Database } from '../../db/client.js';
import { auditRepo, type AuditEvent } from '../../db/repositories/index.js';
import { AUDIT_OUTCOMES } from '../../db/schema.js';
import { badRequest } from '../problems.js';
import { parseDateField } from '../validation.js';
import { Id } from '../schemas.js';

const tags = ['audit'];
const role = { role: 'auditTrail' as const };

const AuditQuery = Type.Object(
  {
    from: Type.Optional(Type.String({ format: 'date-time', description: 'Events at or after this time' })),
    to: Type.Optional(Type.String({ format: 'date-time', description: 'Events at or before this time' })),
    actor: Type.Optional(Type.String({ format: 'uuid', description: 'The id of the API key that acted' })),
    record: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'The id of the record acted on' })),
    scan: Type.Optional(Type.String({ format: 'uuid' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
    cursor: Type.Optional(Type.String({ maxLength: 40, description: 'nextCursor of the previous page' })),
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

/** A page's cursor names the last row it showed; anything else is refused, not guessed at. */
const encodeCursor = (seq: number) => Buffer.from(`audit:${seq}`).toString('base64url');
function decodeCursor(cursor: string): number {
  const match = /^audit:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw badRequest('cursor', 'is not a cursor this API gave out; use nextCursor of the previous page');
  return Number(match[1]);
}

const toView = (e: AuditEvent) => ({ ...e, at: e.at.toISOString() });

export async function auditRoutes(parent: FastifyInstance, { db }: { db: Database }): Promise<void> {
  const api = parent.withTypeProvider<TypeBoxTypeProvider>();

  api.get(
    '/audit',
    {
      config: role,
      schema: {
        tags,
        querystring: AuditQuery,
        response: { 200: Type.Object({ events: Type.Array(AuditEventView), nextCursor: Nullable(Type.String()) }) },
      },
    },
    async (req) => {
      const q = req.query;
      const limit = q.limit ?? 100;
      const events = await auditRepo.list(db, {
        ...(q.from && { from: parseDateField(q.from, 'from') }),
        ...(q.to && { to: parseDateField(q.to, 'to') }),
        ...(q.actor && { actorKeyId: q.actor }),
        ...(q.record && { recordId: q.record }),
        ...(q.scan && { scanId: q.scan }),
        ...(q.cursor && { beforeSeq: decodeCursor(q.cursor) }),
        limit,
      });
      const last = events[events.length - 1];
      return {
        events: events.map(toView),
        nextCursor: events.length === limit && last ? encodeCursor(last.seq) : null,
      };
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
