// Bearer-token access to the REST API. The token is compared in constant time and never logged.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';

const digest = (value: string) => createHash('sha256').update(value).digest();

export function bearerTokenChecker(expectedToken: string) {
  const expected = digest(expectedToken);
  return (request: FastifyRequest): boolean => {
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    return Boolean(match && timingSafeEqual(digest(match[1]!.trim()), expected));
  };
}

export function isLoopback(request: FastifyRequest): boolean {
  const ip = request.socket.remoteAddress ?? '';
  return ip === '::1' || ip.startsWith('127.') || ip.startsWith('::ffff:127.');
}
