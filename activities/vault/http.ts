// The HTTP call every vault adapter makes: JSON, a timeout, an optional private CA, and
// transport failures classified the same way for every vault.
import { request as httpsRequest } from 'node:https';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { ScanError } from '../../domain/scan-error.js';

export interface VaultHttpRequest {
  method: 'GET' | 'POST' | 'PUT';
  url: string;
  headers?: Record<string, string>;
  body?: unknown;
  caCert?: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface VaultHttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json: unknown;
}

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

function classifyTransport(err: NodeJS.ErrnoException, url: URL, timedOut: boolean): ScanError {
  const where = `${url.protocol}//${url.host}`;
  if (timedOut) return new ScanError('VAULT_TIMEOUT', `the vault at ${where} did not answer in time`);
  const code = err.code ?? '';
  if (code.startsWith('HPE_'))
    return new ScanError('VAULT_BAD_RESPONSE', `the vault at ${where} did not answer with HTTP (${code})`, code);
  if (TLS_CODES.has(code) || /certificate|ssl|tls/i.test(err.message))
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

export function vaultHttp(req: VaultHttpRequest): Promise<VaultHttpResponse> {
  const url = new URL(req.url);
  const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
  const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
  if (payload) Object.assign(headers, { 'content-type': 'application/json', 'content-length': String(payload.length) });
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    let timedOut = false;
    const r = send(url, { method: req.method, headers, ...(req.caCert ? { ca: req.caCert } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
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
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
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
}
