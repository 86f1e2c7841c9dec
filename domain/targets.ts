// Target specs: single IPs, ranges a-b and CIDRs, IPv4 and IPv6. Pure (no I/O), so the API,
// the control plane and the workflows can all use it.
//
// Internally every address is a point in one 128-bit space: IPv6 as itself, IPv4 mapped into
// ::ffff:0:0/96. Ranges of both families then sort, merge and subtract with the same code, and
// "::ffff:10.0.0.1" is recognised as the IPv4 host 10.0.0.1 it really is.
import ipaddr from 'ipaddr.js';

export interface IpRange {
  /** Canonical text of the first and last address (dotted IPv4, RFC 5952 IPv6). */
  first: string;
  last: string;
  version: 4 | 6;
}

export type TargetKind = 'ip' | 'range' | 'cidr';

/** The most hosts one scan may cover: 2^20. A /64 by mistake is refused, not enumerated. */
export const MAX_SCAN_HOSTS = 1_048_576;

/** A target spec that cannot be used; the message names the bad entry and the reason. */
export class TargetSpecError extends Error {
  override readonly name = 'TargetSpecError';
  constructor(
    message: string,
    readonly entry?: string,
  ) {
    super(message);
  }
}

const V4_BASE = 0xffffn << 32n;
const V4_LAST = V4_BASE + 0xffff_ffffn;
const MAX_128 = (1n << 128n) - 1n;

interface Span {
  lo: bigint;
  hi: bigint;
}

const isV4Value = (value: bigint) => value >= V4_BASE && value <= V4_LAST;

function bytesToBigInt(bytes: number[]): bigint {
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  return value;
}

/** Strict parse: four-part decimal IPv4 (no "10.1", no octal "010.0.0.1") or IPv6 without zone. */
function parseAddress(text: string): { value: bigint; writtenAsV4: boolean } {
  if (text.includes(':')) {
    if (!ipaddr.IPv6.isValid(text) || text.includes('%'))
      throw new TargetSpecError(`${text} is not a valid IP address`, text);
    return { value: bytesToBigInt(ipaddr.IPv6.parse(text).toByteArray()), writtenAsV4: false };
  }
  if (!ipaddr.IPv4.isValidFourPartDecimal(text)) {
    throw new TargetSpecError(`${text === '' ? '(empty)' : text} is not a valid IP address`, text);
  }
  return { value: V4_BASE + bytesToBigInt(ipaddr.IPv4.parse(text).toByteArray()), writtenAsV4: true };
}

function formatValue(value: bigint): string {
  if (isV4Value(value)) {
    const v = Number(value - V4_BASE);
    return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const bytes: number[] = [];
  for (let shift = 120n; shift >= 0n; shift -= 8n) bytes.push(Number((value >> shift) & 0xffn));
  return ipaddr.fromByteArray(bytes).toString();
}

const versionOf = (span: Span): 4 | 6 => (isV4Value(span.lo) && isV4Value(span.hi) ? 4 : 6);
const toRange = (span: Span): IpRange => ({
  first: formatValue(span.lo),
  last: formatValue(span.hi),
  version: versionOf(span),
});
const toSpan = (range: IpRange): Span => ({ lo: parseAddress(range.first).value, hi: parseAddress(range.last).value });
const spanSize = (span: Span) => span.hi - span.lo + 1n;

function parseCidr(entry: string): Span {
  const slash = entry.lastIndexOf('/');
  const address = parseAddress(entry.slice(0, slash));
  const prefixText = entry.slice(slash + 1);
  const bits = address.writtenAsV4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > bits) {
    throw new TargetSpecError(
      `${entry} is not a valid CIDR block: the prefix length must be a number from 0 to ${bits}`,
      entry,
    );
  }
  const hostBits = BigInt(bits - Number(prefixText));
  const hostMask = (1n << hostBits) - 1n;
  // Host bits set ("10.0.0.5/24") are cleared: the block is what the user meant.
  const lo = address.value & (MAX_128 ^ hostMask);
  return { lo, hi: lo | hostMask };
}

function parseRange(entry: string): Span {
  const dash = entry.indexOf('-');
  const [startText, endText] = [entry.slice(0, dash), entry.slice(dash + 1)];
  if (startText === '' || endText === '') throw new TargetSpecError(`range ${entry} is missing an end`, entry);
  const start = parseAddress(startText).value;
  const end = parseAddress(endText).value;
  if (isV4Value(start) !== isV4Value(end)) {
    throw new TargetSpecError(`range ${entry}: a range's ends must both be IPv4 or both IPv6`, entry);
  }
  if (end < start) throw new TargetSpecError(`range ${entry} ends before it starts`, entry);
  return { lo: start, hi: end };
}

const v4Block = (first: number, prefix: number): Span => {
  const lo = V4_BASE + (BigInt(first) << 24n);
  return { lo, hi: lo + (1n << BigInt(32 - prefix)) - 1n };
};

/**
 * Addresses that name no host, refused in every target spec (assets, scans, authentication
 * records), each with why. The rule is what holds on every network: a directed broadcast
 * (a subnet's last address, 10.0.0.255 of a /24) is not refused, because the subnet's size
 * cannot be known from the address (10.0.0.255 is a host in a /23 or larger), and a TCP
 * connection to a broadcast address is refused by the scanner's own kernel anyway.
 */
const NOT_HOSTS: { span: Span; why: string }[] = [
  { span: { lo: 0n, hi: 0n }, why: 'the unspecified IPv6 address (::)' },
  {
    span: v4Block(0, 8),
    why: '"this network" (0.0.0.0/8), a source address only (RFC 1122); 0.0.0.0 as a destination reaches the scanner itself',
  },
  { span: v4Block(224, 4), why: 'IPv4 multicast (224.0.0.0/4)' },
  { span: { lo: V4_LAST, hi: V4_LAST }, why: 'the limited broadcast address (255.255.255.255)' },
  { span: { lo: 0xffn << 120n, hi: MAX_128 }, why: 'IPv6 multicast (ff00::/8)' },
];

/** Refuses an entry that covers any address that is not a host, naming it and why. */
function refuseNonHosts(entry: string, span: Span): Span {
  for (const { span: bad, why } of NOT_HOSTS) {
    const lo = span.lo > bad.lo ? span.lo : bad.lo;
    const hi = span.hi < bad.hi ? span.hi : bad.hi;
    if (lo > hi) continue;
    const named = formatRange(toRange({ lo, hi }));
    throw new TargetSpecError(
      `${entry} ${span.lo === span.hi ? 'is' : `includes ${named}:`} ${why}, not a host to scan`,
      entry,
    );
  }
  return span;
}

export function classifyEntry(entry: string): TargetKind {
  return entry.includes('/') ? 'cidr' : entry.includes('-') ? 'range' : 'ip';
}

function parseEntrySpan(entry: string): Span {
  const kind = classifyEntry(entry);
  if (kind === 'cidr') return refuseNonHosts(entry, parseCidr(entry));
  if (kind === 'range') return refuseNonHosts(entry, parseRange(entry));
  const value = parseAddress(entry).value;
  return refuseNonHosts(entry, { lo: value, hi: value });
}

/** One entry ("10.0.0.1", "10.0.0.1-10.0.0.9", "10.0.0.0/24", "2001:db8::/120") and its kind. */
export function parseTargetEntry(entry: string): { kind: TargetKind; range: IpRange } {
  const trimmed = entry.trim().replace(/\s*-\s*/, '-');
  if (trimmed === '') throw new TargetSpecError('no target given');
  return { kind: classifyEntry(trimmed), range: toRange(parseEntrySpan(trimmed)) };
}

/** Sorted, with overlapping spans (and adjacent ones of the same family) merged into one. */
function mergeSpans(spans: Span[]): Span[] {
  const sorted = [...spans].sort((a, b) => (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0));
  const merged: Span[] = [];
  for (const span of sorted) {
    const last = merged[merged.length - 1];
    const touches =
      last && (span.lo <= last.hi || (span.lo === last.hi + 1n && isV4Value(span.lo) === isV4Value(last.hi)));
    if (last && touches) last.hi = span.hi > last.hi ? span.hi : last.hi;
    else merged.push({ ...span });
  }
  return merged;
}

/**
 * Parses "10.0.0.1, 10.0.0.5-10.0.0.9 192.168.1.0/30 2001:db8::1" (commas and/or whitespace)
 * into sorted ranges with overlaps merged, so no host appears twice. Throws TargetSpecError
 * naming the first bad entry.
 */
export function parseTargets(spec: string): IpRange[] {
  const entries = spec
    .replace(/\s*-\s*/g, '-')
    .split(/[\s,]+/)
    .filter(Boolean);
  if (entries.length === 0) throw new TargetSpecError('no targets given');
  return mergeSpans(entries.map(parseEntrySpan)).map(toRange);
}

/** Sorts and merges ranges from any source (e.g. several stored records) into one list. */
export function normaliseRanges(ranges: IpRange[]): IpRange[] {
  return mergeSpans(ranges.map(toSpan)).map(toRange);
}

export function countHosts(ranges: IpRange[]): bigint {
  return ranges.reduce((sum, range) => sum + spanSize(toSpan(range)), 0n);
}

/** Refuses ranges too large to scan, saying how large they are and what the limit is. */
export function assertScanSize(ranges: IpRange[], maxHosts: number = MAX_SCAN_HOSTS): void {
  const count = countHosts(ranges);
  if (count > BigInt(maxHosts)) {
    throw new TargetSpecError(
      `the targets cover ${count.toLocaleString('en-US')} hosts; one scan may cover at most ${maxHosts.toLocaleString('en-US')}`,
    );
  }
}

/** parseTargets plus the scan-size limit. */
export function parseScanTargets(spec: string, maxHosts: number = MAX_SCAN_HOSTS): IpRange[] {
  const ranges = parseTargets(spec);
  assertScanSize(ranges, maxHosts);
  return ranges;
}

/**
 * The IPs at positions [offset, offset + limit) of the ranges, in order. Skips whole ranges by
 * arithmetic, so page 200 of a 100,000-host scan costs the same as page 1.
 */
export function hostsAt(ranges: IpRange[], offset: number | bigint, limit: number): string[] {
  if (offset < 0 || limit < 0) throw new RangeError('offset and limit must not be negative');
  const hosts: string[] = [];
  let skip = BigInt(offset);
  for (const range of ranges) {
    if (hosts.length >= limit) break;
    const span = toSpan(range);
    const size = spanSize(span);
    if (skip >= size) {
      skip -= size;
      continue;
    }
    for (let value = span.lo + skip; value <= span.hi && hosts.length < limit; value++) hosts.push(formatValue(value));
    skip = 0n;
  }
  return hosts;
}

/**
 * Up to `limit` IPs of the (merged, ordered) ranges that come after `after` (from the start
 * without it): a keyset page of addresses, as cheap deep in a /8 as at its start.
 */
export function hostsAfter(ranges: IpRange[], after: string | undefined, limit: number): string[] {
  const from = after === undefined ? undefined : parseAddress(after).value + 1n;
  const hosts: string[] = [];
  for (const span of mergeSpans(ranges.map(toSpan))) {
    if (hosts.length >= limit) break;
    if (from !== undefined && span.hi < from) continue;
    const lo = from !== undefined && from > span.lo ? from : span.lo;
    for (let value = lo; value <= span.hi && hosts.length < limit; value++) hosts.push(formatValue(value));
  }
  return hosts;
}

export function containsIp(ranges: IpRange[], ip: string): boolean {
  const value = parseAddress(ip).value;
  return ranges.some((range) => {
    const span = toSpan(range);
    return span.lo <= value && value <= span.hi;
  });
}

/**
 * The sub-ranges of `inner` that NO range of `outer` covers — empty when `inner` lies wholly
 * within `outer`. Used to refuse scan targets outside the registered assets, naming them.
 */
export function rangesWithin(inner: IpRange[], outer: IpRange[]): IpRange[] {
  const covers = mergeSpans(outer.map(toSpan));
  const gaps: Span[] = [];
  for (const span of mergeSpans(inner.map(toSpan))) {
    let cursor = span.lo;
    for (const cover of covers) {
      if (cover.hi < cursor) continue;
      if (cover.lo > span.hi) break;
      if (cover.lo > cursor) gaps.push({ lo: cursor, hi: cover.lo - 1n });
      cursor = cover.hi + 1n;
      if (cursor > span.hi) break;
    }
    if (cursor <= span.hi) gaps.push({ lo: cursor, hi: span.hi });
  }
  return gaps.map(toRange);
}

/** The addresses both lists cover, as ranges (empty when they are disjoint). */
export function overlappingRanges(a: IpRange[], b: IpRange[]): IpRange[] {
  const left = mergeSpans(a.map(toSpan));
  const right = mergeSpans(b.map(toSpan));
  const shared: Span[] = [];
  for (let i = 0, j = 0; i < left.length && j < right.length;) {
    const lo = left[i]!.lo > right[j]!.lo ? left[i]!.lo : right[j]!.lo;
    const hi = left[i]!.hi < right[j]!.hi ? left[i]!.hi : right[j]!.hi;
    if (lo <= hi) shared.push({ lo, hi });
    if (left[i]!.hi < right[j]!.hi) i++;
    else j++;
  }
  return shared.map(toRange);
}

/** Canonical text of one address ("::ffff:10.0.0.1" → "10.0.0.1", "2001:DB8:0::1" → "2001:db8::1"). */
export function normaliseIp(ip: string): string {
  return formatValue(parseAddress(ip).value);
}

/** The address as a 128-bit number (IPv4 as ::ffff:a.b.c.d): orders results numerically, not as text. */
export function ipSortKey(ip: string): bigint {
  return parseAddress(ip).value;
}

export function formatRange(range: IpRange): string {
  return range.first === range.last ? range.first : `${range.first}-${range.last}`;
}
