// When a schedule runs, as the API takes it: cron expressions and intervals in an IANA time zone,
// an overlap policy and a catch-up window. Checked here, before Temporal is asked, so a mistake
// is a 400 naming its field; the cron grammar is Temporal's own (service/worker/scheduler in the
// server), narrowed to the five classic fields, so what passes here is what the server runs.
// Pure: no I/O.

/** What happens when a run is due while the previous one is still going (Temporal's overlap policies). */
export const OVERLAP_POLICIES = [
  'skip',
  'buffer_one',
  'buffer_all',
  'cancel_other',
  'terminate_other',
  'allow_all',
] as const;
export type OverlapPolicy = (typeof OVERLAP_POLICIES)[number];

/** Temporal's name of a policy ('skip' → 'SKIP'). */
export const temporalOverlap = (policy: OverlapPolicy) =>
  policy.toUpperCase() as 'SKIP' | 'BUFFER_ONE' | 'BUFFER_ALL' | 'CANCEL_OTHER' | 'TERMINATE_OTHER' | 'ALLOW_ALL';

/** Ours, from Temporal's ('BUFFER_ONE' → 'buffer_one'); unknown names read as the default, skip. */
export const overlapFromTemporal = (name: string | undefined): OverlapPolicy => {
  const policy = (name ?? 'SKIP').toLowerCase();
  return (OVERLAP_POLICIES as readonly string[]).includes(policy) ? (policy as OverlapPolicy) : 'skip';
};

/** A duration as the API writes it: a whole number and one unit, s, m, h or d ("90s", "6h", "7d"). */
export const DURATION_PATTERN = '^[0-9]{1,7}[smhd]$';
const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

export const LIMITS = {
  cronExpressions: 10,
  intervals: 10,
  /** Temporal's own floor for an interval. */
  minEveryMs: 1_000,
  maxEveryMs: 366 * UNIT_MS.d,
  /** Temporal raises a shorter catch-up window to 10 s; saying so here keeps GET truthful. */
  minCatchupWindowMs: 10_000,
  maxCatchupWindowMs: 7 * UNIT_MS.d,
  defaultCatchupWindow: '1h',
  defaultTimeZone: 'UTC',
} as const;

export function parseDuration(text: string): number {
  const match = /^([0-9]{1,7})([smhd])$/.exec(text);
  if (!match) throw new TypeError(`not a duration: ${text}`);
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

/** The largest unit that says it exactly ("7200000" → "2h"); Temporal keeps whole seconds. */
export function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
  ] as const)
    if (seconds > 0 && seconds % size === 0) return `${seconds / size}${unit}`;
  return `${seconds}s`;
}

/** A field of the request at fault, and why (the API answers 400 with both). */
export class TimingError extends Error {
  override readonly name = 'TimingError';
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}

// --- cron -------------------------------------------------------------------------------------

interface CronField {
  name: string;
  min: number;
  max: number;
  /** Names accepted for values, and the shortest prefix of one that counts (Temporal's rule). */
  names?: { list: readonly string[]; first: number; minPrefix: number };
}

const MONTH_NAMES = [
  'january',
  'february',
  'march',
  'april',
  'may',
  'june',
  'july',
  'august',
  'september',
  'october',
  'november',
  'december',
] as const;
const DAY_NAMES = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'] as const;

const CRON_FIELDS: readonly CronField[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: { list: MONTH_NAMES, first: 1, minPrefix: 3 } },
  // 0-6 only: Temporal reads 7 as Sunday in some places and not in others (a range 1-7 loses Sunday).
  { name: 'day-of-week', min: 0, max: 6, names: { list: DAY_NAMES, first: 0, minPrefix: 2 } },
];

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/** The values a cron expression's five fields match, in their order. */
export type CronMatch = [Set<number>, Set<number>, Set<number>, Set<number>, Set<number>];

function parseValue(text: string, field: CronField): number {
  if (/^[0-9]{1,2}$/.test(text)) {
    const value = Number(text);
    if (value < field.min || value > field.max)
      throw new Error(
        `${field.name}: ${value} is out of range ${field.min}-${field.max}${field.name === 'day-of-week' && value === 7 ? ' (Sunday is 0)' : ''}`,
      );
    return value;
  }
  const names = field.names;
  const lower = text.toLowerCase();
  if (names && lower.length >= names.minPrefix && /^[a-z]+$/.test(lower)) {
    const index = names.list.findIndex((n) => n.startsWith(lower));
    if (index >= 0) return index + names.first;
  }
  throw new Error(`${field.name}: "${text}" is not a value (${field.min}-${field.max}${names ? ' or a name' : ''})`);
}

function parseField(text: string, field: CronField): Set<number> {
  const values = new Set<number>();
  for (const part of text.split(',')) {
    const [span, stepText, ...extra] = part.split('/');
    if (extra.length > 0 || span === undefined || span === '') throw new Error(`${field.name}: "${part}" is malformed`);
    let step = 1;
    if (stepText !== undefined) {
      if (!/^[0-9]{1,2}$/.test(stepText) || Number(stepText) < 1)
        throw new Error(`${field.name}: the step in "${part}" must be a whole number, 1 or more`);
      step = Number(stepText);
    }
    let start = field.min;
    let end = field.max;
    if (span !== '*') {
      const bounds = span.split('-');
      if (bounds.length > 2 || bounds.some((b) => b === '')) throw new Error(`${field.name}: "${part}" is malformed`);
      start = parseValue(bounds[0]!, field);
      // A single value with a step runs to the field's end ("5/20": 5, 25, 45); alone it is itself.
      end = bounds.length === 2 ? parseValue(bounds[1]!, field) : stepText === undefined ? start : field.max;
      if (end < start) throw new Error(`${field.name}: "${part}" runs backwards (no wrapping around)`);
    }
    for (let v = start; v <= end; v += step) values.add(v);
  }
  return values;
}

const daysIn = (year: number, month: number) => new Date(Date.UTC(year, month, 0)).getUTCDate();

/**
 * Whether some date matches day-of-month, month and day-of-week together. Temporal requires all
 * three (it has no cron's "either day field" rule); 28 years hold every weekday of every date,
 * 29 February included.
 */
function matchesSomeDate([, , days, months, weekdays]: CronMatch): boolean {
  for (let year = 2001; year <= 2028; year++)
    for (const month of months)
      for (const day of days)
        if (day <= daysIn(year, month) && weekdays.has(new Date(Date.UTC(year, month - 1, day)).getUTCDay()))
          return true;
  return false;
}

/**
 * Parses a five-field cron expression (minute hour day-of-month month day-of-week), or a
 * shorthand (@hourly, @daily, @weekly, @monthly, @yearly), as Temporal reads it: lists, ranges,
 * steps, month and weekday names; day-of-month and day-of-week must both match. Throws an Error
 * whose message says what is wrong.
 */
export function parseCron(expression: string): CronMatch {
  const text = expression.trim();
  if (/^(CRON_)?TZ=/i.test(text)) throw new Error('give the time zone in timeZone, not in the expression');
  if (text.startsWith('@every')) throw new Error('give intervals in intervals ({"every": "15m"}), not as @every');
  if (text.includes('#')) throw new Error('comments (#) are not taken');
  if (text.startsWith('@') && !(text in MACROS))
    throw new Error(`"${text}" is not a shorthand (${Object.keys(MACROS).join(', ')})`);
  const fields = (MACROS[text] ?? text).split(/\s+/);
  if (fields.length !== 5)
    throw new Error(
      `has ${fields.length} field${fields.length === 1 ? '' : 's'}; it takes 5: minute hour day-of-month month day-of-week (no seconds, no year)`,
    );
  const match = fields.map((f, i) => parseField(f, CRON_FIELDS[i]!)) as CronMatch;
  if (!matchesSomeDate(match))
    throw new Error(
      'matches no date: its day-of-month, month and day-of-week never fall together (all three must match)',
    );
  return match;
}

/** A range as Temporal describes a calendar's field; months and weekdays by name. */
export interface DescribedRange<Unit> {
  start: Unit;
  end: Unit;
  step: number;
}

/** The structured calendar Temporal keeps for a cron expression (what describe() returns). */
export interface DescribedCalendar {
  second: DescribedRange<number>[];
  minute: DescribedRange<number>[];
  hour: DescribedRange<number>[];
  dayOfMonth: DescribedRange<number>[];
  month: DescribedRange<string>[];
  year: DescribedRange<number>[];
  dayOfWeek: DescribedRange<string>[];
}

function renderField<Unit>(
  ranges: DescribedRange<Unit>[],
  min: number,
  max: number,
  toNumber: (u: Unit) => number,
): string {
  if (ranges.length === 0) return '*';
  return ranges
    .map((r) => {
      const start = toNumber(r.start);
      const end = Math.max(start, toNumber(r.end));
      const step = r.step < 1 ? 1 : r.step;
      if (start === min && end === max) return step === 1 ? '*' : `*/${step}`;
      if (start === end) return String(start);
      return step === 1 ? `${start}-${end}` : `${start}-${end}/${step}`;
    })
    .join(',');
}

const byName = (names: readonly string[], first: number) => (u: string) => {
  const index = names.indexOf(u.toLowerCase());
  return index < 0 ? Number(u) : index + first;
};

/**
 * The cron expression for a calendar Temporal keeps: the five fields for what this API creates,
 * with seconds in front and a year behind when the calendar has them (one made elsewhere, in the
 * CLI or another SDK). Ranges are written out ("mon-fri" reads back "1-5").
 */
export function cronOfCalendar(calendar: DescribedCalendar): string {
  const five = [
    renderField(calendar.minute, 0, 59, Number),
    renderField(calendar.hour, 0, 23, Number),
    renderField(calendar.dayOfMonth, 1, 31, Number),
    renderField(calendar.month, 1, 12, byName(MONTH_NAMES, 1)),
    renderField(calendar.dayOfWeek, 0, 6, byName(DAY_NAMES, 0)),
  ];
  const second = renderField(calendar.second, 0, 59, Number);
  const year = calendar.year.length === 0 ? '*' : renderField(calendar.year, 2000, 2100, Number);
  if (second !== '0') return [second, ...five, year].join(' ');
  return year === '*' ? five.join(' ') : [...five, year].join(' ');
}

// --- time zones -----------------------------------------------------------------------------------

/** Why a time zone name will not do, or undefined when it will. */
export function timeZoneProblem(timeZone: string): string | undefined {
  // IANA names only: an offset ("+01:00") is no zone the Temporal server can load.
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+){0,2}$/.test(timeZone))
    return 'is not an IANA time zone name (such as Europe/Berlin, America/New_York or UTC)';
  let resolved: string;
  try {
    resolved = new Intl.DateTimeFormat('en-US', { timeZone }).resolvedOptions().timeZone;
  } catch {
    return 'is not a time zone that exists (IANA names such as Europe/Berlin, America/New_York or UTC)';
  }
  // The server loads zones by file name: the case must be right.
  if (resolved !== timeZone && resolved.toLowerCase() === timeZone.toLowerCase()) return `is spelled ${resolved}`;
  return undefined;
}

// --- the whole timing ---------------------------------------------------------------------------------

export interface TimingInput {
  cron: string[];
  intervals: { every: string; offset?: string }[];
  timeZone: string;
  catchupWindow: string;
}

export interface CheckedTiming {
  cron: string[];
  intervals: { everyMs: number; offsetMs: number }[];
  timeZone: string;
  catchupWindowMs: number;
}

/** Each expression checked (TimingError naming `cron.<i>`), written with single spaces. */
export function checkCron(cron: string[]): string[] {
  if (cron.length > LIMITS.cronExpressions)
    throw new TimingError('cron', `takes at most ${LIMITS.cronExpressions} expressions`);
  return cron.map((expression, i) => {
    try {
      parseCron(expression);
    } catch (err) {
      throw new TimingError(`cron.${i}`, (err as Error).message);
    }
    return expression.trim().replace(/\s+/g, ' ');
  });
}

export function checkIntervals(intervals: TimingInput['intervals']): CheckedTiming['intervals'] {
  if (intervals.length > LIMITS.intervals)
    throw new TimingError('intervals', `takes at most ${LIMITS.intervals} intervals`);
  return intervals.map((interval, i) => {
    const everyMs = parseDuration(interval.every);
    const offsetMs = interval.offset === undefined ? 0 : parseDuration(interval.offset);
    if (everyMs < LIMITS.minEveryMs || everyMs > LIMITS.maxEveryMs)
      throw new TimingError(`intervals.${i}.every`, 'must be between 1s and 366d');
    if (offsetMs >= everyMs) throw new TimingError(`intervals.${i}.offset`, 'must be shorter than every');
    return { everyMs, offsetMs };
  });
}

export function checkTimeZone(timeZone: string): string {
  const problem = timeZoneProblem(timeZone);
  if (problem) throw new TimingError('timeZone', problem);
  return timeZone;
}

export function checkCatchupWindow(text: string): number {
  const ms = parseDuration(text);
  if (ms < LIMITS.minCatchupWindowMs || ms > LIMITS.maxCatchupWindowMs)
    throw new TimingError('catchupWindow', 'must be between 10s and 7d');
  return ms;
}

/** A schedule with no cron expression and no interval never runs. */
export function requireSomeTiming(cronCount: number, intervalCount: number): void {
  if (cronCount === 0 && intervalCount === 0)
    throw new TimingError('cron', 'give at least one cron expression or one interval: otherwise it never runs');
}

/** Checks the whole timing of a new schedule; throws TimingError naming the first field at fault. */
export function checkTiming(input: TimingInput): CheckedTiming {
  requireSomeTiming(input.cron.length, input.intervals.length);
  return {
    cron: checkCron(input.cron),
    intervals: checkIntervals(input.intervals),
    timeZone: checkTimeZone(input.timeZone),
    catchupWindowMs: checkCatchupWindow(input.catchupWindow),
  };
}
