// Where every scan starts: the API's POST /scans, a schedule's run, and later the CLI. It checks
// the request (targets within registered assets, the option profile, an appliance that can be
// sealed to), stores the scan row and starts the scan workflow. The check also runs alone (a
// schedule's request is checked when it is created, storing nothing). Failures are typed (400
// naming the field, 503 when Temporal is away) and leave nothing half-written.
import type { Client } from '@temporalio/client';
import type { Database } from '../db/client.js';
import {
  applianceRepo,
  assetGroupRepo,
  assetRepo,
  tagRepo,
  profileRepo,
  profileSettings,
  scanRepo,
  type Appliance,
  type OptionProfile,
  type Scan,
} from '../db/repositories/index.js';
import {
  countHosts,
  formatRange,
  MAX_SCAN_HOSTS,
  normaliseRanges,
  parseTargets,
  rangesWithin,
  TargetSpecError,
  type IpRange,
} from '../domain/targets.js';
import { scanSearchAttributes } from '../domain/search-attributes.js';
import type { ScanInput, scanWorkflow } from '../workflows/scan.js';
import { CONTROL_PLANE_QUEUE } from '../workflows/activity-stubs.js';

export { scanSearchAttributes };

export interface ScanRequest {
  title: string;
  /** Addresses, ranges and CIDRs, within registered assets. */
  targets?: string;
  /** Registered assets, by id. */
  assetIds?: string[];
  /** Asset groups, by id: their members when the scan starts. */
  groupIds?: string[];
  /** Tags, by id or name: what they select when the scan starts. */
  tags?: string[];
  optionProfileId?: string;
  /** The appliance to run on; or applianceIds, a pool the scan's hosts are spread over. */
  applianceId?: string;
  applianceIds?: string[];
}

/** A request that makes a scan, and what its checks found: nothing is stored yet. */
export interface CheckedScanRequest {
  request: ScanRequest;
  ranges: IpRange[];
  /** The targets as the scan row shows them: the addresses as entered, then asset:, group:, tag: names. */
  description: string;
  hostCount: number;
  profile: OptionProfile;
  /** The appliance pool, in the order named: the first runs the scan when it is alone. */
  appliances: Appliance[];
}

/** A scan row stored and ready to run: what its workflow is started with. */
export interface PreparedScan {
  scan: Scan;
  /** The pool's appliances, in order (the first is the scan's applianceId). */
  appliances: Pick<Appliance, 'id' | 'name'>[];
  workflowId: string;
  input: ScanInput;
  searchAttributes: { scanId: string; applianceId: string; scheduleId?: string };
}

/** The schedule run a scan is started by: the schedule, and the run's workflow id. */
export interface ScheduleRunLink {
  scheduleId: string;
  runWorkflowId: string;
}

/** The request cannot make a scan: the field at fault and why (the API answers 400). */
export class ScanRequestError extends Error {
  override readonly name = 'ScanRequestError';
  constructor(
    readonly field: string,
    readonly reason: string,
    readonly detail: Record<string, unknown> = {},
  ) {
    super(`${field}: ${reason}`);
  }
}

/** The scan's workflow could not be started (Temporal is away): nothing was kept. */
export class ScanStartError extends Error {
  override readonly name = 'ScanStartError';
  constructor(override readonly cause: unknown) {
    super('the scan could not be started: Temporal is unavailable');
  }
}

/** The addresses as entered, parsed; a spec that does not parse is a 400 on targets. */
function parsedTargets(targets: string): IpRange[] {
  try {
    return parseTargets(targets);
  } catch (err) {
    if (err instanceof TargetSpecError) throw new ScanRequestError('targets', err.message);
    throw err;
  }
}

export function createScanService(deps: { db: Database; temporal?: Client }) {
  const { db } = deps;

  /**
   * Checks the request as a scan would be made from it, storing nothing: targets that parse and
   * lie within registered assets, the option profile, an appliance that has enrolled its key.
   * Throws ScanRequestError naming the field.
   */
  const check = async (request: ScanRequest): Promise<CheckedScanRequest> => {
    const { ranges, description } = await resolveTargets(request);
    const hostCount = countHosts(ranges);
    if (hostCount > BigInt(MAX_SCAN_HOSTS))
      throw new ScanRequestError('targets', `covers ${hostCount} hosts; one scan takes at most ${MAX_SCAN_HOSTS}`);
    const outside = request.targets
      ? rangesWithin(parsedTargets(request.targets), await assetRepo.coveredRanges(db))
      : [];
    if (outside.length > 0) {
      const names = outside.map(formatRange);
      throw new ScanRequestError(
        'targets',
        `not within any registered asset: ${names.slice(0, 20).join(', ')}${names.length > 20 ? ', …' : ''}`,
        { outside: names },
      );
    }
    const profile = request.optionProfileId
      ? await profileRepo.get(db, request.optionProfileId).catch(() => {
          throw new ScanRequestError('optionProfileId', `option profile ${request.optionProfileId} does not exist`);
        })
      : await profileRepo.getDefault(db);
    const appliances = await applianceCheck(request);
    return { request, ranges, description, hostCount: Number(hostCount), profile, appliances };
  };

  /**
   * The appliances the request names (applianceId, or the pool applianceIds), each registered
   * and enrolled; none named: the first registered appliance. Each fault is a 400 naming the field.
   */
  const applianceCheck = async (request: ScanRequest): Promise<Appliance[]> => {
    if (request.applianceId !== undefined && request.applianceIds !== undefined)
      throw new ScanRequestError(
        'applianceIds',
        'name one appliance with applianceId or a pool with applianceIds, not both',
      );
    const named: [field: string, id: string][] =
      request.applianceIds?.map((id, i) => [`applianceIds.${i}`, id]) ??
      (request.applianceId === undefined ? [] : [['applianceId', request.applianceId]]);
    if (request.applianceIds?.length === 0) throw new ScanRequestError('applianceIds', 'name at least one appliance');
    const appliances: Appliance[] = [];
    for (const [field, id] of named) {
      const appliance = await applianceRepo.get(db, id).catch(() => {
        throw new ScanRequestError(field, `appliance ${id} does not exist`);
      });
      // Compared as stored: a UUID written in upper case names the same appliance.
      if (appliances.some((a) => a.id === appliance.id))
        throw new ScanRequestError(field, `appliance ${id} is named twice`);
      appliances.push(appliance);
    }
    if (named.length === 0) {
      const first = (await applianceRepo.list(db, { limit: 1 })).rows[0];
      if (!first)
        throw new ScanRequestError(
          'applianceId',
          'no appliance is registered: register one with POST /api/v1/appliances first',
        );
      appliances.push(first);
    }
    appliances.forEach((appliance, i) => {
      if (!appliance.keyId)
        throw new ScanRequestError(
          named[i]?.[0] ?? 'applianceId',
          `appliance "${appliance.name}" has not enrolled its key, so no vault access can be sealed to it: start its worker with an enrolment code (POST /api/v1/appliances/${appliance.id}/enrolment-codes)`,
        );
    });
    return appliances;
  };

  /**
   * Everything the request targets, merged: its addresses, and its assets, groups and tags as
   * they are now (a dynamic tag's rule evaluated now). Each name that is unknown is a 400
   * naming it; targets that come to no address are one too.
   */
  const resolveTargets = async (request: ScanRequest): Promise<{ ranges: IpRange[]; description: string }> => {
    const named = [request.targets, request.assetIds, request.groupIds, request.tags].some((t) => t?.length);
    if (!named) throw new ScanRequestError('targets', 'name what to scan: targets, assetIds, groupIds or tags');
    const ranges: IpRange[] = request.targets ? parsedTargets(request.targets) : [];
    // What the scan row shows as its targets: the addresses as entered, then what else was named.
    const parts = request.targets ? [request.targets] : [];
    for (const [i, id] of (request.assetIds ?? []).entries()) {
      const asset = await assetRepo.get(db, id).catch(() => {
        throw new ScanRequestError(`assetIds.${i}`, `asset ${id} does not exist`);
      });
      ranges.push(...asset.ranges);
      parts.push(`asset:${asset.name}`);
    }
    for (const [i, id] of (request.groupIds ?? []).entries()) {
      const group = await assetGroupRepo.get(db, id).catch(() => {
        throw new ScanRequestError(`groupIds.${i}`, `asset group ${id} does not exist`);
      });
      ranges.push(...(await assetGroupRepo.ranges(db, group)));
      parts.push(`group:${group.name}`);
    }
    for (const [i, name] of (request.tags ?? []).entries()) {
      const tag = await tagRepo.find(db, name);
      if (!tag) throw new ScanRequestError(`tags.${i}`, `no tag has the id or name "${name}"`);
      ranges.push(...(await tagRepo.ranges(db, tag)));
      parts.push(`tag:${tag.name}`);
    }
    const merged = normaliseRanges(ranges);
    if (merged.length === 0)
      throw new ScanRequestError('targets', 'the groups, tags and assets named cover no address now');
    return { ranges: merged, description: parts.join(', ') };
  };

  const preparedOf = (
    scan: Scan,
    profile: OptionProfile,
    appliances: Pick<Appliance, 'id' | 'name'>[],
  ): PreparedScan => ({
    scan,
    appliances,
    workflowId: `scan-${scan.id}`,
    input: {
      scanId: scan.id,
      applianceId: scan.applianceId,
      // A pool of one runs as a scan always has (its workflow input unchanged).
      ...(appliances.length > 1 && { applianceIds: appliances.map((a) => a.id) }),
      profile: profileSettings(profile),
      totalHosts: scan.hostCount,
    },
    searchAttributes: {
      scanId: scan.id,
      applianceId: scan.applianceId,
      ...(scan.scheduleId !== null && { scheduleId: scan.scheduleId }),
    },
  });

  /**
   * Checks the request and stores the scan row; throws ScanRequestError naming the field. A
   * schedule's run passes its link: the row names the schedule and the run (one scan per run),
   * and already carries the workflow id the run starts it under.
   */
  const prepare = async (request: ScanRequest, options: { schedule?: ScheduleRunLink } = {}): Promise<PreparedScan> => {
    const { ranges, description, profile, appliances } = await check(request);
    let scan = await scanRepo.create(db, {
      title: request.title,
      targets: description,
      ranges,
      optionProfileId: profile.id,
      applianceIds: appliances.map((a) => a.id),
      ...(options.schedule && { schedule: options.schedule }),
    });
    if (options.schedule) scan = await scanRepo.setWorkflowId(db, scan.id, `scan-${scan.id}`);
    return preparedOf(scan, profile, appliances);
  };

  /** A scan already stored (a retried step of a schedule's run finding its scan), ready to run as it was prepared. */
  const prepared = async (scan: Scan): Promise<PreparedScan> => {
    const pool = await scanRepo.appliancePool(db, scan.id);
    const appliances = await Promise.all(pool.map((id) => applianceRepo.get(db, id)));
    return preparedOf(scan, await profileRepo.get(db, scan.optionProfileId), appliances);
  };

  /** prepare, then start the workflow; if it cannot start, the row goes again (ScanStartError). */
  const start = async (request: ScanRequest): Promise<PreparedScan> => {
    if (!deps.temporal) throw new Error('this scan service has no Temporal client: it can only prepare scans');
    const prepared = await prepare(request);
    try {
      await deps.temporal.workflow.start<typeof scanWorkflow>('scanWorkflow', {
        taskQueue: CONTROL_PLANE_QUEUE,
        workflowId: prepared.workflowId,
        args: [prepared.input],
        typedSearchAttributes: scanSearchAttributes(prepared.searchAttributes),
      });
    } catch (err) {
      await scanRepo.remove(db, prepared.scan.id);
      throw new ScanStartError(err);
    }
    return prepared;
  };

  return { check, prepare, prepared, start };
}

export type ScanService = ReturnType<typeof createScanService>;
