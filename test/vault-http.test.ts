// The throttle retry every vault adapter shares (withThrottleRetries): how long it waits after
// a 429, and when it gives the VAULT_RATE_LIMITED error up to the workflow instead.
import { describe, expect, it } from 'vitest';
import { withThrottleRetries } from '../activities/vault/http.js';
import { ScanError } from '../domain/scan-error.js';

/** A call throttled with these Retry-After values (undefined: no header), then answering 'ok'; it notes when it ran. */
function throttledCall(retryAfters: (number | undefined)[]) {
  const calls: number[] = [];
  const call = async () => {
    calls.push(performance.now());
    const next = calls.length - 1;
    if (next < retryAfters.length)
      throw new ScanError('VAULT_RATE_LIMITED', 'throttled', '429', 429, retryAfters[next]);
    return 'ok';
  };
  const gaps = () => calls.slice(1).map((at, i) => at - calls[i]!);
  return { call, calls, gaps };
}

// Timers may fire a millisecond early against performance.now(); never more.
const SLACK_MS = 2;

describe('withThrottleRetries', () => {
  it('waits no less than its own backoff when the vault says Retry-After: 0 (OpenBao does, in the last second of a quota window)', async () => {
    const throttled = throttledCall([0, 0]);
    const answer = await withThrottleRetries(throttled.call, { deadline: Date.now() + 10_000, backoffMs: 150 });
    expect(answer).toBe('ok');
    const [first, second] = throttled.gaps();
    expect(first).toBeGreaterThanOrEqual(150 - SLACK_MS);
    expect(second).toBeGreaterThanOrEqual(300 - SLACK_MS);
  });

  it('waits out a Retry-After longer than its backoff in full', async () => {
    const throttled = throttledCall([400]);
    await withThrottleRetries(throttled.call, { deadline: Date.now() + 10_000, backoffMs: 50 });
    expect(throttled.gaps()[0]).toBeGreaterThanOrEqual(400 - SLACK_MS);
  });

  it('backs off without a Retry-After', async () => {
    const throttled = throttledCall([undefined, undefined]);
    await withThrottleRetries(throttled.call, { deadline: Date.now() + 10_000, backoffMs: 100 });
    const [first, second] = throttled.gaps();
    expect(first).toBeGreaterThanOrEqual(100 - SLACK_MS);
    expect(second).toBeGreaterThanOrEqual(200 - SLACK_MS);
  });

  it('gives VAULT_RATE_LIMITED up, with the wait asked, when the wait does not fit in the time left or the tries are spent', async () => {
    const tooLong = throttledCall([5_000]);
    const err = await withThrottleRetries(tooLong.call, { deadline: Date.now() + 1_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ScanError);
    expect(err).toMatchObject({ code: 'VAULT_RATE_LIMITED', retryAfterMs: 5_000 });
    expect(tooLong.calls).toHaveLength(1);

    const spent = throttledCall([0, 0, 0]);
    const again = await withThrottleRetries(spent.call, {
      deadline: Date.now() + 10_000,
      attempts: 3,
      backoffMs: 20,
    }).catch((e: unknown) => e);
    expect(again).toMatchObject({ code: 'VAULT_RATE_LIMITED' });
    expect(spent.calls).toHaveLength(3);
  });
});
