// Dynamic tags: a rule over what is known of a host (its address, its asset's name, what the
// last scan saw of it), evaluated when asked. Pure: the ranges, names and last results come in.
import { normaliseRanges, overlappingRanges, parseTargets, TargetSpecError, type IpRange } from './targets.js';
import type { ReportCategory, Technology } from './categories.js';

export const TAG_KINDS = ['static', 'dynamic'] as const;
export type TagKind = (typeof TAG_KINDS)[number];

/** A last result's outcome, as a rule names it: the report categories of a host that was tried. */
export const TAG_OUTCOMES = {
  passed: ['PASSED'],
  insufficientPrivileges: ['INSUFFICIENT_PRIVILEGES'],
  failed: ['FAILED', 'UNREACHABLE'],
} as const satisfies Record<string, readonly ReportCategory[]>;
export type TagOutcome = keyof typeof TAG_OUTCOMES;

/** One condition a host must meet. */
export type TagCondition =
  /** Its address is in these IPs, ranges or CIDRs (comma-separated). */
  | { address: string }
  /** Its asset's name matches this pattern: `*` any run of characters, `?` one; case-insensitive. */
  | { assetName: string }
  /** The last scan that logged in saw this OS (/etc/os-release's ID: debian, ubuntu, rhel…). */
  | { osFamily: string }
  /** The last scan with this technology ended so on this host (see TAG_OUTCOMES). */
  | { technology: Technology; outcome: TagOutcome };

export interface TagRule {
  /** Every condition (all, the default) or at least one (any). */
  match?: 'all' | 'any';
  conditions: TagCondition[];
}

/** A problem with a rule, naming the field under `rule`. */
export class TagRuleError extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}

/** What the rule is evaluated against: the registered assets, and the last scan's view of each host. */
export interface TagUniverse {
  assets: { name: string; ranges: IpRange[] }[];
  /** Per address, the last result of each technology: its category. */
  lastResults: { ip: string; technology: string; category: string }[];
  /** Per address, the OS the last scan that saw one saw (/etc/os-release's ID). */
  lastOs: { ip: string; osId: string }[];
}

/** A rule as a request writes it: each condition an object with one kind of test. */
export interface TagRuleInput {
  match?: 'all' | 'any';
  conditions: {
    address?: string;
    assetName?: string;
    osFamily?: string;
    technology?: Technology;
    outcome?: TagOutcome;
  }[];
}

/** The rule, each condition checked (one kind each, addresses that parse); TagRuleError names the field. */
export function checkTagRule(rule: TagRuleInput): TagRule {
  const conditions = rule.conditions.map((c, i): TagCondition => {
    const at = `rule.conditions.${i}`;
    const kinds = [c.address, c.assetName, c.osFamily, c.technology ?? c.outcome].filter((v) => v !== undefined);
    if (kinds.length !== 1)
      throw new TagRuleError(at, 'must be exactly one of: address, assetName, osFamily, technology with outcome');
    if (c.address !== undefined) {
      try {
        parseTargets(c.address);
      } catch (err) {
        if (err instanceof TargetSpecError) throw new TagRuleError(`${at}.address`, err.message);
        throw err;
      }
      return { address: c.address };
    }
    if (c.assetName !== undefined) return { assetName: c.assetName };
    if (c.osFamily !== undefined) return { osFamily: c.osFamily };
    if (c.technology === undefined) throw new TagRuleError(`${at}.technology`, 'is required with outcome');
    if (c.outcome === undefined) throw new TagRuleError(`${at}.outcome`, 'is required with technology');
    return { technology: c.technology, outcome: c.outcome };
  });
  return { ...(rule.match && { match: rule.match }), conditions };
}

function globToRegExp(pattern: string): RegExp {
  const escaped = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`, 'i');
}

const single = (ip: string, version: 4 | 6): IpRange => ({ first: ip, last: ip, version });
const versionOf = (ip: string): 4 | 6 => (ip.includes(':') ? 6 : 4);

/** The addresses one condition selects, within the registered assets. */
function selected(condition: TagCondition, universe: TagUniverse, registered: IpRange[]): IpRange[] {
  if ('address' in condition) return overlappingRanges(parseTargets(condition.address), registered);
  if ('assetName' in condition) {
    const pattern = globToRegExp(condition.assetName);
    return normaliseRanges(universe.assets.filter((a) => pattern.test(a.name)).flatMap((a) => a.ranges));
  }
  const ips =
    'osFamily' in condition
      ? universe.lastOs.filter((s) => s.osId.toLowerCase() === condition.osFamily.toLowerCase())
      : universe.lastResults.filter(
          (s) =>
            s.technology === condition.technology &&
            (TAG_OUTCOMES[condition.outcome] as readonly string[]).includes(s.category),
        );
  return overlappingRanges(normaliseRanges(ips.map((s) => single(s.ip, versionOf(s.ip)))), registered);
}

/** The registered addresses the rule selects, as merged ranges. */
export function evaluateTagRule(rule: TagRule, universe: TagUniverse): IpRange[] {
  const registered = normaliseRanges(universe.assets.flatMap((a) => a.ranges));
  const sets = rule.conditions.map((c) => selected(c, universe, registered));
  if (sets.length === 0) return [];
  if ((rule.match ?? 'all') === 'any') return normaliseRanges(sets.flat());
  return sets.slice(1).reduce((acc, set) => overlappingRanges(acc, set), sets[0]!);
}
