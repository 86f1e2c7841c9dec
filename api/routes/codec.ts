// The codec endpoint the Temporal Web UI calls, from a person's browser, to show encrypted
// payloads decoded. It answers only a signed-in person (a /login session cookie) or a caller
// with an API key, in either case of a role allowed to read scans; where the call comes from
// earns nothing. CORS lets the configured Web UI origin in, with credentials, and no other.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import cors from '@fastify/cors';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Payload, PayloadCodec } from '@temporalio/common';
import type { Database } from '../../db/client.js';
import type { ApiKey } from '../../db/repositories/index.js';
import type { KeyChecker } from '../key-checker.js';
import { describeRouteRole, roleMayUse } from '../../domain/roles.js';
import { bearerKey } from '../plugins/auth.js';
import { sessionKey } from './session.js';

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const toPayload = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: p.data === undefined ? undefined : Buffer.from(p.data, 'base64'),
});

const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
  ),
  data: p.data ? Buffer.from(p.data).toString('base64') : undefined,
});

const Base64 = Type.String({ maxLength: 4 * 1024 * 1024, pattern: '^[A-Za-z0-9+/]*={0,2}$' });
const CodecBody = Type.Object({
  payloads: Type.Array(
    Type.Object({
      metadata: Type.Optional(Type.Record(Type.String({ maxLength: 200 }), Base64)),
      data: Type.Optional(Base64),
    }),
    { maxItems: 10_000 },
  ),
});

export interface CodecRouteOptions {
  db: Database;
  keys: KeyChecker;
  codec: PayloadCodec;
  /** The Temporal Web UI origins (scheme://host:port) allowed to call from a browser. */
  uiOrigins: string[];
}

/** The signed-in person, or the API key holder, behind a codec call; null if there is none. */
async function callerOf(db: Database, keys: KeyChecker, request: FastifyRequest): Promise<ApiKey | null> {
  const presented = bearerKey(request);
  if (presented) {
    const key = await keys.check(presented);
    return typeof key === 'string' ? null : key;
  }
  return sessionKey(db, request);
}

export async function codecRoutes(parent: FastifyInstance, options: CodecRouteOptions): Promise<void> {
  await parent.register(cors, {
    origin: options.uiOrigins,
    credentials: true,
    methods: ['POST', 'OPTIONS'],
    maxAge: 600,
  });
  const api = parent.withTypeProvider<TypeBoxTypeProvider>();
  for (const direction of ['encode', 'decode'] as const) {
    api.post(`/codec/${direction}`, { schema: { body: CodecBody, hide: true } }, async (request, reply) => {
      const caller = await callerOf(options.db, options.keys, request);
      if (!caller) {
        return reply.code(401).send({
          statusCode: 401,
          error: 'Unauthorized',
          message: 'sign in at /login (or send an API key) to have payloads decoded',
        });
      }
      // Decoding shows what is there; encoding makes input vaultscan's workers accept, so it
      // takes the role that may change things.
      const needed = direction === 'encode' ? 'operator' : 'reader';
      if (!roleMayUse(caller.role, needed)) {
        return reply.code(403).send({
          statusCode: 403,
          error: 'Forbidden',
          message: `${direction === 'encode' ? 'encoding' : 'decoding'} needs ${describeRouteRole(needed)}`,
        });
      }
      const payloads = request.body.payloads.map(toPayload);
      let result: Payload[];
      try {
        result = direction === 'encode' ? await options.codec.encode(payloads) : await options.codec.decode(payloads);
      } catch (err) {
        // A payload this codec cannot open (unknown key id, truncated, altered) is the caller's to fix.
        return reply.code(400).send({
          statusCode: 400,
          error: 'Bad Request',
          field: 'payloads',
          message: `payloads: ${(err as Error).message}`,
        });
      }
      return { payloads: result.map(toJson) };
    });
  }
}
