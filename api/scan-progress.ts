// A scan's progress counts for GET /scans/:id, the route an operator's dashboard polls. Counting
// a running scan's results costs a scan over its rows (100,000 for a large scan), so the counts
// are shared: one count per scan per second however many clients poll, concurrent requests
// await the same query, and an ended scan's counts (which no longer change) are kept.
import type { Database } from '../db/client.js';
import { resultRepo } from '../db/repositories/index.js';
import type { ReportCategory } from '../domain/categories.js';

type Counts = Record<ReportCategory, number>;

interface Cached {
  at: number;
  ended: boolean;
  counts: Promise<Counts>;
}

export interface ProgressReaderOptions {
  /** How stale a running scan's counts may be. */
  maxAgeMs?: number;
  /** Scans remembered at most; the oldest entry goes first. */
  maxEntries?: number;
  now?: () => number;
}

export function createProgressReader(db: Database, options: ProgressReaderOptions = {}) {
  const maxAgeMs = options.maxAgeMs ?? 1_000;
  const maxEntries = options.maxEntries ?? 1_000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, Cached>();

  return function countsOf(scan: { id: string; status: string }): Promise<Counts> {
    const ended = scan.status !== 'QUEUED' && scan.status !== 'RUNNING';
    const hit = cache.get(scan.id);
    if (hit && (hit.ended || (!ended && now() - hit.at < maxAgeMs))) return hit.counts;

    const counts = resultRepo.countByCategory(db, scan.id);
    cache.delete(scan.id); // re-inserted last: Map order makes the first key the oldest
    cache.set(scan.id, { at: now(), ended, counts });
    counts.catch(() => cache.delete(scan.id));
    if (cache.size > maxEntries) cache.delete(cache.keys().next().value!);
    return counts;
  };
}
