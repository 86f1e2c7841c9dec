// A stand-in for the API's codec route while its sign-in is being built, so the browser side
// can be proven now: it decodes only for a browser holding the session cookie its /sign-in
// set (HttpOnly, SameSite=Strict, expiring), and answers CORS for the Web UI's origin alone,
// with credentials. A test against the real API's /codec replaces it; nothing else depends
// on it.
import { randomBytes } from 'node:crypto';
import Fastify from 'fastify';
import type { Payload, PayloadCodec } from '@temporalio/common';

export const SESSION_COOKIE = 'vstest_session';

/** What the stand-in saw of one decode call. */
export interface DecodeCall {
  origin: string | undefined;
  /** The call carried the cookie of a session this server signed in. */
  withSession: boolean;
  status: number;
}

export interface StandInCodecServer {
  /** What the Web UI is configured with (`--ui-codec-endpoint`). */
  codecEndpoint: string;
  /** Opening this page in a browser signs it in (sets the session cookie). */
  signInUrl: string;
  decodeCalls: DecodeCall[];
  close(): Promise<void>;
}

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const fromBase64 = (text: string | undefined) => (text === undefined ? undefined : Buffer.from(text, 'base64'));
const toBase64 = (bytes: Uint8Array | null | undefined) => (bytes ? Buffer.from(bytes).toString('base64') : undefined);
const mapValues = <A, B>(record: Record<string, A>, f: (a: A) => B) =>
  Object.fromEntries(Object.entries(record).map(([k, v]) => [k, f(v)]));

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}

export async function startStandInCodecServer(options: {
  codec: PayloadCodec;
  uiOrigin: string;
}): Promise<StandInCodecServer> {
  const sessions = new Set<string>();
  const decodeCalls: DecodeCall[] = [];
  const app = Fastify();

  // CORS for the UI's origin only; credentials allowed, so the origin is named, never "*".
  app.addHook('onRequest', async (request, reply) => {
    if (request.headers.origin !== options.uiOrigin) return;
    reply.header('access-control-allow-origin', options.uiOrigin);
    reply.header('access-control-allow-credentials', 'true');
    reply.header('access-control-allow-methods', 'POST, OPTIONS');
    reply.header('access-control-allow-headers', 'Content-Type, X-Namespace');
    reply.header('vary', 'Origin');
  });

  app.get('/sign-in', async (_request, reply) => {
    const session = randomBytes(16).toString('hex');
    sessions.add(session);
    reply.header('set-cookie', `${SESSION_COOKIE}=${session}; Path=/; HttpOnly; SameSite=Strict; Max-Age=600`);
    return reply.type('text/html').send('<!doctype html><title>Signed in</title><p>Signed in</p>');
  });

  app.options('/codec/decode', async (_request, reply) => reply.code(204).send());

  app.post<{ Body: { payloads: JsonPayload[] } }>('/codec/decode', async (request, reply) => {
    const session = cookieValue(request.headers.cookie, SESSION_COOKIE);
    const withSession = session !== undefined && sessions.has(session);
    decodeCalls.push({ origin: request.headers.origin, withSession, status: withSession ? 200 : 401 });
    if (!withSession) return reply.code(401).send({ message: 'sign in first' });
    const payloads: Payload[] = request.body.payloads.map((p) => ({
      metadata: mapValues(p.metadata ?? {}, (v) => Buffer.from(v, 'base64')),
      data: fromBase64(p.data),
    }));
    const decoded = await options.codec.decode(payloads);
    return {
      payloads: decoded.map((p) => ({
        metadata: mapValues(p.metadata ?? {}, (v) => toBase64(v)),
        data: toBase64(p.data),
      })),
    };
  });

  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    codecEndpoint: `${url}/codec`,
    signInUrl: `${url}/sign-in`,
    decodeCalls,
    close: () => app.close(),
  };
}
