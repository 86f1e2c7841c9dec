// AWS Secrets Manager: GetSecretValue through the AWS SDK, which signs (SigV4) and finds
// credentials (the record's access key, or the appliance's own chain: environment, profile,
// instance metadata, web identity), optionally assuming an IAM role through STS first. The SDK
// does not retry and does not log: a throttled call is waited out (Retry-After) by
// withThrottleRetries within the record's timeout, and every failure becomes a ScanError with
// the exception name (__type) as vendor code. Nothing to release: Secrets Manager does not lend.
import { Agent as HttpsAgent } from 'node:https';
import { Agent as HttpAgent } from 'node:http';
import { Readable } from 'node:stream';
import {
  GetSecretValueCommand,
  ListSecretsCommand,
  SecretsManagerClient,
  type GetSecretValueCommandOutput,
} from '@aws-sdk/client-secrets-manager';
import { fromNodeProviderChain, fromTemporaryCredentials } from '@aws-sdk/credential-providers';
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
import { classifyTransport, parseRetryAfter, withThrottleRetries } from './http.js';

interface AwsConfig {
  region: string;
  endpoint?: string;
  stsEndpoint?: string;
  caCert?: string;
  credentialSource: 'static' | 'default-chain';
  roleArn?: string;
  timeoutMs?: number;
  maxConcurrentRequests?: number;
}

interface AwsLocator {
  secretId: string;
  versionStage?: string;
  versionId?: string;
}

/** Exception names (__type, namespace stripped) → catalogue code. STS's and IAM's XML codes too. */
const CODES: Record<string, ErrorCode> = {
  UnrecognizedClientException: 'VAULT_AUTH_FAILED',
  InvalidClientTokenId: 'VAULT_AUTH_FAILED',
  IncompleteSignature: 'VAULT_AUTH_FAILED',
  RequestExpired: 'VAULT_AUTH_FAILED',
  ExpiredTokenException: 'VAULT_AUTH_FAILED',
  ExpiredToken: 'VAULT_AUTH_FAILED',
  InvalidSignatureException: 'VAULT_AUTH_FAILED',
  SignatureDoesNotMatch: 'VAULT_AUTH_FAILED',
  MissingAuthenticationToken: 'VAULT_AUTH_FAILED',
  MissingAuthenticationTokenException: 'VAULT_AUTH_FAILED',
  OptInRequired: 'VAULT_AUTH_FAILED',
  InvalidAccessKeyId: 'VAULT_AUTH_FAILED',
  AccessDeniedException: 'VAULT_PERMISSION_DENIED',
  AccessDenied: 'VAULT_PERMISSION_DENIED',
  DecryptionFailure: 'VAULT_PERMISSION_DENIED',
  NotAuthorized: 'VAULT_PERMISSION_DENIED',
  ResourceNotFoundException: 'VAULT_SECRET_NOT_FOUND',
  InvalidRequestException: 'VAULT_SECRET_NOT_FOUND',
  ThrottlingException: 'VAULT_RATE_LIMITED',
  Throttling: 'VAULT_RATE_LIMITED',
  TooManyRequestsException: 'VAULT_RATE_LIMITED',
  RequestLimitExceeded: 'VAULT_RATE_LIMITED',
  InternalServiceError: 'VAULT_UNAVAILABLE',
  InternalFailure: 'VAULT_UNAVAILABLE',
  InternalServiceFailure: 'VAULT_UNAVAILABLE',
  ServiceUnavailable: 'VAULT_UNAVAILABLE',
  ServiceUnavailableException: 'VAULT_UNAVAILABLE',
  InvalidParameterException: 'VAULT_BAD_RESPONSE',
  InvalidAction: 'VAULT_BAD_RESPONSE',
  ValidationError: 'VAULT_BAD_RESPONSE',
  ValidationException: 'VAULT_BAD_RESPONSE',
};

/** The SDK logs nothing (its default logger is silent too; this says so). */
const QUIET = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** Error names that are the SDK's or JavaScript's, not the service's. */
const GENERIC_NAMES = new Set(['Error', 'SyntaxError', 'TypeError', 'RangeError', 'Unknown', 'UnknownError']);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The last answer's status and type, and the start of an error body: what the SDK could not parse (XML, HTML). */
interface RawAnswer {
  status: number;
  contentType: string;
  /** Error answers only (status ≥ 300): a success body carries the secret and is never kept. */
  errorText?: string;
}

/**
 * Notes each answer's status and content type, and reads the start of an error body before the
 * SDK's JSON parser fails on it (moto's and IAM's XML, a proxy's HTML), handing the SDK the same bytes.
 */
function noteAnswers(client: SecretsManagerClient, sink: { last?: RawAnswer }) {
  client.middlewareStack.add(
    (next) => async (args) => {
      const out = await next(args);
      const response = out.response as { statusCode?: number; headers?: Record<string, string>; body?: unknown };
      const status = response.statusCode ?? 0;
      const contentType = String(response.headers?.['content-type'] ?? '');
      sink.last = { status, contentType };
      if (status >= 300 && !/json/i.test(contentType) && response.body instanceof Readable) {
        // Bounded: past 64 KiB the rest is dropped; the SDK then fails on the cut body either way.
        const chunks: Buffer[] = [];
        let size = 0;
        for await (const chunk of response.body as AsyncIterable<Buffer>) {
          chunks.push(chunk);
          size += chunk.length;
          if (size > 64 * 1024) break;
        }
        const body = Buffer.concat(chunks);
        sink.last.errorText = body.subarray(0, 4096).toString('utf8');
        response.body = Readable.from([body]);
      }
      return out;
    },
    { step: 'deserialize', priority: 'low', name: 'vaultscanNoteAnswers' },
  );
}

/** Marks a failure of getting credentials (assuming the role), so it is reported as such. */
class CredentialsFailure extends Error {
  constructor(
    readonly what: string,
    readonly failure: unknown,
  ) {
    super(what);
  }
}

function assumingRole(roleArn: string, options: Parameters<typeof fromTemporaryCredentials>[0]) {
  const provider = fromTemporaryCredentials(options);
  return async () => {
    try {
      return await provider();
    } catch (err) {
      throw new CredentialsFailure(`assuming role ${roleArn}`, err);
    }
  };
}

class AwsClient {
  readonly deadline: number;
  private readonly signal: AbortSignal;
  private readonly client: SecretsManagerClient;
  private readonly sink: { last?: RawAnswer } = {};
  private readonly where: URL;
  private readonly stsWhere: URL;
  /** Whether the last failure came from getting credentials (AssumeRole), not from Secrets Manager. */
  credentialsFailed = false;

  constructor(
    private readonly config: AwsConfig,
    access: Record<string, unknown>,
    private readonly callerSignal?: AbortSignal,
  ) {
    const timeoutMs = config.timeoutMs ?? DEFAULT_VAULT_TIMEOUT_MS;
    this.deadline = Date.now() + timeoutMs;
    const deadlineSignal = AbortSignal.timeout(timeoutMs);
    this.signal = callerSignal ? AbortSignal.any([callerSignal, deadlineSignal]) : deadlineSignal;
    this.where = new URL(config.endpoint ?? `https://secretsmanager.${config.region}.amazonaws.com`);
    this.stsWhere = new URL(config.stsEndpoint ?? `https://sts.${config.region}.amazonaws.com`);
    const requestHandler = {
      connectionTimeout: timeoutMs,
      requestTimeout: timeoutMs,
      httpsAgent: new HttpsAgent({ keepAlive: false, ...(config.caCert && { ca: config.caCert }) }),
      httpAgent: new HttpAgent({ keepAlive: false }),
    };
    const own =
      config.credentialSource === 'static'
        ? {
            accessKeyId: String(access.accessKeyId ?? ''),
            secretAccessKey: String(access.secretAccessKey ?? ''),
            ...(typeof access.sessionToken === 'string' && { sessionToken: access.sessionToken }),
          }
        : fromNodeProviderChain({ logger: QUIET });
    const credentials = config.roleArn
      ? assumingRole(config.roleArn, {
          params: { RoleArn: config.roleArn, RoleSessionName: 'vaultscan', DurationSeconds: 900 },
          masterCredentials: own,
          logger: QUIET,
          clientConfig: {
            region: config.region,
            ...(config.stsEndpoint && { endpoint: config.stsEndpoint }),
            maxAttempts: 1,
            logger: QUIET,
            requestHandler,
          },
        })
      : own;
    this.client = new SecretsManagerClient({
      region: config.region,
      ...(config.endpoint && { endpoint: config.endpoint }),
      credentials,
      // One attempt: throttling is waited out below within our deadline; anything else the workflow retries.
      maxAttempts: 1,
      logger: QUIET,
      requestHandler,
    });
    noteAnswers(this.client, this.sink);
  }

  /** One SDK call, in the vault's lane, throttling waited out while the deadline allows. */
  send<T>(what: string, call: (client: SecretsManagerClient, abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    const once = async () => {
      this.sink.last = undefined;
      try {
        return await call(this.client, this.signal);
      } catch (err) {
        if (err instanceof CredentialsFailure) this.credentialsFailed = true;
        throw this.classify(err, what);
      }
    };
    return withThrottleRetries(once, { deadline: this.deadline, signal: this.signal });
  }

  destroy() {
    this.client.destroy();
  }

  /** Any failure of a call → a ScanError with the exception name; a caller's cancel stays a plain error. */
  classify(err: unknown, what: string, where = this.where): Error {
    if (err instanceof ScanError) return err;
    if (err instanceof CredentialsFailure) return this.classify(err.failure, err.what, this.stsWhere);
    const e = (isObject(err) ? err : {}) as {
      name?: string;
      message?: string;
      code?: string;
      $metadata?: { httpStatusCode?: number };
      $response?: { headers?: Record<string, string> };
    };
    const status = e.$metadata?.httpStatusCode;
    if (this.signal.aborted) {
      const reason = this.signal.reason as Error | undefined;
      if (reason?.name !== 'TimeoutError' && this.callerSignal?.aborted)
        return new Error('the vault request was cancelled');
      return new ScanError('VAULT_TIMEOUT', `the vault at ${where.origin} did not answer in time`);
    }
    if (e.name === 'TimeoutError' || e.code === 'ETIMEDOUT')
      return new ScanError('VAULT_TIMEOUT', `the vault at ${where.origin} did not answer in time`);
    // Not a login the vault refused: nothing was sent. The record or the appliance needs setting up.
    if (e.name === 'CredentialsProviderError')
      return new ScanError(
        'CONFIG_INVALID',
        'credentialSource default-chain: the appliance has no AWS credentials of its own (environment, profile, instance metadata, web identity); give it some, or use credentialSource static',
        'CredentialsProviderError',
      );
    if (status === undefined) {
      if (typeof e.code === 'string' || err instanceof Error)
        return classifyTransport(
          (err instanceof Error ? err : new Error(String(err))) as NodeJS.ErrnoException,
          where,
          false,
        );
      return new ScanError('VAULT_BAD_RESPONSE', `${what} failed unexpectedly`);
    }
    const retryAfterMs = parseRetryAfter(e.$response?.headers?.['retry-after']);
    const raw = this.sink.last;
    const parsed = e.name !== undefined && !GENERIC_NAMES.has(e.name) ? e.name : undefined;
    const xmlCode = raw?.errorText && /<Code>([A-Za-z.]+)<\/Code>/.exec(raw.errorText)?.[1];
    const name = (parsed ?? xmlCode)?.replace(/^.*#/, '');
    const known = name ? CODES[name] : undefined;
    if (name && known) {
      const message = (e.message && !/Deserialization error/.test(e.message) ? e.message : undefined) ?? name;
      return new ScanError(known, this.describe(known, name, message, what), name, status, retryAfterMs);
    }
    if (status >= 500)
      return new ScanError(
        'VAULT_UNAVAILABLE',
        `${what}: the vault answered HTTP ${status}`,
        name,
        status,
        retryAfterMs,
      );
    if (status === 429)
      return new ScanError('VAULT_RATE_LIMITED', `${what}: the vault throttled the call`, name, status, retryAfterMs);
    if (raw && !/json/i.test(raw.contentType))
      return new ScanError(
        'VAULT_BAD_RESPONSE',
        `${what}: the vault answered HTTP ${status} with ${/html/i.test(raw.contentType) || /<html/i.test(raw.errorText ?? '') ? 'an HTML page' : `a ${raw.contentType || 'body'} that is not JSON`} (is the endpoint the Secrets Manager API?)`,
        name,
        status,
      );
    return new ScanError(
      'VAULT_BAD_RESPONSE',
      `${what}: the vault answered HTTP ${status} with ${name ? `an error the scanner does not know (${name})` : 'a body it could not read'}`,
      name,
      status,
    );
  }

  private describe(code: ErrorCode, name: string, message: string, what: string): string {
    // Messages name ARNs and actions, never values; keep them short anyway.
    const text = message.replace(/\s+/g, ' ').slice(0, 500);
    if (code === 'VAULT_PERMISSION_DENIED' && (name === 'DecryptionFailure' || /KMS/.test(message)))
      return `${what}: ${text} (the scanner's identity also needs kms:Decrypt on the secret's KMS key)`;
    if (name === 'RequestExpired' || /signature expired|clock/i.test(message))
      return `${what}: ${text} (check the appliance's clock)`;
    return `${what}: ${text}`;
  }
}

function readFields(out: GetSecretValueCommandOutput, fields: CredentialFields, what: string): FetchedCredential {
  const wanted = SECRET_FIELD_NAMES.filter((kind) => fields[kind]);
  const credential: FetchedCredential = {};
  if (typeof out.SecretString === 'string') {
    let doc: unknown;
    try {
      doc = JSON.parse(out.SecretString);
    } catch {
      doc = undefined;
    }
    if (isObject(doc)) {
      for (const kind of wanted) {
        const name = fields[kind] ?? '';
        if (!Object.prototype.hasOwnProperty.call(doc, name))
          throw new ScanError('VAULT_SECRET_NOT_FOUND', `${what} has no key "${name}" in its JSON`);
        const value = doc[name];
        if (typeof value !== 'string')
          throw new ScanError('VAULT_BAD_RESPONSE', `${what} key "${name}" is not a string`);
        credential[kind] = Buffer.from(value, 'utf8');
      }
      return credential;
    }
    // A plain string is one secret: it can only be the password.
    if (wanted.length === 1 && wanted[0] === 'password') return { password: Buffer.from(out.SecretString, 'utf8') };
    throw new ScanError(
      'VAULT_BAD_RESPONSE',
      `${what} is not a JSON object, so it has no fields ${wanted.map((k) => `"${fields[k]}"`).join(', ')} (a plain-text secret serves a password alone)`,
    );
  }
  if (out.SecretBinary instanceof Uint8Array) {
    // Binary secrets hold a key file (PEM or OpenSSH): it serves a private key alone.
    if (wanted.length === 1 && wanted[0] === 'privateKey')
      return {
        privateKey: Buffer.from(out.SecretBinary.buffer, out.SecretBinary.byteOffset, out.SecretBinary.byteLength),
      };
    throw new ScanError(
      'VAULT_BAD_RESPONSE',
      `${what} is a binary secret: it serves a private key alone, not ${wanted.map((k) => `"${fields[k]}"`).join(', ')}`,
    );
  }
  throw new ScanError(
    'VAULT_BAD_RESPONSE',
    `${what}: the answer has neither SecretString nor SecretBinary`,
    undefined,
    200,
  );
}

export const awsSecretsManagerVault: VaultAdapter = {
  type: 'aws-secrets-manager',

  /**
   * Signs one cheap call (ListSecrets, one result) without reading a secret. Secrets Manager
   * checks the signature and the key before the policy, so AccessDeniedException also proves
   * the credentials (and the role) good: the scanner need not be allowed to list.
   */
  async checkAccess(request: VaultAccessRequest): Promise<void> {
    const client = new AwsClient(request.config as unknown as AwsConfig, request.access, request.signal);
    try {
      await client.send('checking access to Secrets Manager', (c, abortSignal) =>
        c.send(new ListSecretsCommand({ MaxResults: 1 }), { abortSignal }),
      );
    } catch (err) {
      const deniedByPolicy =
        err instanceof ScanError &&
        err.code === 'VAULT_PERMISSION_DENIED' &&
        !client.credentialsFailed &&
        (err.vendorCode === 'AccessDeniedException' || err.vendorCode === 'AccessDenied');
      if (!deniedByPolicy) throw err;
    } finally {
      client.destroy();
    }
  },

  async fetch(request: VaultFetchRequest) {
    if (!SECRET_FIELD_NAMES.some((f) => request.fields[f])) {
      throw new ScanError('CONFIG_INVALID', 'the authentication record names no vault field to read');
    }
    const locator = request.locator as unknown as AwsLocator;
    const what = `secret ${locator.secretId}${locator.versionId ? ` version ${locator.versionId}` : locator.versionStage ? ` (${locator.versionStage})` : ''}`;
    const client = new AwsClient(request.config as unknown as AwsConfig, request.access, request.signal);
    try {
      const out = await client.send(`reading ${what}`, (c, abortSignal) =>
        c.send(
          new GetSecretValueCommand({
            SecretId: locator.secretId,
            ...(locator.versionId && { VersionId: locator.versionId }),
            ...(locator.versionStage && { VersionStage: locator.versionStage }),
          }),
          { abortSignal },
        ),
      );
      return { credential: readFields(out, request.fields, what) };
    } finally {
      client.destroy();
    }
  },
};
