// The appliance's in-memory vault of fetched target secrets. Secrets live here as Buffers
// behind random, short-lived handles; activities pass the handles, never the values.
import { randomBytes } from 'node:crypto';
import { ScanError } from '../../domain/scan-error.js';
import type { FetchedCredential } from '../vault/adapter.js';
import type { AuthSession } from '../auth/technology.js';

/** Where a held secret may be used: the endpoint and account its grant named. */
export interface TargetBinding {
  ip: string;
  port: number;
  username: string;
  /** The SSH host key pinned for the endpoint; any other key stops the login. */
  hostKey: string | null;
}

interface Held {
  credential: FetchedCredential;
  target?: TargetBinding;
  expiresAt: number;
  session?: AuthSession;
}

export interface SecretStoreOptions {
  ttlMs: number;
  sweepIntervalMs?: number;
  now?: () => number;
}

/** Zero-fills every buffer of a credential. */
export function wipeCredential(credential: FetchedCredential): void {
  for (const buffer of [credential.password, credential.privateKey, credential.passphrase]) buffer?.fill(0);
}

/** An independent copy (new buffers), so one host's purge cannot touch another's secret. */
export function copyCredential(credential: FetchedCredential): FetchedCredential {
  const copy: FetchedCredential = {};
  if (credential.password) copy.password = Buffer.from(credential.password);
  if (credential.privateKey) copy.privateKey = Buffer.from(credential.privateKey);
  if (credential.passphrase) copy.passphrase = Buffer.from(credential.passphrase);
  return copy;
}

export class SecretStore {
  private readonly held = new Map<string, Held>();
  private sweeper: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly options: SecretStoreOptions) {
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.held.size;
  }

  /** Takes ownership of the credential's buffers and returns an opaque handle. */
  put(credential: FetchedCredential, options: { ttlMs?: number; target?: TargetBinding } = {}): string {
    const handle = randomBytes(24).toString('base64url');
    const expiresAt = this.now() + (options.ttlMs ?? this.options.ttlMs);
    this.held.set(handle, { credential, expiresAt, ...(options.target && { target: options.target }) });
    return handle;
  }

  /** The credential behind a live handle; SECRET_EXPIRED once its TTL ran out or it was purged. */
  credential(handle: string): FetchedCredential {
    return this.live(handle).credential;
  }

  /** The credential and the endpoint it was granted for. */
  entry(handle: string): { credential: FetchedCredential; target: TargetBinding | undefined } {
    const { credential, target } = this.live(handle);
    return { credential, target };
  }

  attachSession(handle: string, session: AuthSession): void {
    this.live(handle).session = session;
  }

  /** Closes the session, zero-fills every buffer and forgets the handle. True if it held something. */
  async purge(handle: string): Promise<boolean> {
    const held = this.held.get(handle);
    if (!held) return false;
    this.held.delete(handle);
    wipeCredential(held.credential);
    await held.session?.close().catch(() => undefined);
    return true;
  }

  async purgeAll(): Promise<number> {
    const handles = [...this.held.keys()];
    await Promise.all(handles.map((h) => this.purge(h)));
    return handles.length;
  }

  /** Purges whatever a crashed or abandoned workflow left behind. */
  async sweepExpired(): Promise<number> {
    const now = this.now();
    const expired = [...this.held].filter(([, h]) => h.expiresAt <= now).map(([handle]) => handle);
    await Promise.all(expired.map((h) => this.purge(h)));
    return expired.length;
  }

  startSweeper(): void {
    if (this.sweeper) return;
    const every = this.options.sweepIntervalMs ?? Math.max(1000, Math.floor(this.options.ttlMs / 4));
    this.sweeper = setInterval(() => void this.sweepExpired(), every);
    this.sweeper.unref();
  }

  stopSweeper(): void {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  private live(handle: string): Held {
    const held = this.held.get(handle);
    if (!held) throw new ScanError('SECRET_EXPIRED', 'the secret handle is unknown or was already purged');
    if (held.expiresAt <= this.now()) {
      void this.purge(handle);
      throw new ScanError('SECRET_EXPIRED', 'the secret handle expired before it was used');
    }
    return held;
  }
}
