// Builds the Fastify application (no listen here, so tests can inject or listen as they like).
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { typeVaultParts } from './openapi-vault-parts.js';
import type { Logger } from 'pino';
import type { PayloadCodec } from '@temporalio/common';
import { installErrorHandler } from './plugins/error-handler.js';
import { guardRoutes } from './plugins/auth.js';
import { auditCalls } from './plugins/audit.js';
import { checkHostHeader } from './plugins/host-check.js';
import { installValidators, refuseUnstorableText } from './validation.js';
import { installJsonBodyParser } from './json-body.js';
import { createKeyChecker } from './key-checker.js';
import { auditChainKeys } from '../db/repositories/index.js';
import { codecRoutes } from './routes/codec.js';
import { sessionRoutes } from './routes/session.js';
import { registerResourceRoutes, type ApiDeps } from './routes/index.js';

export interface AppOptions extends ApiDeps {
  logger: Logger;
  codec: PayloadCodec;
  /** The Temporal Web UI's address: its origin may call the codec endpoint with credentials. */
  temporalUiUrl?: string;
  /** Host names the API answers to (Host header); anything else gets 421. */
  allowedHostnames: string[];
  /** Mark the session cookie Secure: set when the API is served over https. */
  secureCookies?: boolean;
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: options.logger as unknown as FastifyBaseLogger,
    bodyLimit: 1024 * 1024,
  });
  installJsonBodyParser(app);
  installValidators(app);
  refuseUnstorableText(app);
  const keys = createKeyChecker(options.db);
  app.decorate('auditTrail', { db: options.db, keys: auditChainKeys(options.box) });
  installErrorHandler(app);
  checkHostHeader(app, options.allowedHostnames);
  await app.register(cookie);
  await app.register(formbody);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'vaultscan API',
        version: '1',
        description:
          'Authenticated scans with credentials fetched from your vaults at scan time. Every route states the role its API key needs (admin, operator, auditor).',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An API key: vsk_…' } } },
    },
    transformObject: (document) => typeVaultParts('openapiObject' in document ? document.openapiObject : {}),
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/healthz', { schema: { hide: true } }, async () => ({ ok: true }));

  await app.register(sessionRoutes, {
    db: options.db,
    secureCookies: options.secureCookies ?? false,
    temporalUiUrl: options.temporalUiUrl,
  });
  await app.register(codecRoutes, {
    db: options.db,
    keys,
    codec: options.codec,
    uiOrigins: options.temporalUiUrl ? [new URL(options.temporalUiUrl).origin] : [],
  });

  await app.register(
    async (api) => {
      guardRoutes(api, options.db, keys);
      auditCalls(api);
      await registerResourceRoutes(api, { ...options, keys });
    },
    { prefix: '/api/v1' },
  );
  return app;
}
