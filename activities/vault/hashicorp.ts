// HashiCorp Vault and OpenBao: token, AppRole, userpass or TLS-certificate login; KV v2 or v1;
// optional namespace. Failures keep Vault's own error text (vendor code) and HTTP status
// beside our code. A token we minted by logging in is revoked as soon as the read is done.
import type { ErrorCode } from '../../domain/errors.js';
import { ScanError } from '../../domain/scan-error.js';
import { SECRET_FIELD_NAMES } from '../../domain/secret-fields.js';
import { DEFAULT_VAULT_TIMEOUT_MS } from '../../vault-types/spec.js';
import type {
  CredentialFields,
  FetchedCredential,
  VaultAccessRequest,
  VaultAdapter,
  VaultFetchRequest,
} from './adapter.js';
import { vaultHttp, withThrottleRetries, type VaultHttpResponse, type VaultTls } from './http.js';

interface HashicorpConfig {
  url: string;
  authMethod: 'token' | 'approle' | 'userpass' | 'cert';
  namespace?: string;
  approleMount?: string;
  roleId?: string;
  userpassMount?: string;
  username?: string;
  certMount?: string;
  certRole?: string;
  caCert?: string;
  clientCert?: string;
  timeoutMs?: number;
}

interface HashicorpLocator {
  mount?: string;
  path: string;
  kvVersion?: 1 | 2;
  version?: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function vendorError(res: VaultHttpResponse): string {
  const errors = isObject(res.json) && Array.isArray(res.json.errors) ? res.json.errors : [];
  if (errors.length === 0) return `HTTP ${res.status}`;
  // Vault wraps some errors as "1 error occurred:\n\t* permission denied\n\n": keep the message.
  return String(errors[0])
    .replace(/^\d+ errors? occurred:\s*/, '')
    .replace(/^\s*\*\s*/gm, '')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Status → catalogue code, for calls other than login (which has its own rule). */
function codeForStatus(status: number): ErrorCode {
  if (status === 404) return 'VAULT_SECRET_NOT_FOUND';
  if (status === 429) return 'VAULT_RATE_LIMITED';
  if (status >= 500 || status === 412) return 'VAULT_UNAVAILABLE';
  return 'VAULT_BAD_RESPONSE';
}

const failure = (code: ErrorCode, what: string, res: VaultHttpResponse) =>
  new ScanError(code, `${what}: ${vendorError(res)}`, vendorError(res), res.status, res.retryAfterMs);

class HashicorpClient {
  private readonly base: string;
  private readonly tls: VaultTls;
  private readonly deadline: number;
  constructor(
    private readonly config: HashicorpConfig,
    access: Record<string, unknown>,
    private readonly signal?: AbortSignal,
  ) {
    this.base = config.url.replace(/\/+$/, '');
    this.tls = {
      caCert: config.caCert,
      clientCert: config.clientCert,
      clientKey: access.clientKey as string | undefined,
      clientKeyPassphrase: access.clientKeyPassphrase as string | undefined,
    };
    this.deadline = Date.now() + (config.timeoutMs ?? DEFAULT_VAULT_TIMEOUT_MS);
  }

  /** One call; a 429 is waited out (Retry-After) while the call's time allows. */
  call(method: 'GET' | 'POST', path: string, token?: string, body?: unknown) {
    const headers: Record<string, string> = { 'X-Vault-Request': 'true' };
    if (token) headers['X-Vault-Token'] = token;
    if (this.config.namespace) headers['X-Vault-Namespace'] = this.config.namespace;
    const once = async () => {
      const res = await vaultHttp({
        method,
        url: `${this.base}/v1/${path}`,
        headers,
        body,
        tls: this.tls,
        timeoutMs: Math.max(1, this.deadline - Date.now()),
        signal: this.signal,
      });
      if (res.status === 429) throw failure('VAULT_RATE_LIMITED', `the vault throttled ${method} ${path}`, res);
      return res;
    };
    return withThrottleRetries(once, { deadline: this.deadline, signal: this.signal });
  }

  /** Logs in with the record's method; a token method needs no login. */
  async login(access: Record<string, unknown>): Promise<{ token: string; minted: boolean }> {
    const c = this.config;
    switch (c.authMethod) {
      case 'token':
        return { token: String(access.token ?? ''), minted: false };
      case 'approle':
        return this.loginAt('AppRole', `auth/${c.approleMount ?? 'approle'}/login`, {
          role_id: c.roleId,
          secret_id: access.secretId,
        });
      case 'userpass':
        return this.loginAt(
          'userpass',
          `auth/${c.userpassMount ?? 'userpass'}/login/${encodeURIComponent(c.username ?? '')}`,
          {
            password: access.password,
          },
        );
      case 'cert':
        return this.loginAt(
          'TLS-certificate',
          `auth/${c.certMount ?? 'cert'}/login`,
          c.certRole ? { name: c.certRole } : {},
        );
    }
  }

  private async loginAt(method: string, path: string, body: unknown): Promise<{ token: string; minted: boolean }> {
    const res = await this.call('POST', path, undefined, body);
    if (res.status === 400 || res.status === 401 || res.status === 403)
      throw failure('VAULT_AUTH_FAILED', `${method} login refused`, res);
    if (res.status !== 200) throw failure(codeForStatus(res.status), `${method} login failed`, res);
    const token = isObject(res.json) && isObject(res.json.auth) ? res.json.auth.client_token : undefined;
    if (typeof token !== 'string' || !token)
      throw new ScanError(
        'VAULT_BAD_RESPONSE',
        `${method} login answered without auth.client_token`,
        undefined,
        res.status,
      );
    return { token, minted: true };
  }

  /** A token we minted is revoked at once rather than left to its TTL. */
  async logout(session: { token: string; minted: boolean }): Promise<void> {
    if (session.minted) await this.call('POST', 'auth/token/revoke-self', session.token).catch(() => undefined);
  }

  /** A 403 on a read means either a bad token or a missing policy: lookup-self tells which. */
  async classifyForbidden(token: string, res: VaultHttpResponse, what: string): Promise<ScanError> {
    const probe = await this.call('GET', 'auth/token/lookup-self', token);
    if (probe.status === 200) return failure('VAULT_PERMISSION_DENIED', `the vault token may not read ${what}`, res);
    if (probe.status === 403) return failure('VAULT_AUTH_FAILED', "the vault rejected the scanner's token", res);
    // The probe itself failed (sealed, overloaded…): say that, not a verdict on the token.
    return failure(codeForStatus(probe.status), 'checking the vault token after a 403 failed', probe);
  }
}

function readFields(data: Record<string, unknown>, fields: CredentialFields, what: string): FetchedCredential {
  const out: FetchedCredential = {};
  for (const kind of SECRET_FIELD_NAMES) {
    const name = fields[kind];
    if (!name) continue;
    if (!(name in data)) throw new ScanError('VAULT_SECRET_NOT_FOUND', `${what} has no field "${name}"`);
    const value = data[name];
    if (typeof value !== 'string') throw new ScanError('VAULT_BAD_RESPONSE', `${what} field "${name}" is not a string`);
    out[kind] = Buffer.from(value, 'utf8');
  }
  return out;
}

export const hashicorpVault: VaultAdapter = {
  type: 'hashicorp',

  async checkAccess(request: VaultAccessRequest): Promise<void> {
    const config = request.config as unknown as HashicorpConfig;
    const client = new HashicorpClient(config, request.access, request.signal);
    const session = await client.login(request.access);
    try {
      const res = await client.call('GET', 'auth/token/lookup-self', session.token);
      if (res.status === 403) throw failure('VAULT_AUTH_FAILED', "the vault rejected the scanner's token", res);
      if (res.status !== 200) throw failure(codeForStatus(res.status), 'looking up the token failed', res);
    } finally {
      await client.logout(session);
    }
  },

  async fetch(request: VaultFetchRequest) {
    if (!SECRET_FIELD_NAMES.some((f) => request.fields[f])) {
      throw new ScanError('CONFIG_INVALID', 'the authentication record names no vault field to read');
    }
    const config = request.config as unknown as HashicorpConfig;
    const locator = request.locator as unknown as HashicorpLocator;
    const client = new HashicorpClient(config, request.access, request.signal);
    const session = await client.login(request.access);
    try {
      const mount = (locator.mount ?? 'secret').replace(/^\/+|\/+$/g, '');
      const path = locator.path.replace(/^\/+/, '');
      const v2 = (locator.kvVersion ?? 2) === 2;
      const apiPath = v2
        ? `${mount}/data/${path}${locator.version ? `?version=${locator.version}` : ''}`
        : `${mount}/${path}`;
      const what = `secret ${mount}/${path}`;
      const res = await client.call('GET', apiPath, session.token);
      if (res.status === 403) throw await client.classifyForbidden(session.token, res, what);
      if (res.status !== 200) throw failure(codeForStatus(res.status), `reading ${what} failed`, res);
      if (!isObject(res.json))
        throw new ScanError(
          'VAULT_BAD_RESPONSE',
          `reading ${what} returned a body that is not JSON`,
          undefined,
          res.status,
        );
      const envelope = res.json.data;
      const data = v2 ? (isObject(envelope) ? envelope.data : undefined) : envelope;
      if (!isObject(data))
        throw new ScanError(
          'VAULT_BAD_RESPONSE',
          `reading ${what} returned no ${v2 ? 'data.data' : 'data'} (is the KV version right?)`,
          undefined,
          res.status,
        );
      return { credential: readFields(data, request.fields, what) };
    } finally {
      await client.logout(session);
    }
  },
};
