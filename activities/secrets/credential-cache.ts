// One vault read per distinct credential per scan in this appliance process: the batches of a
// scan that use the same vault item share one read. The cached secret lives in the SecretStore
// like any other (a Buffer behind a handle, zero-filled when purged); its TTL and lifetime are
// short, it is purged when the scan ends here (forgetScan), and a lent secret (a check-out, an
// access request) is given back to its vault whenever it is purged. Each vault record also gets
// a cap on the calls this process makes to it at once (its maxConcurrentRequests).
import { createHash, timingSafeEqual } from 'node:crypto';
import pLimit, { type LimitFunction } from 'p-limit';
import { SECRET_FIELD_NAMES, type CredentialFieldNames } from '../../domain/secret-fields.js';
import { DEFAULT_MAX_CONCURRENT_REQUESTS } from '../../vault-types/spec.js';
import type { FetchedCredential, VaultRead } from '../vault/adapter.js';
import { wipeCredential, type SecretStore } from './secret-store.js';

/** Which credential: a vault item as one vault record reads it, for one scan. */
export interface CredentialSource {
  scanId: string;
  vault: { id: string; type: string; config: Record<string, unknown>; access: Record<string, unknown> };
  locator: Record<string, unknown>;
  fields: CredentialFieldNames;
}

export interface CachedCredential {
  handle: string;
  /** False when this call read the vault; true when an earlier read served it. */
  fromCache: boolean;
  /** When the lent secret goes back by itself, if the vault lent it. */
  lentUntil?: Date;
}

/** Defaults: an unused credential goes after 5 minutes, any after 30 (then the vault is read again). */
export const DEFAULT_CACHE_TTL_MS = 5 * 60_000;
export const DEFAULT_CACHE_MAX_LIFETIME_MS = 30 * 60_000;

export interface CredentialCacheOptions {
  /** How long a cached credential may sit unused. */
  ttlMs: number;
  /** How long it may live at all, used or not. */
  maxLifetimeMs: number;
  now?: () => number;
}

/** A lent secret is dropped this long before its loan ends, so no login uses an expired one. */
const LOAN_MARGIN_MS = 5_000;

interface Entry {
  scanId: string;
  handle: string;
  lentUntil?: Date;
}

/** The identity of a source: a digest, so the map holds no settings or access secret in clear. */
function keyOf(source: CredentialSource): string {
  const { scanId, vault, locator, fields } = source;
  return createHash('sha256')
    .update(JSON.stringify([scanId, vault.id, vault.type, vault.config, vault.access, locator, fields]))
    .digest('base64url');
}

function sameCredential(a: FetchedCredential, b: FetchedCredential): boolean {
  return SECRET_FIELD_NAMES.every((field) => {
    const x = a[field];
    const y = b[field];
    if (!x || !y) return x === y;
    return x.length === y.length && timingSafeEqual(x, y);
  });
}

export class CredentialCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<CachedCredential>>();
  private readonly limits = new Map<string, { max: number; limit: LimitFunction }>();
  private readonly now: () => number;

  constructor(
    private readonly store: SecretStore,
    private readonly options: CredentialCacheOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** How many credentials are cached now (for tests and the appliance's status). */
  get size(): number {
    return [...this.entries.values()].filter((e) => this.store.has(e.handle)).length;
  }

  /**
   * The source's credential: cached, or read from the vault (once, however many batches ask at
   * once). The caller copies it for each host; the cached copy stays the cache's.
   */
  async get(source: CredentialSource, read: () => Promise<VaultRead>): Promise<CachedCredential> {
    const key = keyOf(source);
    const cached = this.entries.get(key);
    if (cached && this.store.has(cached.handle)) {
      this.store.lease(cached.handle).release(); // used now: its idle TTL runs again from here
      return { handle: cached.handle, fromCache: true, ...(cached.lentUntil && { lentUntil: cached.lentUntil }) };
    }
    const pending = this.inflight.get(key);
    if (pending) return { ...(await pending), fromCache: true };
    const reading = this.readAndKeep(key, source, read).finally(() => this.inflight.delete(key));
    this.inflight.set(key, reading);
    return reading;
  }

  /**
   * Reads the vault again after a host refused the cached credential. If the vault now holds
   * another secret, it replaces the cached one (which goes back to its vault if lent); if it
   * holds the same (or the cached one is gone, so nothing can be compared), `changed` is false
   * and the host must not be tried again with it.
   */
  async refresh(
    source: CredentialSource,
    read: () => Promise<VaultRead>,
  ): Promise<{ changed: true; entry: CachedCredential } | { changed: false }> {
    const key = keyOf(source);
    const old = this.entries.get(key);
    if (!old || !this.store.has(old.handle)) return { changed: false };
    const fresh = await this.limited(source, read);
    if (sameCredential(this.store.credential(old.handle), fresh.credential)) {
      wipeCredential(fresh.credential);
      await fresh.release?.().catch(() => undefined);
      return { changed: false };
    }
    await this.store.purge(old.handle);
    return { changed: true, entry: this.keep(key, source, fresh) };
  }

  credential(handle: string): FetchedCredential {
    return this.store.credential(handle);
  }

  /** Purges every credential cached for the scan (and gives back what was lent). */
  async forgetScan(scanId: string): Promise<number> {
    const mine = [...this.entries].filter(([, e]) => e.scanId === scanId);
    for (const [key] of mine) this.entries.delete(key);
    const purged = await Promise.all(mine.map(([, e]) => this.store.purge(e.handle)));
    return purged.filter(Boolean).length;
  }

  private async readAndKeep(
    key: string,
    source: CredentialSource,
    read: () => Promise<VaultRead>,
  ): Promise<CachedCredential> {
    return this.keep(key, source, await this.limited(source, read));
  }

  /** The read, within the vault record's cap on calls at once from this process. */
  private limited(source: CredentialSource, read: () => Promise<VaultRead>): Promise<VaultRead> {
    const configured = source.vault.config.maxConcurrentRequests;
    const max = typeof configured === 'number' && configured >= 1 ? configured : DEFAULT_MAX_CONCURRENT_REQUESTS;
    let slot = this.limits.get(source.vault.id);
    if (!slot || slot.max !== max) {
      slot = { max, limit: pLimit(max) };
      this.limits.set(source.vault.id, slot);
    }
    return slot.limit(read);
  }

  private keep(key: string, source: CredentialSource, read: VaultRead): CachedCredential {
    // Entries whose secret the store already let go (TTL, lifetime) are forgotten here.
    for (const [k, e] of this.entries) if (!this.store.has(e.handle)) this.entries.delete(k);
    const untilLoanEnds = read.lentUntil ? read.lentUntil.getTime() - LOAN_MARGIN_MS - this.now() : Infinity;
    const handle = this.store.put(read.credential, {
      ttlMs: Math.max(1, Math.min(this.options.ttlMs, untilLoanEnds)),
      maxLifetimeMs: Math.max(1, Math.min(this.options.maxLifetimeMs, untilLoanEnds)),
      ...(read.release && { onPurge: read.release }),
    });
    this.entries.set(key, { scanId: source.scanId, handle, ...(read.lentUntil && { lentUntil: read.lentUntil }) });
    return { handle, fromCache: false, ...(read.lentUntil && { lentUntil: read.lentUntil }) };
  }
}
