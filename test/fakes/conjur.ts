// A CyberArk Conjur (v5 API) for tests, over HTTPS on 127.0.0.1, after cyberark/conjur-openapi-spec
// and the behaviour in cyberark/conjur's secrets.feature: API-key authn for a v5 access token
// {protected,payload,signature} (base64 with Accept-Encoding: base64), `Authorization: Token
// token="<base64>"`, single and batch variable reads (base64 values on request, 406 CONJ00074E for
// binary without it), versions, whoami, and Conjur's errors ({"error":{"code","message"}}; 404
// also when the caller has no privilege at all, 403 when it may see but not execute). Switches
// produce what a healthy Conjur does not: throttling, outages, HTML, expired tokens.
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, issueCertificate } from '../harness/tls-certs.js';

export interface ConjurVariable {
  /** Values, oldest first (version n is values[n-1]); none = a variable never given a value. */
  values: (string | Buffer)[];
  /** Logins with execute (read the value). */
  execute: string[];
  /** Logins that may see the variable but not read it (403). Anyone else gets 404. */
  readOnly?: string[];
}

export type ConjurFault =
  'none' | 'forbidden' | 'notFound' | 'throttled' | 'unavailable' | 'serverError' | 'html' | 'unprocessable' | 'slow';

export interface ConjurFakeOptions {
  account: string;
  /** Login (user id, or host/<id>) → API key. */
  apiKeys: Record<string, string>;
  /** Variable id → variable. */
  variables: Record<string, ConjurVariable>;
  /** Token lifetime in seconds (Conjur: 8 minutes). */
  tokenTtlSeconds?: number;
}

export interface ConjurRequest {
  method: string;
  path: string;
  acceptEncoding?: string;
  authorization?: string;
}

export interface ConjurFake {
  url: string;
  caCert: string;
  caFile: string;
  fault: ConjurFault;
  retryAfterSeconds: number;
  slowMs: number;
  /** Authenticate answers something that is not a token. */
  garbageToken: boolean;
  /** Tokens issued already expired: the next one only ('next'), or all ('always'). */
  tokenExpiry: 'normal' | 'next' | 'always';
  /** Requests that handed out secret values (single or batch), and the variables they carried. */
  reads: number;
  variablesRead: number;
  authentications: number;
  requests: ConjurRequest[];
  /** Ends every token issued so far, as 8 minutes passing would. */
  expireTokens(): void;
  close(): Promise<void>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');
/** Ruby's Base64.encode64, which Conjur's batch uses: a newline after every 60 characters and at the end. */
const encode64 = (b: Buffer) => `${(b.toString('base64').match(/.{1,60}/g) ?? []).join('\n')}\n`;

export async function startConjurFake(options: ConjurFakeOptions): Promise<ConjurFake> {
  const dir = mkdtempSync(join(tmpdir(), 'vstest-conjur-'));
  const ca = createCa(dir, 'conjur-test-ca');
  const serverCert = issueCertificate(ca, dir, 'conjur-server', 'server');
  const signingKey = randomBytes(32);
  const kid = randomBytes(16).toString('hex');
  const ttl = options.tokenTtlSeconds ?? 480;
  const tokens = new Map<string, { login: string; exp: number; iat: number }>();
  const { account } = options;

  const fake: ConjurFake = {
    url: '',
    caCert: readFileSync(ca.cert, 'utf8'),
    caFile: ca.cert,
    fault: 'none',
    retryAfterSeconds: 1,
    slowMs: 2000,
    garbageToken: false,
    tokenExpiry: 'normal',
    reads: 0,
    variablesRead: 0,
    authentications: 0,
    requests: [],
    expireTokens: () => {
      for (const t of tokens.values()) t.exp = 0;
    },
    close: async () => undefined,
  };

  /** A v5 access token: JWS JSON serialisation, signed by the account's key. */
  const issueToken = (login: string): string => {
    const iat = Math.floor(Date.now() / 1000);
    const expired = fake.tokenExpiry !== 'normal';
    if (fake.tokenExpiry === 'next') fake.tokenExpiry = 'normal';
    const protectedHeader = b64url(JSON.stringify({ alg: 'conjur.org/slosilo/v2', kid }));
    const payload = b64url(JSON.stringify({ sub: login, iat, exp: iat + ttl }));
    const signature = b64url(createHmac('sha256', signingKey).update(`${protectedHeader}.${payload}`).digest());
    tokens.set(signature, { login, iat, exp: expired ? 0 : iat + ttl });
    return JSON.stringify({ protected: protectedHeader, payload, signature });
  };

  /** The login of a valid `Authorization: Token token="<base64>"`, or undefined. */
  const caller = (req: IncomingMessage): { login: string; iat: number } | undefined => {
    const m = /^Token token="([^"]+)"$/.exec(req.headers.authorization ?? '');
    if (!m?.[1]) return undefined;
    try {
      const token = JSON.parse(Buffer.from(m[1], 'base64').toString('utf8')) as Record<string, unknown>;
      const entry = typeof token.signature === 'string' ? tokens.get(token.signature) : undefined;
      if (!entry || entry.exp <= Date.now() / 1000) return undefined;
      return entry;
    } catch {
      return undefined;
    }
  };

  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  const error = (res: ServerResponse, status: number, code: string, message: string) =>
    json(res, status, { error: { code, message } });
  const unauthorized = (res: ServerResponse) => {
    res.writeHead(401, { 'content-type': 'text/plain' });
    res.end('');
  };
  /** Conjur's `head :forbidden`: no body. */
  const forbidden = (res: ServerResponse) => {
    res.writeHead(403);
    res.end();
  };
  const emptyOrMissing = (res: ServerResponse, id: string) =>
    error(res, 404, 'not_found', `CONJ00076E Variable ${account}:variable:${id} is empty or not found.`);

  /** What a login may do with a variable: read it, see it (403), or nothing (404, as if absent). */
  const access = (login: string, id: string): 'read' | 'see' | 'none' => {
    if (fake.fault === 'forbidden') return 'see';
    if (fake.fault === 'notFound') return 'none';
    const v = options.variables[id];
    if (!v) return 'none';
    if (v.execute.includes(login)) return 'read';
    return v.readOnly?.includes(login) ? 'see' : 'none';
  };

  const isText = (b: Buffer) => !b.includes(0) && Buffer.from(b.toString('utf8'), 'utf8').equals(b);

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'https://conjur');
    const rawPath = (req.url ?? '/').split('?')[0] ?? '/';
    const acceptEncoding = req.headers['accept-encoding'];
    const wantsBase64 = typeof acceptEncoding === 'string' && acceptEncoding.toLowerCase() === 'base64';
    fake.requests.push({
      method: req.method ?? '',
      path: rawPath,
      ...(typeof acceptEncoding === 'string' && { acceptEncoding }),
      ...(req.headers.authorization && { authorization: req.headers.authorization }),
    });
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');

    if (fake.fault === 'slow') await new Promise((r) => setTimeout(r, fake.slowMs));
    if (fake.fault === 'throttled') {
      res.writeHead(429, { 'retry-after': String(fake.retryAfterSeconds), 'content-type': 'application/json' });
      return res.end(JSON.stringify({ error: { code: 'too_many_requests', message: 'Rate limit exceeded' } }));
    }
    if (fake.fault === 'unavailable') {
      res.writeHead(502, { 'content-type': 'text/html' });
      return res.end('<html><body><h1>502 Bad Gateway</h1>nginx</body></html>');
    }
    if (fake.fault === 'serverError')
      return error(res, 500, 'internal_server_error', 'CONJ00007E An unexpected error occurred');
    if (fake.fault === 'html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      return res.end('<!DOCTYPE html><html><body>Single sign-on</body></html>');
    }

    const segments = rawPath.split('/').slice(1);
    // POST /authn/{account}/{login}/authenticate
    if (req.method === 'POST' && segments[0] === 'authn' && segments[3] === 'authenticate' && segments.length === 4) {
      const login = decodeURIComponent(segments[2] ?? '');
      if (decodeURIComponent(segments[1] ?? '') !== account || options.apiKeys[login] !== body)
        return unauthorized(res);
      fake.authentications++;
      if (fake.garbageToken) {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end('{"message":"ok"}');
      }
      const token = issueToken(login);
      if (wantsBase64) {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'base64' });
        return res.end(Buffer.from(token).toString('base64'));
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(token);
    }

    const who = caller(req);
    if (req.method === 'GET' && rawPath === '/whoami') {
      if (!who) return unauthorized(res);
      return json(res, 200, {
        account,
        username: who.login,
        client_ip: req.socket.remoteAddress,
        user_agent: req.headers['user-agent'] ?? '',
        token_issued_at: new Date(who.iat * 1000).toISOString(),
      });
    }

    // GET /secrets/{account}/variable/{id}[?version=n]
    if (req.method === 'GET' && segments[0] === 'secrets' && segments[2] === 'variable' && segments.length >= 4) {
      if (!who) return unauthorized(res);
      if (decodeURIComponent(segments[1] ?? '') !== account)
        return error(res, 404, 'not_found', `CONJ00076E Variable ${segments[1]}:variable:… is empty or not found.`);
      const id = decodeURIComponent(segments.slice(3).join('/'));
      const versionParam = url.searchParams.get('version');
      if (fake.fault === 'unprocessable' || (versionParam !== null && !/^\d+$/.test(versionParam)))
        return error(res, 422, 'argument_error', `invalid value for version: ${versionParam}`);
      const can = access(who.login, id);
      if (can === 'none') return emptyOrMissing(res, id);
      if (can === 'see') return forbidden(res);
      const values = options.variables[id]?.values ?? [];
      const value = versionParam === null ? values.at(-1) : values[Number(versionParam) - 1];
      if (value === undefined) return emptyOrMissing(res, id);
      fake.reads++;
      fake.variablesRead++;
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      return res.end(Buffer.from(value));
    }

    // GET /secrets?variable_ids=acct:variable:a,acct:variable:b
    if (req.method === 'GET' && rawPath === '/secrets') {
      if (!who) return unauthorized(res);
      const list = url.searchParams.get('variable_ids');
      if (!list) return error(res, 422, 'argument_error', 'variable_ids');
      const ids = list.split(',');
      const out: Record<string, string> = {};
      const base64 = wantsBase64;
      for (const full of ids) {
        const m = /^([^:]+):variable:(.+)$/.exec(full);
        const id = m?.[2] ?? full;
        if (m?.[1] !== account) return emptyOrMissing(res, id);
        const can = access(who.login, id);
        if (can === 'none') return emptyOrMissing(res, id);
        if (can === 'see') return forbidden(res);
        const value = options.variables[id]?.values.at(-1);
        if (value === undefined) return emptyOrMissing(res, id);
        const bytes = Buffer.from(value);
        if (!base64 && !isText(bytes))
          return error(
            res,
            406,
            'not_acceptable',
            "CONJ00074E Issue encoding secret into JSON format, try including 'Accept-Encoding: base64' header in request.",
          );
        out[full] = base64 ? encode64(bytes) : bytes.toString('utf8');
      }
      fake.reads++;
      fake.variablesRead += ids.length;
      return json(res, 200, out, base64 ? { 'content-encoding': 'base64' } : {});
    }

    return error(res, 404, 'not_found', `No route matches [${req.method}] "${rawPath}"`);
  };

  const server: Server = createServer(
    { key: readFileSync(serverCert.key), cert: readFileSync(serverCert.cert) },
    (req, res) => {
      handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(err));
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  fake.url = `https://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  fake.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => {
        rmSync(dir, { recursive: true, force: true });
        resolve();
      });
    });
  return fake;
}
