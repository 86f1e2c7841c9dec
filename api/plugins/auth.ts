// Who is calling, and may they? Every route under /api/v1 declares the role it needs
// (`config: { role }`); a route without one stops the API from starting, so none is ever added
// unguarded. API keys travel as "Authorization: Bearer vsk_…"; a missing, unknown, revoked or
// expired key gets 401, a key without the role 403 naming the role needed.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';
import type { Database } from '../../db/client.js';
import { apiKeyRepo, type ApiKey, type KeyRefusal } from '../../db/repositories/index.js';
import type { KeyChecker } from '../key-checker.js';
import { describeRouteRole, roleMayUse, ROUTE_ROLES, type ApiRole, type RouteRole } from '../../domain/roles.js';

/**
 * What a route needs: one of the roles of domain/roles.ts, or `enrolmentCode` for the one
 * route an appliance calls with its one-time enrolment code instead of an API key.
 */
export type RouteAccess = RouteRole | 'enrolmentCode';

export interface Principal {
  keyId: string;
  name: string;
  role: ApiRole;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    role?: RouteAccess;
  }
  interface FastifyRequest {
    principal?: Principal;
  }
}

const REFUSALS: Record<KeyRefusal | 'missing', string> = {
  missing: 'send an API key as "Authorization: Bearer <key>"',
  unknown: 'the API key is not valid',
  revoked: 'the API key was revoked',
  expired: 'the API key has expired',
};

/** The bearer key of a request, if it sent one. */
export function bearerKey(request: FastifyRequest): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
  return match?.[1];
}

export const principalOf = (key: ApiKey): Principal => ({ keyId: key.id, name: key.name, role: key.role });

const unauthorised = (reply: FastifyReply, reason: string) =>
  reply.code(401).send({ statusCode: 401, error: 'Unauthorized', message: reason });

export const forbidden = (reply: FastifyReply, required: RouteRole) =>
  reply.code(403).send({
    statusCode: 403,
    error: 'Forbidden',
    message: `this needs ${describeRouteRole(required)}`,
    requiredRoles: ROUTE_ROLES[required],
  });

/**
 * Guards every route registered after it in this scope: refuses to register a route without a
 * role, states the role in the OpenAPI document, and checks the caller's key on each request.
 */
export function guardRoutes(api: FastifyInstance, db: Database, keys: KeyChecker): void {
  // A key's last use is written at most once a minute, not on every request.
  const lastTouched = new LRUCache<string, number>({ max: 10_000 });

  api.addHook('onRoute', (route) => {
    const role = route.config?.role;
    if (!role) throw new Error(`route ${route.method} ${route.url} declares no role (config: { role })`);
    if (route.method === 'HEAD') return;
    const needs =
      role === 'enrolmentCode' ? 'a one-time enrolment code, no API key' : `an API key with ${describeRouteRole(role)}`;
    route.schema = {
      ...route.schema,
      description: [route.schema?.description, `Requires ${needs}.`].filter(Boolean).join(' '),
      security: role === 'enrolmentCode' ? [] : [{ bearer: [...ROUTE_ROLES[role]] }],
    };
  });

  api.addHook('onRequest', async (request, reply) => {
    const required = request.routeOptions.config.role;
    if (required === 'enrolmentCode') return;
    if (!required) return; // no route matched: the not-found handler answers (onRoute guards the rest)
    const presented = bearerKey(request);
    if (!presented) return unauthorised(reply, REFUSALS.missing);
    const key = await keys.check(presented);
    if (typeof key === 'string') return unauthorised(reply, REFUSALS[key]);
    request.principal = principalOf(key);
    if (!roleMayUse(key.role, required)) return forbidden(reply, required);
    const now = Date.now();
    if (now - (lastTouched.get(key.id) ?? 0) > 60_000) {
      lastTouched.set(key.id, now);
      // Not awaited: no request waits on recording when a key was last used.
      apiKeyRepo
        .touch(db, key.id, new Date(now))
        .catch((err: unknown) => request.log.warn({ err }, "could not record a key's last use"));
    }
  });
}
