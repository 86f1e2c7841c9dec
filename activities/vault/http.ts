// The HTTP call every vault adapter makes: JSON or form bodies, a timeout, a private CA and a
// client certificate, a session's cookies, Retry-After read; transport failures classified the
// same way for every vault. Nothing here logs: a request carries access secrets, a response
// target secrets.
import { createPrivateKey } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { CookieJar } from 'tough-cookie';
import { ScanError } from '../../domain/scan-error.js';

/** TLS settings for the vault: a CA to trust, a client certificate to present. */
export interface VaultTls {
  caCert?: string;
  clientCert?: string;
  clientKey?: string;
  clientKeyPassphrase?: string;
}

export interface VaultHttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  /** A JSON body. */
  body?: unknown;
  /** A form body (application/x-www-form-urlencoded), instead of JSON. */
  form?: Record<string, string>;
  /** A plain-text body (text/plain), instead of JSON: e.g. Conjur's API key on authenticate. */
  text?: string;
  tls?: VaultTls;
  /** Cookies of the session this call belongs to: sent, and updated from the answer. */
  cookies?: CookieJar;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface VaultHttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON; undefined when it is not JSON. */
  json: unknown;
  /** What the vault asked us to wait before trying again (Retry-After), in milliseconds. */
  retryAfterMs?: number;
}

/** Past this a vault's answer is not an answer to anything we ask: a secret item is a few KiB. */
export const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_NOT_YET_VALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'EPROTO',
  'CERT_SIGNATURE_FAILURE',
]);
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);

/** A failure before any HTTP answer (refused, reset, TLS, timeout) → its catalogue code. */
export function classifyTransport(err: NodeJS.ErrnoException, url: URL, timedOut: boolean): ScanError {
  const where = `${url.protocol}//${url.host}`;
  if (timedOut) return new ScanError('VAULT_TIMEOUT', `the vault at ${where} did not answer in time`);
  const code = err.code ?? '';
  if (code.startsWith('HPE_'))
    return new ScanError('VAULT_BAD_RESPONSE', `the vault at ${where} did not answer with HTTP (${code})`, code);
  if (code === 'ERR_OSSL_BAD_DECRYPT' || /bad decrypt|passphrase/i.test(err.message))
    return new ScanError('CONFIG_INVALID', `the client certificate's key for ${where} does not open: ${code}`, code);
  if (TLS_CODES.has(code) || /certificate|ssl|tls|alert/i.test(err.message))
    return new ScanError(
      'VAULT_TLS_ERROR',
      `TLS with the vault at ${where} failed: ${code || err.message}`,
      code || undefined,
    );
  if (UNREACHABLE_CODES.has(code))
    return new ScanError('VAULT_UNREACHABLE', `the vault at ${where} could not be reached (${code})`, code);
  return new ScanError(
    'VAULT_UNREACHABLE',
    `the vault at ${where} could not be reached (${code || err.message})`,
    code || undefined,
  );
}

/** Retry-After as seconds or as an HTTP date, in milliseconds from now; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function encodeBody(req: VaultHttpRequest): { payload?: Buffer; type?: string } {
  if (req.form)
    return {
      payload: Buffer.from(new URLSearchParams(req.form).toString()),
      type: 'application/x-www-form-urlencoded',
    };
  if (req.text !== undefined) return { payload: Buffer.from(req.text, 'utf8'), type: 'text/plain' };
  if (req.body !== undefined) return { payload: Buffer.from(JSON.stringify(req.body)), type: 'application/json' };
  return {};
}

export async function vaultHttp(req: VaultHttpRequest): Promise<VaultHttpResponse> {
  const url = new URL(req.url);
  const { payload, type } = encodeBody(req);
  const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
  if (payload) Object.assign(headers, { 'content-type': type, 'content-length': String(payload.length) });
  if (req.cookies) {
    const cookie = await req.cookies.getCookieString(url.href);
    if (cookie) headers.cookie = cookie;
  }
  const tls = req.tls ?? {};
  const tlsOptions = {
    ...(tls.caCert && { ca: tls.caCert }),
    ...(tls.clientCert && { cert: tls.clientCert }),
    ...(tls.clientKey && { key: tls.clientKey }),
    ...(tls.clientKeyPassphrase && { passphrase: tls.clientKeyPassphrase }),
  };
  // The client key must open on every call. https.request throws a key that does not open
  // out of itself unclassified, and the keep-alive pool does not tell sockets apart by
  // passphrase: a socket opened with the right one would be reused for a wrong one.
  if (url.protocol === 'https:' && tls.clientKey) {
    try {
      createPrivateKey({
        key: tls.clientKey,
        format: 'pem',
        ...(tls.clientKeyPassphrase && { passphrase: tls.clientKeyPassphrase }),
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new ScanError(
        'CONFIG_INVALID',
        `the client certificate's key for ${url.protocol}//${url.host} does not open: ${code ?? 'unreadable key'}`,
        code,
      );
    }
  }
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const response = await new Promise<VaultHttpResponse>((resolve, reject) => {
    let timedOut = false;
    const r = send(url, { method: req.method, headers, ...(url.protocol === 'https:' && tlsOptions) }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_RESPONSE_BYTES) {
          res.destroy();
          clearTimeout(timer);
          reject(
            new ScanError(
              'VAULT_BAD_RESPONSE',
              `the vault at ${url.protocol}//${url.host} answered with more than ${MAX_RESPONSE_BYTES} bytes`,
              undefined,
              res.statusCode,
            ),
          );
          return;
        }
        chunks.push(c);
      });
      res.on('error', (err) => reject(classifyTransport(err, url, timedOut)));
      res.on('end', () => {
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        const retryAfterMs = parseRetryAfter(res.headers['retry-after']);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text,
          json,
          ...(retryAfterMs !== undefined && { retryAfterMs }),
        });
      });
    });
    const timer = setTimeout(() => {
      timedOut = true;
      r.destroy(new Error('timeout'));
    }, req.timeoutMs);
    let cancelled = false;
    const onAbort = () => {
      // The caller's deadline is a timeout; anything else (the scan was cancelled) is no vault failure.
      if ((req.signal?.reason as Error | undefined)?.name === 'TimeoutError') timedOut = true;
      else cancelled = true;
      r.destroy(new Error('aborted'));
    };
    if (req.signal?.aborted) onAbort();
    req.signal?.addEventListener('abort', onAbort, { once: true });
    r.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(cancelled ? new Error('the vault request was cancelled') : classifyTransport(err, url, timedOut));
    });
    r.end(payload);
  });
  const setCookies = response.headers['set-cookie'];
  if (req.cookies && setCookies)
    for (const cookie of setCookies) await req.cookies.setCookie(cookie, url.href, { ignoreError: true });
  return response;
}

/**
 * Runs a vault call again when the vault throttles it, after what it asked (Retry-After) but
 * never sooner than a short backoff of our own, as long as the wait fits in what is left of the
 * caller's time; then the VAULT_RATE_LIMITED error goes up, with the wait, for the workflow's
 * retry. The backoff is a floor because a vault may ask for less than it means: OpenBao's
 * rate-limit quotas round the time left down to whole seconds, so in the last second of a
 * window they answer `Retry-After: 0`, and taking that at its word spent every try at once.
 */
export async function withThrottleRetries<T>(
  call: () => Promise<T>,
  options: { deadline: number; signal?: AbortSignal; attempts?: number; backoffMs?: number },
): Promise<T> {
  const attempts = options.attempts ?? 3;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof ScanError) || err.code !== 'VAULT_RATE_LIMITED' || attempt >= attempts) throw err;
      const backoff = (options.backoffMs ?? 500) * 2 ** (attempt - 1);
      const wait = Math.max(err.retryAfterMs ?? 0, backoff);
      if (Date.now() + wait >= options.deadline || options.signal?.aborted) throw err;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        options.signal?.addEventListener(
          'abort',
          () => {
            clearTimeout(timer);
            resolve();
          },
          { once: true },
        );
      });
      if (options.signal?.aborted) throw err;
    }
  }
}
