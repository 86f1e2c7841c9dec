// Shares one load among everyone who asks for the same key within a short time. GET /scans/:id
// is what dashboards poll: at 200 requests/s it would count a running scan's results (100,000
// rows for a large scan) 200 times a second; shared, it is counted once a second. Once a value
// is a second old, callers still get it at once while one refresh runs behind them (nobody
// waits on the database while a busy scan writes to it), unless it is older than maxStaleMs.
// A value that can no longer change is kept.
export interface SharedLoaderOptions<T> {
  /** How old a value may be before it is refreshed. */
  maxAgeMs?: number;
  /** How old a value may still be served while its refresh runs; older, callers wait. */
  maxStaleMs?: number;
  /** Keys remembered at most; the least recently loaded goes first. */
  maxEntries?: number;
  /** A final value never changes again (an ended scan): it is kept until evicted. */
  isFinal?: (value: T) => boolean;
  now?: () => number;
}

interface Entry<T> {
  /** The last value loaded, and when its load started. */
  latest?: { value: T; at: number };
  /** The load under way, if any: the first one, or a refresh. */
  pending?: Promise<T>;
  final: boolean;
}

export function createSharedLoader<T>(
  load: (key: string) => Promise<T>,
  options: SharedLoaderOptions<T> = {},
): (key: string) => Promise<T> {
  const maxAgeMs = options.maxAgeMs ?? 1_000;
  const maxStaleMs = options.maxStaleMs ?? 5_000;
  const maxEntries = options.maxEntries ?? 1_000;
  const isFinal = options.isFinal ?? (() => false);
  const now = options.now ?? Date.now;
  const cache = new Map<string, Entry<T>>();

  const startLoad = (key: string, entry: Entry<T>): Promise<T> => {
    const at = now();
    cache.delete(key); // re-inserted last: Map order makes the first key the least recent
    cache.set(key, entry);
    if (cache.size > maxEntries) cache.delete(cache.keys().next().value!);
    entry.pending = load(key).then(
      (value) => {
        entry.latest = { value, at };
        entry.final = isFinal(value);
        entry.pending = undefined;
        return value;
      },
      (err: unknown) => {
        // A failure (not found, database down) is not shared beyond the requests already
        // waiting, and the value it was refreshing is not served any more.
        entry.pending = undefined;
        if (cache.get(key) === entry) cache.delete(key);
        throw err;
      },
    );
    return entry.pending;
  };

  return (key) => {
    const entry = cache.get(key);
    const latest = entry?.latest;
    if (entry && latest) {
      const age = now() - latest.at;
      if (entry.final || age < maxAgeMs) return Promise.resolve(latest.value);
      if (age < maxStaleMs) {
        if (!entry.pending) startLoad(key, entry).catch(() => undefined);
        return Promise.resolve(latest.value);
      }
    }
    if (entry?.pending) return entry.pending;
    return startLoad(key, entry ?? { final: false });
  };
}
