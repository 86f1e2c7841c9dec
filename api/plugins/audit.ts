// Every mutating API call lands in the audit trail. A change is recorded in the same
// transaction that makes it (withAudit), so the two commit or roll back together; a call that
// was refused or failed is recorded once it has been answered. Values are never recorded:
// field names, ids, outcome and status only.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Database } from '../../db/client.js';
import type { DerivedKeys } from '../../db/crypto.js';
import { auditRepo, type AuditEntry } from '../../db/repositories/index.js';
import type { AuditOutcome } from '../../db/schema.js';

/** Where the trail is written, and the keys of its MAC chain. */
export interface AuditTrail {
  db: Database;
  keys: DerivedKeys;
}

declare module 'fastify' {
  interface FastifyInstance {
    auditTrail: AuditTrail;
  }
  interface FastifyRequest {
    /** Set once the call's audit row was written with its change. */
    audited?: boolean;
  }
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The names of the fields a body set, two levels deep ("config.url", "access"): never values. */
export function fieldNames(body: unknown): string[] {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return [];
  return Object.entries(body).flatMap(([key, value]) =>
    value && typeof value === 'object' && !Array.isArray(value) && key !== 'access'
      ? Object.keys(value).map((inner) => `${key}.${inner}`)
      : [key],
  );
}

function actionOf(request: FastifyRequest): string {
  return `${request.method} ${request.routeOptions.url ?? request.url.split('?')[0]}`;
}

function entryFor(request: FastifyRequest, outcome: AuditOutcome, status: number): AuditEntry {
  const params = request.params as Record<string, unknown> | undefined;
  return {
    actorKeyId: request.principal?.keyId ?? null,
    actorName: request.principal?.name ?? 'anonymous',
    action: actionOf(request),
    recordId: typeof params?.id === 'string' ? params.id : null,
    clientIp: request.ip,
    outcome,
    status,
    detail: { fields: fieldNames(request.body) },
  };
}

export interface AuditedChange {
  recordId?: string | null;
  scanId?: string | null;
  applianceId?: string | null;
  detail?: Record<string, unknown>;
  /** Who acted, when it was not an API key (an appliance enrolling with its code). */
  actorName?: string;
}

/**
 * Runs a change and records it in one transaction. `describe` names what changed (the new
 * record's id, extra non-secret detail); the route's method and path name the action.
 */
export async function withAudit<T>(
  request: FastifyRequest,
  change: (tx: Database) => Promise<T>,
  describe: (result: T) => AuditedChange = () => ({}),
  status = 200,
): Promise<T> {
  const { db, keys } = request.server.auditTrail;
  const result = await db.transaction(async (tx) => {
    const result = await change(tx);
    const base = entryFor(request, 'success', status);
    const described = describe(result);
    await auditRepo.append(tx, keys, [
      {
        ...base,
        actorName: described.actorName ?? base.actorName,
        recordId: described.recordId ?? base.recordId,
        scanId: described.scanId ?? null,
        applianceId: described.applianceId ?? null,
        detail: { ...base.detail, ...described.detail },
      },
    ]);
    return result;
  });
  // Only once the change and its record are committed: a failed commit is recorded as failed.
  request.audited = true;
  return result;
}

/** Records every mutating call of this scope that ended without its change being recorded. */
export function auditCalls(api: FastifyInstance): void {
  api.addHook('onResponse', async (request, reply) => {
    if (!MUTATING.has(request.method) || request.audited) return;
    // A caller with no valid key is logged, not audited: anyone could otherwise flood the trail.
    if (!request.principal) {
      request.log.warn(
        { status: reply.statusCode, action: actionOf(request) },
        'refused a call without a valid API key',
      );
      return;
    }
    const status = reply.statusCode;
    const outcome: AuditOutcome =
      status === 403 ? 'denied' : status >= 500 ? 'failed' : status >= 400 ? 'rejected' : 'success';
    const entry = entryFor(request, outcome, status);
    // A change that was not recorded with its own transaction is still recorded, and says so.
    if (outcome === 'success') entry.detail = { ...entry.detail, recordedAfterwards: true };
    try {
      await auditRepo.append(api.auditTrail.db, api.auditTrail.keys, [entry]);
    } catch (err) {
      request.log.error({ err }, 'could not write the audit trail');
    }
  });
}
