// LoginSlots: a per-scan limit on hosts logged into at once, handed over in arrival order.
import { describe, expect, it } from 'vitest';
import { LoginSlots } from '../activities/login-slots.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('LoginSlots', () => {
  it('lets at most the limit in at once, then hands slots over in arrival order', async () => {
    const slots = new LoginSlots();
    const first = await slots.acquire('scan-a', 2);
    const second = await slots.acquire('scan-a', 2);
    const order: string[] = [];
    const third = slots.acquire('scan-a', 2).then((release) => (order.push('third'), release));
    const fourth = slots.acquire('scan-a', 2).then((release) => (order.push('fourth'), release));
    await tick();
    expect(order).toEqual([]);
    expect(slots.inUse('scan-a')).toBe(2);

    first();
    first(); // giving a slot back twice frees it once
    await tick();
    expect(order).toEqual(['third']);
    expect(slots.inUse('scan-a')).toBe(2);
    second();
    await tick();
    expect(order).toEqual(['third', 'fourth']);
    (await third)();
    (await fourth)();
    expect(slots.inUse('scan-a')).toBe(0);
  });

  it('keeps each scan to its own limit', async () => {
    const slots = new LoginSlots();
    const a = await slots.acquire('scan-a', 1);
    const b = await slots.acquire('scan-b', 1);
    let waited = false;
    const next = slots.acquire('scan-a', 1).then((release) => ((waited = true), release));
    await tick();
    expect(waited).toBe(false);
    b();
    await tick();
    expect(waited).toBe(false);
    a();
    (await next)();
    expect([slots.inUse('scan-a'), slots.inUse('scan-b')]).toEqual([0, 0]);
  });

  it('drops a waiter whose activity is cancelled, without losing a slot', async () => {
    const slots = new LoginSlots();
    const held = await slots.acquire('scan-a', 1);
    const cancelled = new AbortController();
    const waiting = slots.acquire('scan-a', 1, cancelled.signal);
    const after = slots.acquire('scan-a', 1);
    cancelled.abort(new Error('cancelled'));
    await expect(waiting).rejects.toThrow('cancelled');
    held();
    (await after)();
    expect(slots.inUse('scan-a')).toBe(0);
    await expect(slots.acquire('scan-a', 1, AbortSignal.abort(new Error('already')))).rejects.toThrow('already');
    expect(slots.inUse('scan-a')).toBe(0);
  });
});
