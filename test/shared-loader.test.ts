// The loader behind GET /scans/:id: one load per key per second however many ask, stale values
// served while a refresh runs (within bounds), a final value kept, a failure not shared with
// later callers, bounded memory.
import { describe, expect, it } from 'vitest';
import { createSharedLoader } from '../api/shared-loader.js';

function counter(values: Record<string, string[]>) {
  const calls: string[] = [];
  const load = async (key: string) => {
    calls.push(key);
    const next = values[key]?.shift();
    if (next === undefined) throw new Error(`no ${key}`);
    await new Promise((r) => setTimeout(r, 5));
    return next;
  };
  return { calls, load };
}

describe('createSharedLoader', () => {
  it('loads once for concurrent callers, then serves the value while one refresh runs behind it', async () => {
    let clock = 0;
    const { calls, load } = counter({ a: ['RUNNING 1', 'RUNNING 2', 'RUNNING 3'] });
    const get = createSharedLoader(load, { maxAgeMs: 1_000, maxStaleMs: 5_000, now: () => clock });
    expect(new Set(await Promise.all(Array.from({ length: 50 }, () => get('a'))))).toEqual(new Set(['RUNNING 1']));
    expect(calls).toEqual(['a']);
    clock = 999;
    expect(await get('a')).toBe('RUNNING 1');
    expect(calls).toEqual(['a']);

    // A second old: answered at once with what is known, one refresh for all of them.
    clock = 1_000;
    expect(await Promise.all([get('a'), get('a'), get('a')])).toEqual(['RUNNING 1', 'RUNNING 1', 'RUNNING 1']);
    expect(calls).toEqual(['a', 'a']);
    await new Promise((r) => setTimeout(r, 20));
    expect(await get('a')).toBe('RUNNING 2');

    // Too old to serve (nobody asked for a while): callers wait for the fresh value.
    clock = 7_000;
    expect(await get('a')).toBe('RUNNING 3');
    expect(calls).toEqual(['a', 'a', 'a']);
  });

  it('stops serving a value whose refresh failed', async () => {
    let clock = 0;
    const { calls, load } = counter({ gone: ['RUNNING'] });
    const get = createSharedLoader(load, { now: () => clock });
    expect(await get('gone')).toBe('RUNNING');
    clock = 1_500;
    expect(await get('gone')).toBe('RUNNING'); // its refresh fails behind it
    await new Promise((r) => setTimeout(r, 20));
    await expect(get('gone')).rejects.toThrow('no gone');
    expect(calls).toEqual(['gone', 'gone', 'gone']);
  });

  it('keeps a final value however old it gets', async () => {
    let clock = 0;
    const { calls, load } = counter({ s: ['FINISHED', 'never loaded'] });
    const get = createSharedLoader(load, { now: () => clock, isFinal: (v) => v === 'FINISHED' });
    expect(await get('s')).toBe('FINISHED');
    clock = 10_000_000;
    expect(await get('s')).toBe('FINISHED');
    expect(calls).toEqual(['s']);
  });

  it('does not serve a failure to later callers', async () => {
    const { calls, load } = counter({});
    const get = createSharedLoader(load);
    await expect(get('gone')).rejects.toThrow('no gone');
    await expect(get('gone')).rejects.toThrow('no gone');
    expect(calls).toEqual(['gone', 'gone']);
  });

  it('forgets the least recently loaded key beyond its capacity', async () => {
    const { calls, load } = counter({ a: ['1', '2'], b: ['1'], c: ['1'] });
    const get = createSharedLoader(load, { maxEntries: 2, isFinal: () => true });
    await get('a');
    await get('b');
    await get('c'); // evicts a
    await get('b');
    expect(await get('a')).toBe('2');
    expect(calls).toEqual(['a', 'b', 'c', 'a']);
  });
});
