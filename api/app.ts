// Builds the Fastify application (no listen here, so tests can inject or listen as they like).
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Logger } from 'pino';
import type { PayloadCodec } from '@temporalio/common';
import { installErrorHandler } from './plugins/error-handler.js';
import { bearerTokenChecker, isLoopback } from './plugins/auth.js';
import { codecRoutes } from './routes/codec.js';
import { registerResourceRoutes, type ApiDeps } from './routes/index.js';

export interface AppOptions extends ApiDeps {
  logger: Logger;
  apiToken: string;
  codec: PayloadCodec;
  temporalUiOrigin?: string;
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: options.logger as unknown as FastifyBaseLogger,
    bodyLimit: 1024 * 1024,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  });
  installErrorHandler(app);
  const hasToken = bearerTokenChecker(options.apiToken);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'vaultscan API',
        version: '1',
        description: 'Authenticated scans with credentials fetched from your vaults at scan time.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/healthz', { schema: { hide: true } }, async () => ({ ok: true }));

  await app.register(codecRoutes, {
    codec: options.codec,
    uiOrigin: options.temporalUiOrigin,
    isAuthorised: (req) => isLoopback(req) || hasToken(req),
  });

  await app.register(
    async (api) => {
      api.addHook('onRequest', async (request, reply) => {
        if (!hasToken(request))
          return reply.code(401).send({
            statusCode: 401,
            error: 'Unauthorized',
            message: 'send the API token as "Authorization: Bearer <token>"',
          });
      });
      await registerResourceRoutes(api, options);
    },
    { prefix: '/api/v1' },
  );
  return app;
}
