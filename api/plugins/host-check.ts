// The API answers only to the host names it is configured for. A page on another site that
// gets its name resolved to this machine (DNS rebinding) sends its own name in Host, and is
// turned away before any route runs.
import type { FastifyInstance } from 'fastify';

const bare = (name: string) =>
  name
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '');

export function checkHostHeader(app: FastifyInstance, allowedHostnames: string[]): void {
  const allowed = new Set(allowedHostnames.map(bare));
  app.addHook('onRequest', async (request, reply) => {
    if (allowed.has(bare(request.hostname))) return;
    return reply.code(421).send({
      statusCode: 421,
      error: 'Misdirected Request',
      message: `this API does not answer to the host name in the Host header; it answers to ${[...allowed].join(', ')} (VAULTSCAN_API_HOSTNAMES)`,
    });
  });
}

/** The names a locally bound API answers to by default, plus any configured. */
export function defaultHostnames(bindHost: string, configured?: string): string[] {
  const extra = (configured ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  return [...new Set([bindHost, '127.0.0.1', 'localhost', '::1', ...extra])];
}
