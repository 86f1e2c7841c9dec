import { describe, expect, it } from 'vitest';
import {
  MAX_SCAN_HOSTS,
  TargetSpecError,
  assertScanSize,
  containsIp,
  countHosts,
  formatRange,
  hostsAt,
  ipSortKey,
  normaliseIp,
  normaliseRanges,
  parseScanTargets,
  parseTargetEntry,
  parseTargets,
  rangesWithin,
  overlappingRanges,
  type IpRange,
} from '../domain/targets.js';

const v4 = (first: string, last = first): IpRange => ({ first, last, version: 4 });
const v6 = (first: string, last = first): IpRange => ({ first, last, version: 6 });

function errorOf(fn: () => unknown): TargetSpecError {
  try {
    fn();
  } catch (err) {
    if (err instanceof TargetSpecError) return err;
    throw err;
  }
  throw new Error('expected a TargetSpecError');
}

describe('parseTargets', () => {
  it('parses single IPs, ranges and CIDRs of both families, separated by commas and/or whitespace', () => {
    const ranges = parseTargets('10.0.0.1, 10.0.1.5-10.0.1.9\n192.168.1.0/30\t2001:db8::1,2001:db8:1::/126');
    expect(ranges).toEqual([
      v4('10.0.0.1'),
      v4('10.0.1.5', '10.0.1.9'),
      v4('192.168.1.0', '192.168.1.3'),
      v6('2001:db8::1'),
      v6('2001:db8:1::', '2001:db8:1::3'),
    ]);
  });

  it('canonicalises addresses: RFC 5952 IPv6, IPv4-mapped IPv6 as IPv4, CIDR host bits cleared', () => {
    expect(parseTargets('2001:DB8:0:0:0:0:0:1')).toEqual([v6('2001:db8::1')]);
    expect(parseTargets('::ffff:10.0.0.7')).toEqual([v4('10.0.0.7')]);
    expect(parseTargets('::ffff:10.0.0.0/120')).toEqual([v4('10.0.0.0', '10.0.0.255')]);
    expect(parseTargets('10.0.0.77/24')).toEqual([v4('10.0.0.0', '10.0.0.255')]);
    expect(parseTargets('10.0.0.1 - 10.0.0.3')).toEqual([v4('10.0.0.1', '10.0.0.3')]);
  });

  it('sorts and merges overlapping and adjacent entries so no host is counted twice', () => {
    const ranges = parseTargets('10.0.0.5, 10.0.0.0/29 10.0.0.8 10.0.0.1-10.0.0.2 2001:db8::2 2001:db8::1');
    expect(ranges).toEqual([v4('10.0.0.0', '10.0.0.8'), v6('2001:db8::1', '2001:db8::2')]);
    expect(countHosts(ranges)).toBe(11n);
  });

  it('names the bad entry and the reason', () => {
    expect(errorOf(() => parseTargets('10.0.0.1, 10.0.0.300')).message).toBe('10.0.0.300 is not a valid IP address');
    expect(errorOf(() => parseTargets('10.0.0.300')).entry).toBe('10.0.0.300');
    expect(errorOf(() => parseTargets('10.0.0.9-10.0.0.1')).message).toBe(
      'range 10.0.0.9-10.0.0.1 ends before it starts',
    );
    expect(errorOf(() => parseTargets('10.0.0.1-2001:db8::1')).message).toBe(
      "range 10.0.0.1-2001:db8::1: a range's ends must both be IPv4 or both IPv6",
    );
    expect(errorOf(() => parseTargets('10.0.0.0/33')).message).toMatch(
      /^10\.0\.0\.0\/33 is not a valid CIDR block: the prefix length must be a number from 0 to 32/,
    );
    expect(errorOf(() => parseTargets('2001:db8::/129')).message).toMatch(/from 0 to 128/);
    expect(errorOf(() => parseTargets('10.0.0.1-')).message).toBe('range 10.0.0.1- is missing an end');
    expect(errorOf(() => parseTargets(' , ')).message).toBe('no targets given');
  });

  it('refuses ambiguous or partial notations rather than guessing', () => {
    for (const bad of ['10.1', '010.0.0.1', '0x0a.0.0.1', 'fe80::1%eth0', '1::2::3', 'host.example.com', '10.0.0.1/']) {
      expect(() => parseTargets(bad), bad).toThrow(TargetSpecError);
    }
  });
});

describe('addresses that are not hosts', () => {
  it.each([
    ['0.0.0.0', /^0\.0\.0\.0 is "this network" \(0\.0\.0\.0\/8\)/],
    ['0.12.0.1', /is "this network"/],
    ['::ffff:0.0.0.0', /is "this network"/],
    ['::', /^:: is the unspecified IPv6 address/],
    ['255.255.255.255', /is the limited broadcast address/],
    ['224.0.0.1', /is IPv4 multicast \(224\.0\.0\.0\/4\)/],
    ['239.255.255.250', /is IPv4 multicast/],
    ['::ffff:224.0.0.251', /is IPv4 multicast/],
    ['ff02::1', /is IPv6 multicast \(ff00::\/8\)/],
    ['0.0.0.0/0', /^0\.0\.0\.0\/0 includes 0\.0\.0\.0-0\.255\.255\.255: "this network"/],
    ['::/0', /^::\/0 includes ::: the unspecified IPv6 address/],
    ['223.255.255.0-224.0.0.10', /includes 224\.0\.0\.0-224\.0\.0\.10: IPv4 multicast/],
    ['255.255.255.0/24', /includes 255\.255\.255\.255: the limited broadcast address/],
    ['fe00::-ff00::1', /includes ff00::-ff00::1: IPv6 multicast/],
  ])('refuses %s, naming the address and why', (spec, reason) => {
    for (const parse of [parseTargets, (s: string) => parseTargetEntry(s).range]) {
      const error = errorOf(() => parse(spec));
      expect(error.message).toMatch(reason);
      expect(error.message).toMatch(/not a host to scan$/);
      expect(error.entry).toBe(spec);
    }
    expect(errorOf(() => parseTargets(`10.0.0.1, ${spec}`)).entry).toBe(spec);
  });

  it('keeps what can be a host: a subnet’s last address, loopback, link-local, reserved 240/4', () => {
    for (const spec of [
      '10.0.0.255',
      '10.0.0.0/24',
      '223.255.255.255',
      '240.0.0.1',
      '255.255.255.254',
      '127.0.0.1',
      '::1',
      'fe80::1',
      'fe00::-feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
    ])
      expect(() => parseTargets(spec), spec).not.toThrow();
  });
});

describe('parseTargetEntry', () => {
  it('returns the kind and the normalised range of one entry', () => {
    expect(parseTargetEntry('10.0.0.1')).toEqual({ kind: 'ip', range: v4('10.0.0.1') });
    expect(parseTargetEntry('10.0.0.1-10.0.0.4')).toEqual({ kind: 'range', range: v4('10.0.0.1', '10.0.0.4') });
    expect(parseTargetEntry('2001:db8::/127')).toEqual({ kind: 'cidr', range: v6('2001:db8::', '2001:db8::1') });
    expect(() => parseTargetEntry('  ')).toThrow('no target given');
  });
});

describe('scan size', () => {
  it('counts hosts exactly, far beyond 2^53', () => {
    expect(countHosts(parseTargets('2001:db8::/64'))).toBe(1n << 64n);
    expect(countHosts(parseTargets('2000::/3'))).toBe(1n << 125n);
    expect(countHosts(parseTargets('128.0.0.0/2'))).toBe(1n << 30n);
    // The whole space, as stored ranges hold it (a spec for it is refused: it holds non-hosts).
    expect(countHosts([{ first: '::', last: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', version: 6 }])).toBe(1n << 128n);
  });

  it('refuses scans over the limit with a message that gives the size and the limit', () => {
    expect(parseScanTargets('10.0.0.0/12')).toHaveLength(1); // exactly 1,048,576
    expect(countHosts(parseScanTargets('10.0.0.0/12'))).toBe(BigInt(MAX_SCAN_HOSTS));
    expect(errorOf(() => parseScanTargets('10.0.0.0/12, 11.0.0.1')).message).toBe(
      'the targets cover 1,048,577 hosts; one scan may cover at most 1,048,576',
    );
    expect(errorOf(() => parseScanTargets('2001:db8::/64')).message).toMatch(
      /^the targets cover 18,446,744,073,709,551,616 hosts/,
    );
    expect(() => assertScanSize(parseTargets('10.0.0.0/24'), 100)).toThrow('one scan may cover at most 100');
  });
});

describe('hostsAt', () => {
  const ranges = parseTargets('10.0.0.254-10.0.1.1, 192.168.0.0/31, 2001:db8::fffe-2001:db8::1:1');

  it('pages through every host in order, across ranges and octet boundaries', () => {
    const all = [
      '10.0.0.254',
      '10.0.0.255',
      '10.0.1.0',
      '10.0.1.1',
      '192.168.0.0',
      '192.168.0.1',
      '2001:db8::fffe',
      '2001:db8::ffff',
      '2001:db8::1:0',
      '2001:db8::1:1',
    ];
    expect(hostsAt(ranges, 0, 100)).toEqual(all);
    const paged: string[] = [];
    for (let offset = 0; offset < all.length; offset += 3) paged.push(...hostsAt(ranges, offset, 3));
    expect(paged).toEqual(all);
    expect(hostsAt(ranges, 3, 2)).toEqual(['10.0.1.1', '192.168.0.0']);
    expect(hostsAt(ranges, 10, 5)).toEqual([]);
    expect(hostsAt(ranges, 0, 0)).toEqual([]);
  });

  it('jumps straight to a deep offset without enumerating what comes before', () => {
    const huge = parseTargets('2001:db8::/64');
    const start = performance.now();
    expect(hostsAt(huge, (1n << 64n) - 2n, 5)).toEqual([
      '2001:db8::ffff:ffff:ffff:fffe',
      '2001:db8::ffff:ffff:ffff:ffff',
    ]);
    const big = parseTargets('10.0.0.0/12');
    expect(hostsAt(big, 1_048_575, 1)).toEqual(['10.15.255.255']);
    expect(hostsAt(big, 99_999, 2)).toEqual(['10.1.134.159', '10.1.134.160']);
    expect(performance.now() - start).toBeLessThan(100);
  });

  it('rejects negative positions', () => {
    expect(() => hostsAt(ranges, -1, 1)).toThrow(RangeError);
  });
});

describe('containsIp', () => {
  const ranges = parseTargets('10.0.0.0/24, 2001:db8::/120');

  it('checks membership in either family, whatever the notation', () => {
    expect(containsIp(ranges, '10.0.0.0')).toBe(true);
    expect(containsIp(ranges, '10.0.0.255')).toBe(true);
    expect(containsIp(ranges, '10.0.1.0')).toBe(false);
    expect(containsIp(ranges, '::ffff:10.0.0.9')).toBe(true);
    expect(containsIp(ranges, '2001:DB8::FF')).toBe(true);
    expect(containsIp(ranges, '2001:db8::100')).toBe(false);
    expect(containsIp([], '10.0.0.1')).toBe(false);
  });

  it('throws on an invalid address instead of answering "no"', () => {
    expect(() => containsIp(ranges, '10.0.0.256')).toThrow('10.0.0.256 is not a valid IP address');
  });
});

describe('rangesWithin (the parts of inner outside outer)', () => {
  it('is empty when every target is covered, even by several touching ranges', () => {
    const outer = [v4('10.0.0.0', '10.0.0.127'), v4('10.0.0.128', '10.0.0.255')];
    expect(rangesWithin(parseTargets('10.0.0.5-10.0.0.200'), outer)).toEqual([]);
  });

  it('names exactly the uncovered pieces: before, between and after the covered parts', () => {
    const outer = parseTargets('10.0.0.10-10.0.0.19, 10.0.0.30-10.0.0.39, 2001:db8::/127');
    const inner = parseTargets('10.0.0.0-10.0.0.50, 10.9.9.9, 2001:db8::1-2001:db8::3');
    expect(rangesWithin(inner, outer).map(formatRange)).toEqual([
      '10.0.0.0-10.0.0.9',
      '10.0.0.20-10.0.0.29',
      '10.0.0.40-10.0.0.50',
      '10.9.9.9',
      '2001:db8::2-2001:db8::3',
    ]);
  });

  it('returns everything when nothing is registered', () => {
    expect(rangesWithin([v4('10.0.0.1', '10.0.0.2')], [])).toEqual([v4('10.0.0.1', '10.0.0.2')]);
  });

  it('agrees with containsIp host by host', () => {
    const outer = parseTargets('10.0.0.3, 10.0.0.8-10.0.0.11, 10.0.0.14/31');
    const inner = parseTargets('10.0.0.0/28');
    const outside = rangesWithin(inner, outer);
    for (const ip of hostsAt(inner, 0, 16)) expect(containsIp(outside, ip), ip).toBe(!containsIp(outer, ip));
  });
});

describe('helpers', () => {
  it('normalises single addresses and orders them numerically', () => {
    expect(normaliseIp('::FFFF:192.168.0.1')).toBe('192.168.0.1');
    expect(ipSortKey('10.0.0.9') < ipSortKey('10.0.0.10')).toBe(true);
    expect(ipSortKey('10.255.0.0') < ipSortKey('11.0.0.0')).toBe(true);
    expect(normaliseRanges([v4('10.0.0.5', '10.0.0.9'), v4('10.0.0.1', '10.0.0.6')])).toEqual([
      v4('10.0.0.1', '10.0.0.9'),
    ]);
  });
});

describe('overlappingRanges (what two target lists share)', () => {
  it('names each shared piece, across both families, and nothing when disjoint', () => {
    const a = parseTargets('10.0.0.0-10.0.0.50, 10.0.1.0/24, 2001:db8::/126');
    const b = parseTargets('10.0.0.40-10.0.0.60, 10.0.0.45, 10.0.1.255-10.0.2.9, 2001:db8::3-2001:db8::9');
    expect(overlappingRanges(a, b).map(formatRange)).toEqual(['10.0.0.40-10.0.0.50', '10.0.1.255', '2001:db8::3']);
    expect(overlappingRanges(b, a).map(formatRange)).toEqual(['10.0.0.40-10.0.0.50', '10.0.1.255', '2001:db8::3']);
    expect(overlappingRanges(parseTargets('10.0.0.1-10.0.0.9'), parseTargets('10.0.0.10, ::ffff:10.0.0.0'))).toEqual(
      [],
    );
  });

  it('knows an IPv4-mapped IPv6 address for the IPv4 host it is', () => {
    expect(overlappingRanges(parseTargets('::ffff:10.0.0.7'), parseTargets('10.0.0.0/29')).map(formatRange)).toEqual([
      '10.0.0.7',
    ]);
  });
});
