// What the database technologies (postgresql.ts, mysql.ts) share: one login attempt's clock and
// cancellation, the TLS options of a tlsMode, and failures of the network and of TLS said in
// words. No secret ever reaches a message here: only addresses, codes and the server's words.
import type { ConnectionOptions, PeerCertificate } from 'node:tls';
import { ScanError } from '../../domain/scan-error.js';
import type { TlsMode } from '../../technologies/tls.js';

/**
 * Where a login stands. Up to `greeting` no credential has left the scanner, so running out of
 * time there is the host's slowness (TARGET_TIMEOUT, retried); from `password` on, the server
 * has the password and may be rejecting it slowly (AUTH_TIMEOUT: a failed login, not retried).
 */
export type LoginPhase = 'connecting' | 'tls' | 'greeting' | 'password' | 'done';

/**
 * One login's deadline (the option profile's connect timeout, for the whole login) and the
 * scan's cancellation: whichever comes first fails the login and runs `onFail` (which closes
 * the connection), unless the login is done.
 */
export class LoginAttempt {
  phase: LoginPhase = 'connecting';
  /** Whether the record gave a CA (settings.caCert): what a certificate failure blames. */
  hasCa = false;
  private failure: ScanError | undefined;
  private readonly failed: Promise<never>;
  private rejectFailed!: (err: ScanError) => void;
  private readonly timer: NodeJS.Timeout;
  private readonly onAbort = () => this.fail(new ScanError('TARGET_TIMEOUT', 'the login was cancelled'));

  constructor(
    readonly where: string,
    /** The service, as its administrators call it ("PostgreSQL"). */
    private readonly service: string,
    private readonly timeoutMs: number,
    private readonly signal: AbortSignal | undefined,
    private readonly onFail: () => void,
  ) {
    this.failed = new Promise<never>((_, reject) => (this.rejectFailed = reject));
    this.failed.catch(() => undefined);
    this.timer = setTimeout(() => this.fail(this.timeoutError()), timeoutMs);
    if (signal?.aborted) queueMicrotask(this.onAbort);
    else signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  private timeoutError(): ScanError {
    const within = `within ${this.timeoutMs} ms`;
    switch (this.phase) {
      case 'connecting':
        return new ScanError('TARGET_TIMEOUT', `${this.where} did not accept a connection ${within}`);
      case 'tls':
        return new ScanError('TARGET_TIMEOUT', `the TLS handshake with ${this.where} did not complete ${within}`);
      case 'greeting':
        return new ScanError(
          'TARGET_TIMEOUT',
          `${this.where} took the connection but did not answer as ${this.service} does ${within}; no credentials were sent`,
        );
      default:
        return new ScanError(
          'AUTH_TIMEOUT',
          `${this.where} did not answer the login ${within}, after the password was sent: the credentials may have been refused slowly`,
        );
    }
  }

  /** The first failure wins; the connection is closed at once. */
  fail(err: ScanError): void {
    if (this.failure || this.phase === 'done') return;
    this.failure = err;
    this.finish();
    this.onFail();
    this.rejectFailed(err);
  }

  /** What failed the login, if something did (a refusal noticed before the driver saw it). */
  get failedWith(): ScanError | undefined {
    return this.failure;
  }

  /** `work`, unless the login fails first (then its reason). */
  run<T>(work: Promise<T>): Promise<T> {
    return Promise.race([work, this.failed]);
  }

  /** Logged in: the clock and the cancellation no longer apply to the login. */
  succeeded(): void {
    if (this.failure) return;
    this.phase = 'done';
    this.finish();
  }

  private finish(): void {
    clearTimeout(this.timer);
    this.signal?.removeEventListener('abort', this.onAbort);
  }
}

/**
 * A query's own time limit and the scan's cancellation: on either, `onStop` closes the session
 * (a driver cannot abandon one query and go on) and the query fails with COLLECTION_FAILED.
 */
export async function withQueryLimits<T>(
  work: Promise<T>,
  what: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  onStop: () => void,
): Promise<T> {
  if (signal?.aborted) {
    onStop();
    throw new ScanError('COLLECTION_FAILED', `the scan was cancelled before ${what}`);
  }
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stopped = new Promise<never>((_, reject) => {
    const stop = (reason: string) => {
      onStop();
      reject(new ScanError('COLLECTION_FAILED', reason));
    };
    timer = setTimeout(() => stop(`${what} did not finish within ${timeoutMs} ms`), timeoutMs);
    onAbort = () => stop(`the scan was cancelled while ${what} ran`);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, stopped]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Node's options for a TLS connection in this mode (never called for `disable`). The targets
 * are addresses, so the name verify-full checks is the address itself (the certificate needs it
 * as an IP subject alternative name), and no SNI name is sent (RFC 6066 allows none for an IP).
 */
export function tlsConnectionOptions(mode: Exclude<TlsMode, 'disable'>, caCert: string | undefined, ip: string) {
  const options: ConnectionOptions = { host: ip, minVersion: 'TLSv1.2' };
  if (mode === 'require') return { ...options, rejectUnauthorized: false };
  return {
    ...options,
    rejectUnauthorized: true,
    ...(caCert !== undefined && { ca: caCert }),
    // verify-ca: the chain is checked, the name is not.
    ...(mode === 'verify-ca' && { checkServerIdentity: () => undefined }),
  };
}

const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_CHAIN_TOO_LONG',
  'INVALID_CA',
]);

/**
 * A failed TLS handshake in words, from Node's error code, or (where a driver replaced the code)
 * from OpenSSL's message: the CA, the name, the dates, or the handshake itself.
 */
export function tlsFailure(err: Error & { code?: string }, where: string, hasCa: boolean): ScanError {
  const code = err.code ?? '';
  const message = err.message;
  const trusted = hasCa ? 'the CA in settings.caCert' : "the system's CAs (give the server's CA as settings.caCert)";
  if (UNTRUSTED.has(code) || /self[- ]signed|issuer certificate|verify the first certificate|untrusted/i.test(message))
    return new ScanError(
      'TARGET_TLS_ERROR',
      `${where} presented a TLS certificate that does not chain to ${trusted} (${message}); no credentials were sent`,
      code || undefined,
    );
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || /altnames|does not match certificate/i.test(message))
    return new ScanError(
      'TARGET_TLS_ERROR',
      `${where} presented a TLS certificate that does not name that address (tlsMode verify-full: ${message}); no credentials were sent`,
      code || undefined,
    );
  if (
    code === 'CERT_HAS_EXPIRED' ||
    code === 'CERT_NOT_YET_VALID' ||
    /certificate (has expired|is not yet valid)/i.test(message)
  )
    return new ScanError(
      'TARGET_TLS_ERROR',
      `${where} presented a TLS certificate outside its validity dates (${message}); no credentials were sent`,
      code || undefined,
    );
  return new ScanError(
    'TARGET_TLS_ERROR',
    `the TLS handshake with ${where} failed (${message}); no credentials were sent`,
    code || undefined,
  );
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'EHOSTDOWN']);

/** A socket error before or during the login, by where the login stood. */
export function networkFailure(err: Error & { code?: string }, attempt: LoginAttempt): ScanError {
  const code = err.code ?? '';
  if (UNREACHABLE.has(code))
    return new ScanError('TARGET_UNREACHABLE', `nothing answered on ${attempt.where} (${code})`, code);
  if (attempt.phase === 'tls') return tlsFailure(err, attempt.where, false);
  if (attempt.phase === 'password')
    return new ScanError(
      'AUTH_TIMEOUT',
      `${attempt.where} dropped the connection after the password was sent, without an answer (${code || err.message}): the login may have been refused`,
      code || undefined,
    );
  return new ScanError(
    'TARGET_UNREACHABLE',
    `the connection to ${attempt.where} failed before the login (${code || err.message}); no credentials were sent`,
    code || undefined,
  );
}

/** The facts every TLS connection yields: the server certificate's fingerprint and dates. */
export function certificateFacts(certificate: PeerCertificate | undefined | null): Record<string, string> {
  if (!certificate || !certificate.fingerprint256) return {};
  const subject = certificate.subject as unknown as Record<string, string | string[]> | undefined;
  const cn = subject?.CN;
  return {
    'tls.certificate.sha256': certificate.fingerprint256,
    'tls.certificate.notAfter': new Date(certificate.valid_to).toISOString(),
    ...(cn && { 'tls.certificate.subject': Array.isArray(cn) ? cn.join(', ') : cn }),
    ...(certificate.subjectaltname && { 'tls.certificate.altNames': certificate.subjectaltname }),
  };
}
