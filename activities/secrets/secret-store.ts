// The appliance's in-memory vault of fetched target secrets. Secrets live here as Buffers
// behind random, short-lived handles; activities pass the handles, never the values.
import { randomBytes } from 'node:crypto';
import { ScanError } from '../../domain/scan-error.js';
import type { FetchedCredential } from '../vault/adapter.js';
import type { AuthSession } from '../auth/technology.js';
import { SECRET_FIELD_NAMES } from '../../domain/secret-fields.js';

/**
 * How long a secret may live at all, leased or not, unless the store is told otherwise. With
 * the default option profile a host's secret is needed for at most about 9 minutes (fetch
 * 15 s, schedule-to-start 30 s, loginAndCollect 2 × (10 s + 4 × 60 s) + 10 s): an hour leaves
 * room for slow hosts and raised timeouts, and still bounds what a stuck lease keeps alive.
 */
export const DEFAULT_MAX_LIFETIME_MS = 60 * 60_000;

/** Where a held secret may be used: the endpoint and account its grant named. */
export interface TargetBinding {
  ip: string;
  port: number;
  username: string;
  /** The SSH host key pinned for the endpoint; any other key stops the login. */
  hostKey: string | null;
  /** The record's technology settings, as its grant sealed them. */
  settings?: Record<string, unknown>;
}

interface Held {
  credential: FetchedCredential;
  target?: TargetBinding;
  ttlMs: number;
  /** When the secret expires if nobody holds a lease on it; moved on when the last lease ends. */
  idleDeadline: number;
  /** Fixed at put: no lease keeps the secret past this. */
  hardDeadline: number;
  lifetimeMs: number;
  leases: number;
  /** Aborted when the secret is purged, whoever purges it, so the work leasing it stops. */
  purged: AbortController;
  session?: AuthSession;
  /** Runs once the secret is gone, whoever purged it (a vault's check-in, for a lent secret). */
  onPurge?: () => Promise<void>;
}

export interface SecretStoreOptions {
  /** How long a secret may sit with no lease on it before it expires. */
  ttlMs: number;
  /** How long a secret may live at all, counted from put, leased or not. */
  maxLifetimeMs?: number;
  sweepIntervalMs?: number;
  now?: () => number;
}

/** A user's hold on a secret: while held, the secret does not expire, up to its maximum lifetime. */
export interface SecretLease {
  /** Aborted (reason: a SECRET_EXPIRED ScanError) once the secret is purged, for whatever cause. */
  readonly signal: AbortSignal;
  /** Ends this lease; later calls do nothing. With no lease left, the TTL runs again from now. */
  release(): void;
}

/** Zero-fills every buffer of a credential. */
export function wipeCredential(credential: FetchedCredential): void {
  for (const field of SECRET_FIELD_NAMES) credential[field]?.fill(0);
}

/** An independent copy (new buffers), so one host's purge cannot touch another's secret. */
export function copyCredential(credential: FetchedCredential): FetchedCredential {
  const copy: FetchedCredential = {};
  for (const field of SECRET_FIELD_NAMES) {
    const value = credential[field];
    if (value) copy[field] = Buffer.from(value);
  }
  return copy;
}

export class SecretStore {
  private readonly held = new Map<string, Held>();
  private sweeper: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private readonly maxLifetimeMs: number;

  constructor(private readonly options: SecretStoreOptions) {
    this.now = options.now ?? Date.now;
    this.maxLifetimeMs = options.maxLifetimeMs ?? DEFAULT_MAX_LIFETIME_MS;
    if (options.ttlMs > this.maxLifetimeMs)
      throw new RangeError(
        `the secret TTL (${options.ttlMs} ms) is longer than the maximum lifetime (${this.maxLifetimeMs} ms)`,
      );
  }

  get size(): number {
    return this.held.size;
  }

  /** Takes ownership of the credential's buffers and returns an opaque handle. */
  put(
    credential: FetchedCredential,
    options: {
      ttlMs?: number;
      target?: TargetBinding;
      maxLifetimeMs?: number;
      onPurge?: () => Promise<void>;
    } = {},
  ): string {
    const handle = randomBytes(24).toString('base64url');
    const now = this.now();
    const ttlMs = options.ttlMs ?? this.options.ttlMs;
    // A batch may ask for less than the appliance's ceiling, never more.
    const lifetimeMs = Math.min(options.maxLifetimeMs ?? this.maxLifetimeMs, this.maxLifetimeMs);
    this.held.set(handle, {
      credential,
      ...(options.target && { target: options.target }),
      ttlMs,
      idleDeadline: now + ttlMs,
      hardDeadline: now + lifetimeMs,
      lifetimeMs,
      leases: 0,
      purged: new AbortController(),
      ...(options.onPurge && { onPurge: options.onPurge }),
    });
    return handle;
  }

  /**
   * Holds the secret for a piece of work: its TTL is extended for as long as the lease is held,
   * never past the maximum lifetime fixed at put. SECRET_EXPIRED if the handle is not live.
   */
  lease(handle: string): SecretLease {
    const held = this.live(handle);
    held.leases++;
    let released = false;
    return {
      signal: held.purged.signal,
      release: () => {
        if (released) return;
        released = true;
        held.leases--;
        if (held.leases === 0) held.idleDeadline = this.now() + held.ttlMs;
      },
    };
  }

  /** Whether the handle still holds a secret (an expired one is purged on the way). */
  has(handle: string): boolean {
    try {
      this.live(handle);
      return true;
    } catch {
      return false;
    }
  }

  /** The credential behind a live handle; SECRET_EXPIRED once it expired or was purged. */
  credential(handle: string): FetchedCredential {
    return this.live(handle).credential;
  }

  /** The credential and the endpoint it was granted for. */
  entry(handle: string): { credential: FetchedCredential; target: TargetBinding | undefined } {
    const { credential, target } = this.live(handle);
    return { credential, target };
  }

  /** Ties a session to the secret (purged together). A session for a dead handle is closed at once. */
  attachSession(handle: string, session: AuthSession): void {
    let held: Held;
    try {
      held = this.live(handle);
    } catch (err) {
      void session.close().catch(() => undefined);
      throw err;
    }
    held.session = session;
  }

  /** Closes the session, zero-fills every buffer and forgets the handle. True if it held something. */
  purge(handle: string): Promise<boolean> {
    return this.remove(handle, 'the secret was purged while it was in use');
  }

  async purgeAll(): Promise<number> {
    const handles = [...this.held.keys()];
    await Promise.all(handles.map((h) => this.purge(h)));
    return handles.length;
  }

  /** Purges what a crashed or abandoned workflow left behind, and what outlived its maximum lifetime. */
  async sweepExpired(): Promise<number> {
    const now = this.now();
    const due: [string, string][] = [];
    for (const [handle, held] of this.held) {
      const why = this.expiry(held, now);
      if (why) due.push([handle, why]);
    }
    await Promise.all(due.map(([handle, why]) => this.remove(handle, why)));
    return due.length;
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

  /** Why the secret must go now, or undefined while it may live. */
  private expiry(held: Held, now: number): string | undefined {
    if (held.hardDeadline <= now) return `the secret reached its maximum lifetime of ${held.lifetimeMs} ms`;
    if (held.leases === 0 && held.idleDeadline <= now) return 'the secret handle expired before it was used';
    return undefined;
  }

  private async remove(handle: string, why: string): Promise<boolean> {
    const held = this.held.get(handle);
    if (!held) return false;
    this.held.delete(handle);
    wipeCredential(held.credential);
    held.purged.abort(new ScanError('SECRET_EXPIRED', why));
    await held.session?.close().catch(() => undefined);
    await held.onPurge?.().catch(() => undefined);
    return true;
  }

  private live(handle: string): Held {
    const held = this.held.get(handle);
    if (!held) throw new ScanError('SECRET_EXPIRED', 'the secret handle is unknown or was already purged');
    const why = this.expiry(held, this.now());
    if (why) {
      void this.remove(handle, why);
      throw new ScanError('SECRET_EXPIRED', why);
    }
    return held;
  }
}
