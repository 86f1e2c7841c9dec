// A schedule's timing checked before Temporal is asked: the cron grammar Temporal runs (five
// fields), intervals, time zones and the catch-up window, each mistake naming its field; and
// Temporal's description of a calendar read back as the cron expression it came from.
import { describe, expect, it } from 'vitest';
import {
  checkTiming,
  cronOfCalendar,
  formatDuration,
  parseCron,
  timeZoneProblem,
  TimingError,
  type DescribedCalendar,
} from '../domain/schedule-timing.js';

const timing = (over: Partial<Parameters<typeof checkTiming>[0]>) =>
  checkTiming({ cron: [], intervals: [], timeZone: 'UTC', catchupWindow: '1h', ...over });

const refusal = (over: Partial<Parameters<typeof checkTiming>[0]>) => {
  try {
    timing(over);
  } catch (err) {
    if (err instanceof TimingError) return { field: err.field, reason: err.reason };
    throw err;
  }
  return undefined;
};

describe('cron expressions', () => {
  it.each([
    '30 2 * * 1-5',
    '*/15 8-17 * jan-mar mon,fri',
    '5/20 * * * *',
    '0 0 29 2 *',
    '0 12 1,15 * *',
    '@daily',
    '@hourly',
    '  0   3 * * sun  ',
  ])('takes %j', (expression) => {
    expect(() => parseCron(expression)).not.toThrow();
  });

  it.each([
    ['61 * * * *', /minute: 61 is out of range 0-59/],
    ['0 24 * * *', /hour: 24 is out of range 0-23/],
    ['0 0 * * 7', /day-of-week: 7 is out of range 0-6 \(Sunday is 0\)/],
    ['0 0 0 * *', /day-of-month: 0 is out of range 1-31/],
    ['0 0 * 13 *', /month: 13/],
    ['0 0 * * * *', /has 6 fields; it takes 5/],
    ['0 0 * *', /has 4 fields/],
    ['x y z', /has 3 fields/],
    ['*/0 * * * *', /step .* must be a whole number, 1 or more/],
    ['5-1 * * * *', /runs backwards/],
    ['0 0 L * *', /day-of-month: "L" is not a value/],
    ['0 0 ? * *', /is not a value/],
    ['0 0 * * mo#2', /comments/],
    ['0 0 * ma *', /month: "ma" is not a value/],
    ['0 0 31 2 *', /matches no date/],
    ['0 0 31 4,6,9,11 *', /matches no date/],
    ['@every 5m', /intervals/],
    ['CRON_TZ=Europe/Berlin 0 0 * * *', /timeZone/],
    ['@fortnightly', /not a shorthand/],
    ['1,,2 * * * *', /malformed/],
  ])('refuses %j', (expression, reason) => {
    expect(() => parseCron(expression)).toThrow(reason);
  });

  it('requires day-of-month and day-of-week to match together, as Temporal does', () => {
    // Friday the 13th happens; a 13th that is a Friday in February of a leap year too.
    expect(() => parseCron('0 9 13 * fri')).not.toThrow();
    expect(() => parseCron('0 9 29 2 mon')).not.toThrow();
  });
});

describe('the whole timing', () => {
  it('names the field at fault', () => {
    expect(refusal({})).toMatchObject({ field: 'cron', reason: /never runs/ });
    expect(refusal({ cron: ['0 0 * * *', '99 * * * *'] })).toMatchObject({ field: 'cron.1' });
    expect(refusal({ intervals: [{ every: '10m', offset: '10m' }] })).toMatchObject({
      field: 'intervals.0.offset',
      reason: 'must be shorter than every',
    });
    expect(refusal({ intervals: [{ every: '0s' }] })).toMatchObject({ field: 'intervals.0.every' });
    expect(refusal({ intervals: [{ every: '400d' }] })).toMatchObject({ field: 'intervals.0.every' });
    expect(refusal({ cron: ['@daily'], timeZone: 'Mars/Olympus_Mons' })).toMatchObject({ field: 'timeZone' });
    expect(refusal({ cron: ['@daily'], timeZone: '+01:00' })).toMatchObject({ field: 'timeZone' });
    expect(refusal({ cron: ['@daily'], catchupWindow: '5s' })).toMatchObject({ field: 'catchupWindow' });
    expect(refusal({ cron: ['@daily'], catchupWindow: '8d' })).toMatchObject({ field: 'catchupWindow' });
  });

  it('answers the timing in Temporal’s units', () => {
    expect(
      timing({ cron: [' 30  2 * * 1-5 '], intervals: [{ every: '6h', offset: '15m' }], timeZone: 'Europe/Berlin' }),
    ).toEqual({
      cron: ['30 2 * * 1-5'],
      intervals: [{ everyMs: 6 * 3_600_000, offsetMs: 15 * 60_000 }],
      timeZone: 'Europe/Berlin',
      catchupWindowMs: 3_600_000,
    });
  });
});

describe('time zones', () => {
  it.each(['UTC', 'Europe/Berlin', 'America/Argentina/Buenos_Aires', 'Etc/GMT+5', 'US/Pacific'])('takes %s', (tz) => {
    expect(timeZoneProblem(tz)).toBeUndefined();
  });
  it('tells the spelling the server needs', () => {
    expect(timeZoneProblem('europe/berlin')).toBe('is spelled Europe/Berlin');
  });
  it.each(['Europe/Atlantis', 'Nowhere', '+01:00', 'UTC+1', '', '../../etc/passwd'])('refuses %j', (tz) => {
    expect(timeZoneProblem(tz)).toBeDefined();
  });
});

describe('what Temporal describes, read back', () => {
  const full = <U>(start: U, end: U) => [{ start, end, step: 1 }];
  const calendar = (over: Partial<DescribedCalendar>): DescribedCalendar => ({
    second: full(0, 0),
    minute: full(0, 0),
    hour: full(0, 0),
    dayOfMonth: full(1, 31),
    month: full('JANUARY', 'DECEMBER'),
    year: [],
    dayOfWeek: full('SUNDAY', 'SATURDAY'),
    ...over,
  });

  it('gives the five fields back', () => {
    expect(
      cronOfCalendar(calendar({ minute: full(30, 30), hour: full(2, 2), dayOfWeek: full('MONDAY', 'FRIDAY') })),
    ).toBe('30 2 * * 1-5');
    expect(
      cronOfCalendar(
        calendar({
          minute: [{ start: 0, end: 59, step: 15 }],
          hour: full(8, 17),
          month: full('JANUARY', 'MARCH'),
          dayOfWeek: [...full('MONDAY', 'MONDAY'), ...full('FRIDAY', 'FRIDAY')],
        }),
      ),
    ).toBe('*/15 8-17 * 1-3 1,5');
    expect(cronOfCalendar(calendar({ minute: [{ start: 5, end: 59, step: 20 }] }))).toBe('5-59/20 0 * * *');
  });

  it('shows seconds and a year when a calendar made elsewhere has them', () => {
    expect(cronOfCalendar(calendar({ second: full(30, 30), year: full(2030, 2030) }))).toBe('30 0 0 * * * 2030');
    expect(cronOfCalendar(calendar({ year: full(2030, 2031) }))).toBe('0 0 * * * 2030-2031');
  });

  it('writes durations in their largest exact unit', () => {
    expect([7_200_000, 90_000, 2_000, 86_400_000, 0].map(formatDuration)).toEqual(['2h', '90s', '2s', '1d', '0s']);
  });
});
