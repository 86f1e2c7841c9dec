// How many of a scan's hosts this appliance process is logged into at once: at most the
// scan's maxParallelHosts. The scan hands out one batch more than that, so the next hosts'
// credentials are already fetched when a slot frees; they wait here, not in a round trip.
import { ScanError } from '../domain/scan-error.js';

interface Slots {
  limit: number;
  inUse: number;
  waiting: (() => void)[];
}

export class LoginSlots {
  private readonly scans = new Map<string, Slots>();

  /** Waits for a free slot of the scan; the returned function gives it back (once). */
  async acquire(scanId: string, limit: number, signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    const slots = this.scans.get(scanId) ?? { limit, inUse: 0, waiting: [] };
    this.scans.set(scanId, slots);
    slots.limit = Math.max(1, limit);
    if (slots.inUse >= slots.limit) await this.waitTurn(slots, signal);
    else slots.inUse++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.release(scanId, slots);
    };
  }

  /** Hosts of the scan logged in right now (for tests and diagnostics). */
  inUse(scanId: string): number {
    return this.scans.get(scanId)?.inUse ?? 0;
  }

  private waitTurn(slots: Slots, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const at = slots.waiting.indexOf(turn);
        if (at >= 0) slots.waiting.splice(at, 1);
        reject(signal?.reason ?? new ScanError('INTERNAL_ERROR', 'cancelled while waiting for a login slot'));
      };
      // The slot is handed over by release() without inUse ever dropping, so nobody jumps the queue.
      const turn = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      slots.waiting.push(turn);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private release(scanId: string, slots: Slots): void {
    const next = slots.inUse <= slots.limit ? slots.waiting.shift() : undefined;
    if (next) return next();
    slots.inUse--;
    if (slots.inUse === 0) this.scans.delete(scanId);
  }
}
