// The appliance pool's choices, alone: which appliance takes the next batch, where a batch moves,
// and what a probe or a lost batch changes. The scan workflow tests drive it through Temporal.
import { describe, expect, it } from 'vitest';
import { AppliancePool, mayHandBack } from '../workflows/appliance-pool.js';

const LIMIT = 4;

describe('AppliancePool', () => {
  it('hands each batch to the appliance with the fewest hosts running, in the order named among equals', () => {
    const pool = new AppliancePool(['a', 'b', 'c']);
    expect(pool.pick(LIMIT)).toEqual({ applianceId: 'a', room: 4 });
    pool.started('a', 2);
    expect(pool.pick(LIMIT)).toEqual({ applianceId: 'b', room: 4 });
    pool.started('b', 1);
    pool.started('c', 3);
    expect(pool.pick(LIMIT)).toEqual({ applianceId: 'b', room: 3 });
    pool.started('b', 3);
    pool.started('a', 2);
    expect(pool.pick(LIMIT)).toEqual({ applianceId: 'c', room: 1 });
    pool.started('c', 1);
    // Every one full: nothing is handed out until a batch ends.
    expect(pool.pick(LIMIT)).toBeUndefined();
    pool.ended('a', 2);
    expect(pool.pick(LIMIT)).toEqual({ applianceId: 'a', room: 2 });
  });

  it('passes over an appliance that did not answer a probe while another answers, and uses it when none does', () => {
    const pool = new AppliancePool(['a', 'b']);
    pool.probed('a', false);
    expect(pool.candidates()).toEqual(['b']);
    expect(pool.stateOf('a')).toBe('silent');
    pool.probed('b', false);
    // Silence is no proof: with nobody answering, work still goes out (and waits for a worker).
    expect(pool.candidates()).toEqual(['a', 'b']);
    pool.probed('a', true);
    expect(pool.candidates()).toEqual(['a']);
    expect(pool.unreachable()).toEqual(['b']);
  });

  it('gives no more batches to an appliance a batch found without workers, until a probe is answered', () => {
    const pool = new AppliancePool(['a', 'b']);
    pool.markLost('a');
    expect(pool.candidates()).toEqual(['b']);
    expect(pool.alternatesTo('b')).toEqual([]);
    // A probe that goes unanswered leaves it lost (not merely silent).
    pool.probed('a', false);
    expect(pool.stateOf('a')).toBe('lost');
    pool.markLost('b');
    expect(pool.candidates()).toEqual([]);
    expect(pool.pick(LIMIT)).toBeUndefined();
    pool.probed('b', true);
    expect(pool.candidates()).toEqual(['b']);
    // Not a member: nothing changes.
    pool.markLost('z');
    expect(pool.unreachable()).toEqual(['a']);
  });

  it('offers the others as alternates, least loaded first, and carries what it learnt across continue-as-new', () => {
    const pool = new AppliancePool(['a', 'b', 'c']);
    pool.started('b', 3);
    pool.started('c', 1);
    expect(pool.alternatesTo('a')).toEqual(['c', 'b']);
    pool.markLost('c');
    pool.probed('b', false);
    const again = new AppliancePool(['a', 'b', 'c'], pool.snapshot());
    expect(['a', 'b', 'c'].map((id) => again.stateOf(id))).toEqual(['live', 'silent', 'lost']);
    expect(again.candidates()).toEqual(['a']);
  });

  it('lets a batch hand its hosts back while none has gone round the pool already', () => {
    const host = (ip: string, handBacks?: number) => ({
      ip,
      authRecordId: 'r',
      ...(handBacks !== undefined && { earlier: { attempts: [], tries: 0, handBacks } }),
    });
    expect(mayHandBack([host('10.0.0.1')], 1)).toBe(false); // no pool
    expect(mayHandBack([host('10.0.0.1'), host('10.0.0.2', 1)], 3)).toBe(true);
    // Handed back by as many batches as the pool has other appliances: this batch ends where it is.
    expect(mayHandBack([host('10.0.0.1'), host('10.0.0.2', 2)], 3)).toBe(false);
    expect(mayHandBack([host('10.0.0.2', 1)], 2)).toBe(false);
  });
});
