// Shares one load among everyone who asks for the same key within a short time. GET /scans/:id
// is what dashboards poll: at 200 requests/s it would count a running scan's results (100,000
// rows for a large scan) 200 times a second; shared, it is counted once a second, concurrent
// requests await the same query, and a value that can no longer change is kept.
export interface SharedLoaderOptions<T> {
  /** How stale a value may be served. */
  maxAgeMs?: number;
  /** Keys remembered at most; the least recently loaded goes first. */
  maxEntries?: number;
  /** A final value never changes again (an ended scan): it is kept until evicted. */
  isFinal?: (value: T) => boolean;
  now?: () => number;
}

interface Entry<T> {
  at: number;
  value: Promise<T>;
  final: boolean;
}

export function createSharedLoader<T>(load: (key: string) => Promise<T>, options: SharedLoaderOptions<T> = {}): (key: string) => Promise<T> {
  const maxAgeMs = options.maxAgeMs ?? 1_000;
  const maxEntries = options.maxEntries ?? 1_000;
  const isFinal = options.isFinal ?? (() => false);
  const now = options.now ?? Date.now;
  const cache = new Map<string, Entry<T>>();

  return (key) => {
    const hit = cache.get(key);
    if (hit && (hit.final || now() - hit.at < maxAgeMs)) return hit.value;

    const entry: Entry<T> = { at: now(), value: load(key), final: false };
    cache.delete(key); // re-inserted last: Map order makes the first key the least recent
    cache.set(key, entry);
    if (cache.size > maxEntries) cache.delete(cache.keys().next().value!);
    entry.value.then(
      (value) => {
        entry.final = isFinal(value);
      },
      () => {
        // A failure (not found, database down) is not shared beyond the requests already waiting.
        if (cache.get(key) === entry) cache.delete(key);
      },
    );
    return entry.value;
  };
}
