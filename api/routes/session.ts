// Sign-in for people: a small /login page takes an API key and opens a browser session (an
// HttpOnly, SameSite=Strict, expiring cookie). The session is what lets the Temporal Web UI, in
// that person's browser, ask the codec endpoint to decode payloads. It opens nothing else: the
// REST API takes API keys only, so no cookie can be ridden into a change (CSRF).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Database } from '../../db/client.js';
import { apiKeyRepo, apiSessionRepo, auditRepo, type ApiKey } from '../../db/repositories/index.js';
import { roleMayUse } from '../../domain/roles.js';

export const SESSION_COOKIE = 'vaultscan_session';
/**
 * The cookie goes only to the codec endpoint: browsers send a host's cookies to all its ports,
 * so a narrow path keeps it from other services' pages on the same host (see README).
 */
const COOKIE_PATH = '/codec';
const SIGN_OUT_PATH = '/codec/logout';

const sessionEvent = (key: ApiKey, action: string, clientIp: string, detail: Record<string, unknown>) => ({
  actorKeyId: key.id,
  actorName: key.name,
  action,
  clientIp,
  outcome: 'success' as const,
  status: 200,
  detail,
});
/** A working day: long enough to investigate a scan, short enough that a forgotten browser closes. */
export const SESSION_TTL_MS = 8 * 60 * 60_000;

export interface SessionOptions {
  db: Database;
  /** Set the cookie's Secure flag (the API is served over https). */
  secureCookies: boolean;
  /** Where the signed-in page sends people next: the Temporal Web UI. */
  temporalUiUrl?: string;
}

/** The key behind the request's session cookie, if it has a live one. */
export async function sessionKey(db: Database, request: FastifyRequest): Promise<ApiKey | null> {
  const token = request.cookies[SESSION_COOKIE];
  return token ? apiSessionRepo.keyOf(db, token) : null;
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function page(reply: FastifyReply, status: number, title: string, body: string) {
  return reply
    .code(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('x-frame-options', 'DENY')
    .header(
      'content-security-policy',
      "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
    )
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} · vaultscan</title>` +
        `<style>body{font:16px system-ui,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem}` +
        `input{font:inherit;width:100%;padding:.4rem;margin:.3rem 0 1rem}button{font:inherit;padding:.4rem 1rem}</style>` +
        `</head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`,
    );
}

const signInForm = (problem?: string) =>
  (problem ? `<p role="alert"><strong>${escapeHtml(problem)}</strong></p>` : '') +
  `<form method="post" action="/login"><label for="key">API key</label>` +
  `<input id="key" name="key" type="password" autocomplete="off" required>` +
  `<button type="submit">Sign in</button></form>` +
  `<p>Signing in lets the Temporal Web UI, in this browser, show scan payloads decoded.</p>`;

export async function sessionRoutes(parent: FastifyInstance, options: SessionOptions): Promise<void> {
  const api = parent.withTypeProvider<TypeBoxTypeProvider>();
  const { db } = options;
  const hidden = { hide: true };

  api.get('/login', { schema: hidden }, async (_req, reply) => page(reply, 200, 'Sign in', signInForm()));

  api.post(
    '/login',
    {
      schema: {
        ...hidden,
        body: Type.Object({ key: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
      },
    },
    async (req, reply) => {
      const key = await apiKeyRepo.check(db, req.body.key.trim());
      if (typeof key === 'string') {
        req.log.warn({ reason: key }, 'sign-in refused');
        return page(reply, 401, 'Sign in', signInForm(`That API key is ${key === 'unknown' ? 'not valid' : key}.`));
      }
      if (!roleMayUse(key.role, 'reader')) {
        return page(reply, 403, 'Sign in', signInForm('That key’s role may not read scans.'));
      }
      const session = await apiSessionRepo.open(db, key, SESSION_TTL_MS);
      await auditRepo.append(db, req.server.auditTrail.keys, [
        sessionEvent(key, 'session.open', req.ip, { expiresAt: session.expiresAt.toISOString() }),
      ]);
      reply.setCookie(SESSION_COOKIE, session.token, {
        httpOnly: true,
        sameSite: 'strict',
        secure: options.secureCookies,
        path: COOKIE_PATH,
        expires: session.expiresAt,
      });
      const next = options.temporalUiUrl
        ? `<p><a href="${escapeHtml(options.temporalUiUrl)}">Open the Temporal Web UI</a>. In its Codec Server settings, switch on “Include cross-origin credentials” once, so it sends this session to vaultscan.</p>`
        : '';
      return page(
        reply,
        200,
        'Signed in',
        `<p>Signed in as <strong>${escapeHtml(key.name)}</strong> (${key.role}) until ${session.expiresAt.toISOString()}.</p>${next}` +
          `<form method="post" action="${SIGN_OUT_PATH}"><button type="submit">Sign out</button></form>`,
      );
    },
  );

  // Under /codec, where the cookie goes (it goes nowhere else, not even to /login).
  api.post(SIGN_OUT_PATH, { schema: hidden }, async (req, reply) => {
    const token = req.cookies[SESSION_COOKIE];
    const key = token ? await apiSessionRepo.keyOf(db, token) : null;
    if (token) await apiSessionRepo.close(db, token);
    if (key) await auditRepo.append(db, req.server.auditTrail.keys, [sessionEvent(key, 'session.close', req.ip, {})]);
    reply.clearCookie(SESSION_COOKIE, { path: COOKIE_PATH });
    return page(reply, 200, 'Signed out', '<p><a href="/login">Sign in again</a></p>');
  });
}
