// The life of `npm start`'s stack: parts register how they stop as they start, and one stop
// (a signal, the parent gone, a part that died) stops them all in reverse order, also in the
// middle of the start: a long step gives up through `signal`, a short one finishes and its part
// is stopped with the rest. Nothing outlives the stop but the data, closed.
import type { Logger } from 'pino';

/** Thrown by `started` once a stop has begun: the start goes no further. */
export class StopRequested extends Error {
  constructor() {
    super('stopping');
  }
}

interface Part {
  name: string;
  stop: () => Promise<unknown>;
}

export class StackLifetime {
  private readonly parts: Part[] = [];
  private readonly abort = new AbortController();
  private startup: Promise<unknown> = Promise.resolve();
  private stopped: Promise<boolean> | undefined;

  constructor(private readonly logger: Logger) {}

  /** Aborted as soon as a stop is asked for. */
  get signal(): AbortSignal {
    return this.abort.signal;
  }

  get stopping(): boolean {
    return this.stopped !== undefined;
  }

  /** A stop asked for while this runs waits for it to settle before stopping the parts. */
  starting<T>(start: Promise<T>): Promise<T> {
    this.startup = start.catch(() => undefined);
    return start;
  }

  /** Registers a part that is up; throws StopRequested when the stack is already stopping. */
  started(name: string, stop: () => Promise<unknown>): void {
    this.parts.push({ name, stop });
    if (this.stopping) throw new StopRequested();
  }

  /** Stops every part once (later calls share the first); resolves whether every part stopped cleanly. */
  stop(reason: string): Promise<boolean> {
    this.stopped ??= (async () => {
      this.logger.info({ reason }, 'stopping…');
      this.abort.abort();
      await this.startup;
      const failed: string[] = [];
      for (let part = this.parts.pop(); part; part = this.parts.pop()) {
        try {
          await part.stop();
        } catch (err) {
          failed.push(part.name);
          this.logger.warn({ err }, `${part.name}: did not stop cleanly`);
        }
      }
      return failed.length === 0;
    })();
    return this.stopped;
  }
}
