// The codec endpoint the Temporal Web UI calls to show encrypted payloads decoded.
// Browser-facing: CORS for the UI's origin only; access for loopback callers (the embedded
// default) or holders of the API token.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Payload, PayloadCodec } from '@temporalio/common';

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

const bodySchema = {
  type: 'object',
  required: ['payloads'],
  properties: {
    payloads: {
      type: 'array',
      maxItems: 10_000,
      items: {
        type: 'object',
        properties: {
          metadata: { type: 'object', additionalProperties: { type: 'string' } },
          data: { type: 'string' },
        },
      },
    },
  },
} as const;

export interface CodecRouteOptions {
  codec: PayloadCodec;
  /** The Temporal Web UI's origin, allowed by CORS. */
  uiOrigin?: string;
  isAuthorised(request: FastifyRequest): boolean;
}

export async function codecRoutes(app: FastifyInstance, options: CodecRouteOptions): Promise<void> {
  const cors = (request: FastifyRequest, reply: FastifyReply) => {
    const origin = request.headers.origin;
    if (origin && options.uiOrigin && origin === options.uiOrigin) {
      reply.header('access-control-allow-origin', origin);
      reply.header('access-control-allow-methods', 'POST, GET, OPTIONS');
      reply.header('access-control-allow-headers', 'X-Namespace, Content-Type, Authorization');
      reply.header('access-control-allow-credentials', 'true');
      reply.header('vary', 'Origin');
    }
  };
  app.options('/codec/*', async (request, reply) => {
    cors(request, reply);
    return reply.code(204).send();
  });
  for (const direction of ['encode', 'decode'] as const) {
    app.post<{ Body: { payloads: JsonPayload[] } }>(
      `/codec/${direction}`,
      { schema: { body: bodySchema, hide: true } },
      async (request, reply) => {
        cors(request, reply);
        if (!options.isAuthorised(request))
          return reply.code(401).send({
            statusCode: 401,
            error: 'Unauthorized',
            message: 'the codec endpoint needs the API token or a loopback caller',
          });
        const payloads = request.body.payloads.map(toPayload);
        const result =
          direction === 'encode' ? await options.codec.encode(payloads) : await options.codec.decode(payloads);
        return { payloads: result.map(toJson) };
      },
    );
  }
}
