// A scan's results by asset group and by tag, as operators read them: "x of y hosts, z %
// passed". Groups and tags are taken as they are now (a dynamic tag's rule evaluated now); a
// group or tag none of whose addresses the scan has a result for is left out.
import type { Database } from '../db/client.js';
import { assetGroupRepo, resultRepo, tagRepo } from '../db/repositories/index.js';
import type { KeysetPage, Paged } from '../db/repositories/index.js';
import type { ReportCategory } from '../domain/categories.js';
import { countHosts, type IpRange } from '../domain/targets.js';

export interface SetSummary {
  id: string;
  name: string;
  /** The group's business impact, or the tag's kind. */
  label: string;
  /** Addresses the group or tag covers now. */
  addresses: number;
  /** Of those, hosts this scan has a result for. */
  scannedHosts: number;
  /** Hosts every technology tried on PASSED. */
  passedHosts: number;
  /** passedHosts of scannedHosts, in percent, one decimal. */
  passedPercent: number;
  counts: Record<ReportCategory, number>;
}

async function all<T>(list: (page: KeysetPage) => Promise<Paged<T>>): Promise<T[]> {
  const rows: T[] = [];
  let after: readonly string[] | undefined;
  do {
    const page = await list({ limit: 500, ...(after && { after }) });
    rows.push(...page.rows);
    after = page.next ?? undefined;
  } while (after);
  return rows;
}

async function summarise(
  db: Database,
  scanId: string,
  set: { id: string; name: string; label: string },
  ranges: IpRange[],
): Promise<SetSummary | undefined> {
  const found = await resultRepo.summaryWithin(db, scanId, ranges);
  if (found.hosts === 0) return undefined;
  return {
    ...set,
    addresses: Number(countHosts(ranges)),
    scannedHosts: found.hosts,
    passedHosts: found.passedHosts,
    passedPercent: Math.round((found.passedHosts / found.hosts) * 1000) / 10,
    counts: found.counts,
  };
}

export async function scanSummaryBySet(
  db: Database,
  scanId: string,
): Promise<{ byGroup: SetSummary[]; byTag: SetSummary[] }> {
  const byGroup: SetSummary[] = [];
  for (const group of await all((page) => assetGroupRepo.list(db, page))) {
    const summary = await summarise(
      db,
      scanId,
      { id: group.id, name: group.name, label: group.businessImpact },
      await assetGroupRepo.ranges(db, group),
    );
    if (summary) byGroup.push(summary);
  }
  const byTag: SetSummary[] = [];
  for (const tag of await all((page) => tagRepo.list(db, page))) {
    const summary = await summarise(
      db,
      scanId,
      { id: tag.id, name: tag.name, label: tag.kind },
      await tagRepo.ranges(db, tag),
    );
    if (summary) byTag.push(summary);
  }
  return { byGroup, byTag };
}
