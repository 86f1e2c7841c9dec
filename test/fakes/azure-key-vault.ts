// A faithful fake of Azure Key Vault's secrets data plane and of the Entra ID token endpoint
// in front of it, on one HTTPS server (a throwaway CA). Shapes follow azure-rest-api-specs
// (keyvault data-plane 7.4: secrets.json, common.json), the Entra client-credentials docs and
// the recordings in azure-sdk-for-js: the challenge 401 with WWW-Authenticate, SecretNotFound,
// Forbidden with innererror (ForbiddenByPolicy/Rbac/Firewall, SecretDisabled), 429 with
// Retry-After. @azure/keyvault-secrets and @azure/identity parse it (test/vault-azure-key-vault.test.ts).
import {
  constants,
  createHash,
  createHmac,
  createPublicKey,
  randomBytes,
  timingSafeEqual,
  verify,
  X509Certificate,
} from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, issueCertificate } from '../harness/tls-certs.js';

export interface FakeSecretVersion {
  version: string;
  value: string;
  contentType?: string;
  enabled: boolean;
  created: number;
}

export type ForbiddenReason = 'ForbiddenByPolicy' | 'ForbiddenByRbac' | 'ForbiddenByFirewall';

/** Failure switches: each makes the next answers fail the way Key Vault or Entra ID does. */
export interface AzureSwitches {
  /** Every secret read answers 403 Forbidden with this innererror. */
  forbidden?: ForbiddenReason;
  /** The next N secret reads answer 403 ForbiddenByRbac (a grant not yet applied), then reads work. */
  forbiddenTimes?: number;
  /** The next N secret reads answer 429 Throttled with Retry-After (seconds). */
  throttle?: { times: number; retryAfterSeconds: number };
  /** The next N token requests answer 429 with Retry-After. */
  throttleToken?: { times: number; retryAfterSeconds: number };
  /** Secret reads answer 503 ServiceUnavailable. */
  unavailable?: boolean;
  /** The token endpoint answers 503 (AADSTS90033-like). */
  tokenUnavailable?: boolean;
  /** Secret reads answer 200 with an HTML page (a proxy's login or maintenance page). */
  html?: boolean;
  /** The token endpoint answers 200 with an HTML page. */
  tokenHtml?: boolean;
  /** Secret reads answer 200 with a secret bundle that lacks "value". */
  noValue?: boolean;
  /** Secret reads answer 400 BadParameter. */
  badParameter?: boolean;
  /** Tokens are issued already expired: Key Vault then answers 401. */
  expiredTokens?: boolean;
  /** Reads take this long to answer (ms). */
  delayMs?: number;
}

export interface FakeAzureKeyVault {
  /** The vault's URL (https://127.0.0.1:<port>). */
  url: string;
  /** host:port of the token endpoint (the same server). */
  authorityHost: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  /** The CA that signed the server's certificate: PEM text, and its file (NODE_EXTRA_CA_CERTS). */
  caCert: string;
  caFile: string;
  /** The app's certificate for certificate login (RSA), and its key. */
  appCertificate: string;
  appKey: string;
  switches: AzureSwitches;
  /** Counts: secret values served, token requests, every secret GET (with or without a token). */
  counts: { reads: number; tokens: number; secretRequests: number };
  /** Adds a version (newest last); returns its 32-hex id. */
  setSecret(name: string, value: string, options?: { contentType?: string; enabled?: boolean }): string;
  disable(name: string, version?: string): void;
  close(): Promise<void>;
}

const RESOURCE = 'https://vault.azure.net';
const API_VERSION = /^(?:7\.\d|\d{4}-\d{2}-\d{2}(?:-preview)?)$/;

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    'cache-control': 'no-cache',
    'x-ms-request-id': randomBytes(16).toString('hex'),
    ...headers,
  });
  res.end(payload);
}

const kvError = (code: string, message: string, inner?: string) => ({
  error: { code, message, ...(inner && { innererror: { code: inner } }) },
});

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const b64urlJson = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
function decodeJwtPart(part: string | undefined): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(part ?? '', 'base64url').toString('utf8'));
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export async function startFakeAzureKeyVault(): Promise<FakeAzureKeyVault> {
  const dir = mkdtempSync(join(tmpdir(), 'vstest-akv-'));
  const ca = createCa(dir, 'akv-ca');
  const leaf = issueCertificate(ca, dir, 'akv-server', 'server');
  // The app's certificate: Entra takes RSA only; self-signed is what most app registrations hold.
  const { execFileSync } = await import('node:child_process');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=vaultscan-app',
      '-keyout',
      join(dir, 'app.key'),
      '-out',
      join(dir, 'app.pem'),
    ],
    { stdio: 'ignore' },
  );
  const appCertificate = readFileSync(join(dir, 'app.pem'), 'utf8');
  const appDer = new X509Certificate(appCertificate).raw;
  const appThumbprint = createHash('sha1').update(appDer).digest('base64url');
  const appThumbprint256 = createHash('sha256').update(appDer).digest('base64url');
  const appPublicKey = createPublicKey(appCertificate);

  const tenantId = '72f988bf-86f1-41af-91ab-2d7cd011db47';
  const clientId = '0f8e3a51-4c1d-4b6e-9a0b-3f4c5d6e7f80';
  const clientSecret = `fake~${randomBytes(18).toString('base64url')}`;
  const tokenKey = randomBytes(32);
  const secrets = new Map<string, FakeSecretVersion[]>();
  const switches: AzureSwitches = {};
  const counts = { reads: 0, tokens: 0, secretRequests: 0 };
  let url = '';
  let authorityHost = '';

  const signToken = (claims: Record<string, unknown>) => {
    const input = `${b64urlJson({ typ: 'JWT', alg: 'HS256' })}.${b64urlJson(claims)}`;
    return `${input}.${createHmac('sha256', tokenKey).update(input).digest('base64url')}`;
  };
  /** Why Key Vault would refuse this bearer token, or undefined when it takes it. */
  const tokenProblem = (token: string): string | undefined => {
    const [h, p, s] = token.split('.');
    const expected = createHmac('sha256', tokenKey).update(`${h}.${p}`).digest();
    const given = Buffer.from(s ?? '', 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      return 'AKV10000: Request is missing a Bearer or PoP token.';
    const claims = decodeJwtPart(p) ?? {};
    if (claims.aud !== RESOURCE)
      return `AKV10022: Invalid audience. Expected ${RESOURCE}, found: ${String(claims.aud)}.`;
    if (typeof claims.exp !== 'number' || claims.exp * 1000 < Date.now()) return 'AKV10032: Token expired.';
    return undefined;
  };

  const challenge = () => ({
    'www-authenticate': `Bearer authorization="https://${authorityHost}/${tenantId}", resource="${RESOURCE}"`,
  });

  const entraError = (res: ServerResponse, status: number, error: string, code: number, text: string) =>
    json(res, status, {
      error,
      error_description: `AADSTS${code}: ${text}\r\nTrace ID: ${randomBytes(16).toString('hex')}\r\nCorrelation ID: ${randomBytes(16).toString('hex')}\r\nTimestamp: ${new Date().toISOString()}`,
      error_codes: [code],
      timestamp: new Date()
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z'),
      trace_id: randomBytes(16).toString('hex'),
      correlation_id: randomBytes(16).toString('hex'),
      error_uri: `https://${authorityHost}/error?code=${code}`,
    });

  function assertionProblem(assertion: string, audience: string): string | undefined {
    const [h, p, s] = assertion.split('.');
    const header = decodeJwtPart(h);
    const claims = decodeJwtPart(p);
    if (!header || !claims || !s) return 'Client assertion is not a JWT.';
    // Entra takes the SHA-256 thumbprint with PS256 (current) or the SHA-1 one with RS256 (legacy).
    if (header['x5t#S256'] !== appThumbprint256 && header.x5t !== appThumbprint)
      return `The certificate with identifier used to sign the client assertion is not registered on application.`;
    const algs: Record<string, Parameters<typeof verify>[2]> = {
      RS256: appPublicKey,
      PS256: {
        key: appPublicKey,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
      },
    };
    const key = algs[String(header.alg)];
    if (!key) return `Client assertion alg ${String(header.alg)} is not supported.`;
    if (!verify('sha256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url')))
      return 'Client assertion contains an invalid signature.';
    if (claims.aud !== audience) return `The audience claim value is invalid '${String(claims.aud)}'.`;
    if (claims.iss !== clientId || claims.sub !== clientId) return 'The issuer and subject must be the client id.';
    if (typeof claims.exp !== 'number' || claims.exp * 1000 < Date.now())
      return 'The provided client assertion is expired.';
    return undefined;
  }

  async function token(req: IncomingMessage, res: ServerResponse, tenant: string): Promise<void> {
    counts.tokens++;
    // Counted on arrival, answered after the delay: a timed-out request still counts as made.
    if (switches.delayMs) await new Promise((r) => setTimeout(r, switches.delayMs));
    const form = new URLSearchParams(await readBody(req));
    if (switches.throttleToken && switches.throttleToken.times > 0) {
      switches.throttleToken.times--;
      return json(
        res,
        429,
        {
          error: 'temporarily_unavailable',
          error_description:
            'AADSTS50196: The server terminated an operation because it encountered a client request loop.',
          error_codes: [50196],
        },
        { 'retry-after': String(switches.throttleToken.retryAfterSeconds) },
      );
    }
    if (switches.tokenUnavailable)
      return entraError(
        res,
        503,
        'temporarily_unavailable',
        90033,
        'A transient error has occurred. Please try again.',
      );
    if (switches.tokenHtml) {
      res.writeHead(200, { 'content-type': 'text/html' });
      return void res.end('<html><body>Sign in to your network</body></html>');
    }
    if (tenant !== tenantId)
      return entraError(
        res,
        400,
        'invalid_tenant',
        90002,
        `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
      );
    if (form.get('grant_type') !== 'client_credentials')
      return entraError(res, 400, 'unsupported_grant_type', 70003, 'The app requested an unsupported grant type.');
    if (form.get('client_id') !== clientId)
      return entraError(
        res,
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${form.get('client_id') ?? ''}' was not found in the directory '${tenant}'.`,
      );
    const scope = form.get('scope') ?? '';
    if (!scope.split(' ').includes(`${RESOURCE}/.default`))
      return entraError(
        res,
        400,
        'invalid_scope',
        1002012,
        `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.`,
      );
    const assertion = form.get('client_assertion');
    if (assertion !== null) {
      if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
        return entraError(res, 400, 'invalid_request', 50027, 'Invalid client_assertion_type.');
      const problem = assertionProblem(assertion, `https://${authorityHost}/${tenantId}/oauth2/v2.0/token`);
      if (problem) return entraError(res, 401, 'invalid_client', 700027, problem);
    } else {
      const given = form.get('client_secret');
      if (given === null)
        return entraError(
          res,
          401,
          'invalid_client',
          7000218,
          "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        );
      if (given !== clientSecret)
        return entraError(
          res,
          401,
          'invalid_client',
          7000215,
          "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '" +
            clientId +
            "'.",
        );
    }
    const now = Math.floor(Date.now() / 1000);
    const exp = switches.expiredTokens ? now - 60 : now + 3599;
    json(res, 200, {
      token_type: 'Bearer',
      expires_in: 3599,
      ext_expires_in: 3599,
      access_token: signToken({
        aud: RESOURCE,
        iss: `https://sts.windows.net/${tenantId}/`,
        tid: tenantId,
        appid: clientId,
        iat: now,
        nbf: now,
        exp,
      }),
    });
  }

  async function secret(
    req: IncomingMessage,
    res: ServerResponse,
    name: string,
    version: string,
    query: URLSearchParams,
  ): Promise<void> {
    counts.secretRequests++;
    // Counted on arrival, answered after the delay: a timed-out request still counts as made.
    if (switches.delayMs) await new Promise((r) => setTimeout(r, switches.delayMs));
    const apiVersion = query.get('api-version');
    if (!apiVersion)
      return json(
        res,
        400,
        kvError('BadParameter', 'The request URI contains an invalid or missing api-version query parameter.'),
      );
    if (!API_VERSION.test(apiVersion))
      return json(
        res,
        400,
        kvError(
          'BadParameter',
          `The specified version (${apiVersion}) is not recognized. Consider using the latest supported version (7.4).`,
        ),
      );
    const auth = req.headers.authorization ?? '';
    if (!auth)
      return json(
        res,
        401,
        kvError('Unauthorized', 'AKV10000: Request is missing a Bearer or PoP token.'),
        challenge(),
      );
    const problem = /^Bearer /i.test(auth)
      ? tokenProblem(auth.slice(7))
      : 'AKV10000: Request is missing a Bearer or PoP token.';
    if (problem) return json(res, 401, kvError('Unauthorized', problem), challenge());
    if (switches.unavailable)
      return json(res, 503, kvError('ServiceUnavailable', 'The service is currently unavailable. Please retry.'));
    if (switches.throttle && switches.throttle.times > 0) {
      switches.throttle.times--;
      return json(res, 429, kvError('Throttled', 'Operations per second rate limit reached. Try again later.'), {
        'retry-after': String(switches.throttle.retryAfterSeconds),
      });
    }
    if (switches.forbidden === 'ForbiddenByFirewall')
      return json(
        res,
        403,
        kvError(
          'Forbidden',
          `Client address is not authorized and caller is not a trusted service.\r\nClient address: 127.0.0.1\r\nCaller: appid=${clientId}\r\nVault: fake;location=westeurope`,
          'ForbiddenByFirewall',
        ),
      );
    if (switches.forbidden === 'ForbiddenByPolicy')
      return json(
        res,
        403,
        kvError(
          'Forbidden',
          `The user, group or application 'appid=${clientId};iss=https://sts.windows.net/${tenantId}/' does not have secrets get permission on key vault 'fake;location=westeurope'.`,
          'ForbiddenByPolicy',
        ),
      );
    if (switches.forbidden === 'ForbiddenByRbac' || (switches.forbiddenTimes ?? 0) > 0) {
      if (switches.forbiddenTimes) switches.forbiddenTimes--;
      return json(
        res,
        403,
        kvError(
          'Forbidden',
          `Caller is not authorized to perform action on resource.\r\nCaller: appid=${clientId}\r\nAction: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'\r\nResource: '/secrets/${name}'\r\nAssignment: (not found)`,
          'ForbiddenByRbac',
        ),
      );
    }
    if (switches.badParameter) return json(res, 400, kvError('BadParameter', 'The request is invalid.'));
    const versions = secrets.get(name.toLowerCase());
    const found = version ? versions?.find((v) => v.version === version.toLowerCase()) : versions?.at(-1);
    if (!found)
      return json(
        res,
        404,
        kvError(
          'SecretNotFound',
          `A secret with (name/id) ${name}${version ? `/${version}` : ''} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
        ),
      );
    if (!found.enabled)
      return json(
        res,
        403,
        kvError('Forbidden', 'Operation get is not allowed on a disabled secret.', 'SecretDisabled'),
      );
    if (switches.html) {
      res.writeHead(200, { 'content-type': 'text/html' });
      return void res.end('<!DOCTYPE html><html><body><h1>Service maintenance</h1></body></html>');
    }
    counts.reads++;
    const bundle = {
      ...(!switches.noValue && { value: found.value }),
      ...(found.contentType && { contentType: found.contentType }),
      id: `${url}/secrets/${name}/${found.version}`,
      attributes: {
        enabled: true,
        created: found.created,
        updated: found.created,
        recoveryLevel: 'Recoverable+Purgeable',
        recoverableDays: 90,
      },
      tags: {},
    };
    json(res, 200, bundle, { 'x-ms-keyvault-region': 'westeurope', 'x-ms-keyvault-service-version': '1.9.1000.1' });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', 'https://fake');
    let m = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(u.pathname);
    if (req.method === 'GET' && m) {
      const base = `https://${authorityHost}/${m[1]}`;
      return json(res, 200, {
        token_endpoint: `${base}/oauth2/v2.0/token`,
        token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
        jwks_uri: `https://${authorityHost}/${m[1]}/discovery/v2.0/keys`,
        response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
        subject_types_supported: ['pairwise'],
        id_token_signing_alg_values_supported: ['RS256'],
        issuer: `https://${authorityHost}/${m[1]}/v2.0`,
        authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
        end_session_endpoint: `${base}/oauth2/v2.0/logout`,
        tenant_region_scope: 'EU',
      });
    }
    m = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(u.pathname);
    if (req.method === 'POST' && m) return token(req, res, decodeURIComponent(m[1]!));
    m = /^\/secrets\/([^/]+)(?:\/([^/]*))?\/?$/.exec(u.pathname);
    if (req.method === 'GET' && m)
      return secret(req, res, decodeURIComponent(m[1]!), decodeURIComponent(m[2] ?? ''), u.searchParams);
    json(res, 404, kvError('NotFound', `The requested resource ${u.pathname} was not found.`));
  }

  const server: Server = createServer(
    { cert: readFileSync(leaf.cert), key: readFileSync(leaf.key) },
    (req, res) => void handle(req, res).catch(() => json(res, 500, kvError('InternalServerError', 'fake failed'))),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  url = `https://127.0.0.1:${port}`;
  authorityHost = `127.0.0.1:${port}`;

  return {
    url,
    authorityHost,
    tenantId,
    clientId,
    clientSecret,
    caCert: readFileSync(ca.cert, 'utf8'),
    caFile: ca.cert,
    appCertificate,
    appKey: readFileSync(join(dir, 'app.key'), 'utf8'),
    switches,
    counts,
    setSecret(name, value, options = {}) {
      const version = randomBytes(16).toString('hex');
      const list = secrets.get(name.toLowerCase()) ?? [];
      list.push({
        version,
        value,
        contentType: options.contentType,
        enabled: options.enabled ?? true,
        created: Math.floor(Date.now() / 1000),
      });
      secrets.set(name.toLowerCase(), list);
      return version;
    },
    disable(name, version) {
      const list = secrets.get(name.toLowerCase()) ?? [];
      const v = version ? list.find((x) => x.version === version) : list.at(-1);
      if (v) v.enabled = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        });
      }),
  };
}
