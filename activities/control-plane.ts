// Activities of the control plane: everything that reads or writes the database.
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Database } from '../db/client.js';
import type { SecretBox } from '../db/crypto.js';
import {
  applianceRepo,
  auditChainKeys,
  auditRepo,
  authRecordRepo,
  rootDelegationOf,
  knownHostKeyRepo,
  resultRepo,
  scanRepo,
  scheduleRepo,
  scheduledScanRequest,
  vaultRepo,
} from '../db/repositories/index.js';
import { createScanService, ScanRequestError, type PreparedScan } from '../services/scan-service.js';
import type { AuditEntry, AuthRecord, HostResultInput, SkippedHost } from '../db/repositories/index.js';
import { containsIp, hostsAt, normaliseIp } from '../domain/targets.js';
import type { HostFailure, HostPlan, SecretRead, SkippedTarget, TargetPage, VaultLoan } from '../domain/scan-types.js';
import { TECHNOLOGIES, type ReportCategory, type Technology } from '../domain/categories.js';
import { groupBy } from '../domain/group-by.js';
import { ScanError } from '../domain/scan-error.js';
import { toHostFailure } from './failures.js';
import { applianceOfQueue } from '../workflows/activity-stubs.js';
import { vaultTestScope } from '../domain/vault-test.js';
import { parsePublicKey, sealGrant, type AccessGrant, type SealedGrant } from './secrets/sealed-access.js';
import { unpackCollectedData, type PackedCollectedData } from './collected-data.js';

/** A host's result as the workflow holds it: collected data still packed as it came from the appliance. */
export type PublishableHostResult = Omit<HostResultInput, 'scanId' | 'facts' | 'packages'> & {
  collected: PackedCollectedData | null;
};

/** A batch's vault reads on one appliance, for the audit trail. */
export interface SecretUse {
  scanId: string;
  applianceId: string;
  reads: SecretRead[];
}

/** The address in the one form results and pinned keys use, or null if it is none. */
const canonicalIp = (ip: string): string | null => {
  try {
    return normaliseIp(ip);
  } catch {
    return null;
  }
};

const secretUseEntries = ({ scanId, applianceId: batchAppliance, reads }: SecretUse): AuditEntry[] =>
  reads.map(({ applianceId = batchAppliance, ...read }) => ({
    actorKeyId: null,
    actorName: `appliance ${applianceId}`,
    // A read served by the appliance's cache of this scan is audited as a use, not a vault read.
    action: read.fromCache ? 'vault.cached-use' : 'vault.read',
    recordId: read.vaultId,
    scanId,
    applianceId,
    outcome: read.outcome === 'success' ? 'success' : 'failed',
    detail: {
      authRecordId: read.authRecordId,
      locator: read.locator,
      hosts: read.hosts,
      code: read.code,
      vendorCode: read.vendorCode,
      plainHttp: read.plainHttp,
      ...(read.lentUntil && { lentUntil: read.lentUntil }),
    },
  }));

/**
 * Every database activity runs only as a local activity of a workflow executing in the
 * control-plane worker. Scheduled as an ordinary activity (by any other worker or client on
 * the namespace), it refuses, so nobody can write results, pins, audit rows or scan states
 * through it. (The worker polls no activity queue either: this is the second lock.)
 */
function mustBeLocal(): void {
  if (!Context.current().info.isLocal) {
    throw ApplicationFailure.create({
      type: 'FORBIDDEN',
      message: 'the control plane runs its database activities only as local activities of its own workflows',
      nonRetryable: true,
    });
  }
}

/** What a schedule's run starts: the scan, ready to run as its child; or why the request no longer makes one. */
export type ScheduledScanStart =
  Pick<PreparedScan, 'workflowId' | 'input' | 'searchAttributes'> | { refused: { field: string; reason: string } };

const ready = ({ workflowId, input, searchAttributes }: PreparedScan): ScheduledScanStart => ({
  workflowId,
  input,
  searchAttributes,
});

/** Temporal refuses payloads over 2 MB: a batch's grants stay well under it, with room for the rest. */
const MAX_GRANT_BYTES = 1_500_000;

export interface ControlPlaneDeps {
  db: Database;
  box: SecretBox;
}

export function createControlPlaneActivities({ db, box }: ControlPlaneDeps) {
  const auditKeys = auditChainKeys(box);
  return {
    async markScanRunning(input: { scanId: string }): Promise<void> {
      mustBeLocal();
      await scanRepo.markRunning(db, input.scanId);
    },

    /**
     * One page of the scan's addresses: each host with the record that covers it for each
     * technology the profile scans, and those records' plans. What will not be tried is said
     * per technology: a scanned technology no record covers the host for (NO_AUTH_RECORD), a
     * switched-off one a record does cover it for (TECHNOLOGY_DISABLED), and a host nothing
     * at all is tried on.
     */
    async resolveTargets(input: {
      scanId: string;
      offset: number;
      limit: number;
      technologies: Technology[];
    }): Promise<TargetPage> {
      mustBeLocal();
      const scan = await scanRepo.get(db, input.scanId);
      const ips = hostsAt(scan.ranges, input.offset, input.limit);
      const allRecords = await authRecordRepo.listForTechnologies(db, [...TECHNOLOGIES]);
      const enabled = new Set<string>(input.technologies);
      const records = allRecords.filter((r) => enabled.has(r.technology));
      const hosts: TargetPage['hosts'] = [];
      const skipped: SkippedTarget[] = [];
      for (const ip of ips) {
        const covering = allRecords.filter((r) => containsIp(r.ranges, ip));
        for (const technology of input.technologies) {
          const record = covering.find((r) => r.technology === technology);
          if (record) hosts.push({ ip, authRecordId: record.id });
          else skipped.push({ ip, technology, code: 'NO_AUTH_RECORD' });
        }
        for (const record of covering.filter((r) => !enabled.has(r.technology)))
          skipped.push({
            ip,
            technology: record.technology as Technology,
            code: 'TECHNOLOGY_DISABLED',
            authRecordId: record.id,
            login: record.username,
          });
        if (input.technologies.length === 0 && covering.length === 0)
          skipped.push({ ip, technology: TECHNOLOGIES[0], code: 'TECHNOLOGY_DISABLED' });
      }
      const plans: Record<string, HostPlan> = {};
      for (const record of records.filter((r) => hosts.some((h) => h.authRecordId === r.id))) {
        plans[record.id] = {
          authRecordId: record.id,
          vaultId: record.vaultId,
          technology: record.technology as Technology,
          username: record.username,
          port: record.port,
        };
      }
      return { hosts, plans, skipped, addresses: ips.length };
    },

    /** Hosts that are not tried, with the reason; returns the new results per category. */
    async publishSkipped(input: {
      scanId: string;
      technology: Technology;
      hosts: SkippedHost[];
    }): Promise<Partial<Record<ReportCategory, number>>> {
      mustBeLocal();
      return resultRepo.publishSkipped(db, input.scanId, input.technology, input.hosts);
    },

    /** A batch's results in one transaction; run again, it leaves exactly one copy of each. */
    async publishHostResults(input: {
      scanId: string;
      results: PublishableHostResult[];
      learnHostKeys: { ip: string; port: number; sha256: string }[];
      secretUse: SecretUse;
    }): Promise<void> {
      mustBeLocal();
      const { scanId } = input;
      const rows: HostResultInput[] = await Promise.all(
        input.results.map(async ({ collected, ...result }) => {
          const data = collected === null ? null : await unpackCollectedData(collected);
          // A login that checked no host key (the record's hostKeyPolicy off) is flagged for every reader.
          const flags =
            data?.facts['hostKey.policy'] === 'off' ? [...(result.flags ?? []), 'HOST_KEY_UNCHECKED'] : result.flags;
          return { ...result, flags, scanId, facts: data?.facts ?? null, packages: data?.packages ?? [] };
        }),
      );
      await db.transaction(async (tx) => {
        await resultRepo.publishMany(tx, rows);
        // Trust on first use: a host's first successful login pins the key it presented.
        const learned = await knownHostKeyRepo.learn(
          tx,
          input.learnHostKeys.map((k) => ({ ...k, scanId })),
        );
        await auditRepo.append(
          tx,
          auditKeys,
          learned.map((pin) => ({
            actorKeyId: null,
            actorName: `appliance ${input.secretUse.applianceId}`,
            action: 'host-key.learn',
            recordId: pin.id,
            scanId,
            applianceId: input.secretUse.applianceId,
            outcome: 'success' as const,
            detail: { ip: pin.ip, port: pin.port, sha256: pin.sha256 },
          })),
        );
        await auditRepo.append(tx, auditKeys, secretUseEntries(input.secretUse));
      });
    },

    /** The vault reads of a batch that ends without publishing (cancelled): still audited. */
    async recordSecretUse(input: SecretUse): Promise<void> {
      mustBeLocal();
      await auditRepo.append(db, auditKeys, secretUseEntries(input));
    },

    /**
     * Seals, for one batch, each vault record's access secret to the appliance that runs it,
     * together with what the batch may use it for. Everything comes from the database, checked
     * against the scan, never from the workflow's input: a forged batch cannot widen a grant.
     */
    async sealBatchAccess(input: {
      scanId: string;
      applianceId: string;
      hosts: { ip: string; authRecordId: string }[];
      /** How long the grants may be opened: the steps of this attempt that need them. */
      validForMs: number;
    }): Promise<{ grants: SealedGrant[]; failed: { ip: string; failure: HostFailure }[] }> {
      mustBeLocal();
      // Bound to the batch's own run: a copy of the grant replayed from elsewhere opens nothing.
      const { workflowId, runId } = Context.current().info.workflowExecution!;
      const scan = await scanRepo.get(db, input.scanId);
      const failed: { ip: string; failure: HostFailure }[] = [];
      const refuse = (hosts: { ip: string }[], err: ScanError) =>
        failed.push(...hosts.map(({ ip }) => ({ ip, failure: toHostFailure(err) })));
      const pool = await scanRepo.appliancePool(db, scan.id);
      if (!pool.includes(input.applianceId) || !['QUEUED', 'RUNNING'].includes(scan.status)) {
        refuse(
          input.hosts,
          new ScanError('SEALED_ACCESS_INVALID', `scan ${scan.id} is not running on appliance ${input.applianceId}`),
        );
        return { grants: [], failed };
      }
      const appliance = await applianceRepo.get(db, input.applianceId);
      if (!appliance.publicKey) {
        refuse(
          input.hosts,
          new ScanError(
            'APPLIANCE_NOT_ENROLLED',
            `appliance "${appliance.name}" has not enrolled a key: no vault access can be sealed to it`,
          ),
        );
        return { grants: [], failed };
      }
      const records = new Map(
        (await authRecordRepo.getMany(db, [...new Set(input.hosts.map((h) => h.authRecordId))])).map((r) => [r.id, r]),
      );
      const usable = input.hosts.filter((host) => {
        const record = records.get(host.authRecordId);
        // One spelling per address: another (::ffff:10.0.0.5 for 10.0.0.5) would miss its pinned key.
        if (canonicalIp(host.ip) !== host.ip)
          refuse([host], new ScanError('SEALED_ACCESS_INVALID', `${host.ip} is not an address in its canonical form`));
        else if (!record)
          refuse(
            [host],
            new ScanError('CONFIG_INVALID', `authentication record ${host.authRecordId} was deleted during the scan`),
          );
        else if (!containsIp(record.ranges, host.ip) || !containsIp(scan.ranges, host.ip))
          refuse(
            [host],
            new ScanError(
              'SEALED_ACCESS_INVALID',
              `${host.ip} is not a target of this scan covered by record "${record.name}"`,
            ),
          );
        else return true;
        return false;
      });
      const pinned = await knownHostKeyRepo.forEndpoints(
        db,
        usable.map((h) => ({ ip: h.ip, port: records.get(h.authRecordId)!.port })),
      );
      const grants: SealedGrant[] = [];
      let grantBytes = 0;
      // What each vault is read for: a record's login item in its own vault, and its
      // root-delegation item in the vault that holds it (the same one, or another).
      const byVault = new Map<string, { records: AccessGrant['records']; hosts: typeof usable }>();
      const readFrom = (
        vaultId: string,
        record: AuthRecord,
        item: { locator: Record<string, unknown>; fields: Record<string, string | undefined> },
        hosts: typeof usable,
      ) => {
        const entry = byVault.get(vaultId) ?? { records: {}, hosts: [] };
        byVault.set(vaultId, entry);
        const existing = entry.records[record.id];
        if (existing) existing.also = [...(existing.also ?? []), item];
        else {
          entry.records[record.id] = {
            technology: record.technology as Technology,
            username: record.username,
            port: record.port,
            settings: record.settings,
            ...item,
          };
          entry.hosts.push(...hosts);
        }
      };
      for (const [recordId, hosts] of groupBy(usable, (h) => h.authRecordId)) {
        const record = records.get(recordId)!;
        readFrom(record.vaultId, record, { locator: record.locator, fields: { ...record.fields } }, hosts);
        const root = rootDelegationOf(record);
        if (root)
          readFrom(root.vaultId, record, { locator: root.locator, fields: { rootPassword: root.field } }, hosts);
      }
      for (const [vaultId, { records: granted, hosts }] of byVault) {
        const vault = await vaultRepo.loadWithAccess(db, box, vaultId);
        const grant: AccessGrant = {
          vault: { id: vault.id, type: vault.type, config: vault.config, access: vault.access },
          records: granted,
          hosts: hosts.map((h) => {
            const record = records.get(h.authRecordId)!;
            const pin = pinned.get(knownHostKeyRepo.endpointKey(h.ip, record.port));
            // A record that trusts only keys registered in advance (hostKeyPolicy strict) is not
            // given one learned on first use: its login then refuses the host (HOST_KEY_UNKNOWN).
            const trusted = pin && (pin.source === 'operator' || record.settings.hostKeyPolicy !== 'strict');
            return { ...h, hostKey: trusted ? pin.sha256 : null };
          }),
          notAfter: new Date(Date.now() + input.validForMs).toISOString(),
        };
        const use = { applianceId: appliance.id, scanId: scan.id, workflowId, runId };
        const sealedGrant = await sealGrant(grant, parsePublicKey(appliance.publicKey), use);
        // Sizes are bounded where records are entered; should a grant still not fit a Temporal
        // payload (this answer, then the fetch's input), its hosts fail saying so, not stall.
        const bytes = JSON.stringify(sealedGrant).length;
        if (grantBytes + bytes > MAX_GRANT_BYTES) {
          const why = `the vault grant for these hosts takes ${bytes} bytes, more than one batch may carry through Temporal (${MAX_GRANT_BYTES}): make the records' locators or the vault's settings smaller`;
          refuse(hosts, new ScanError('CONFIG_INVALID', why));
          continue;
        }
        grantBytes += bytes;
        grants.push(sealedGrant);
      }
      return { grants, failed };
    },

    /**
     * Seals a vault record's access to an appliance for one vault test: the grant names no
     * record and no host (it can read nothing for a scan), is bound to this test's workflow run,
     * and lasts as long as the test may.
     */
    async sealVaultTestAccess(input: {
      testId: string;
      vaultId: string;
      applianceId: string;
      validForMs: number;
    }): Promise<{ grant: SealedGrant } | { failure: HostFailure }> {
      mustBeLocal();
      const { workflowId, runId } = Context.current().info.workflowExecution!;
      const appliance = await applianceRepo.get(db, input.applianceId);
      if (!appliance.publicKey)
        return {
          failure: toHostFailure(
            new ScanError(
              'APPLIANCE_NOT_ENROLLED',
              `appliance "${appliance.name}" has not enrolled a key: no vault access can be sealed to it`,
            ),
          ),
        };
      const vault = await vaultRepo.loadWithAccess(db, box, input.vaultId);
      const grant: AccessGrant = {
        vault: { id: vault.id, type: vault.type, config: vault.config, access: vault.access },
        records: {},
        hosts: [],
        notAfter: new Date(Date.now() + input.validForMs).toISOString(),
      };
      const use = { applianceId: appliance.id, scanId: vaultTestScope(input.testId), workflowId, runId };
      return { grant: await sealGrant(grant, parsePublicKey(appliance.publicKey), use) };
    },

    /**
     * Loans the scan's vault reads took that no live process gave back (its holder did not
     * answer at the scan's end): each goes into the audit trail, saying the vault itself ends
     * it when the time it was lent for runs out. The Authentication Report lists them.
     */
    async recordUnreturnedLoans(input: { scanId: string; applianceId: string; loans: VaultLoan[] }): Promise<void> {
      mustBeLocal();
      await auditRepo.append(
        db,
        auditKeys,
        input.loans.map((loan) => ({
          actorKeyId: null,
          actorName: 'control plane',
          action: 'vault.loan-unreturned',
          recordId: loan.vaultId,
          scanId: input.scanId,
          // The appliance whose process holds it (in a pool, not always the scan's first).
          applianceId: applianceOfQueue(loan.holder) ?? input.applianceId,
          outcome: 'failed',
          detail: {
            authRecordId: loan.authRecordId,
            locator: loan.locator,
            lentUntil: loan.lentUntil,
            holder: loan.holder,
            note: 'the appliance process holding it did not answer at the end of the scan: the vault ends the loan at lentUntil',
          },
        })),
      );
    },

    /**
     * A schedule's run: the stored scan request made into a scan exactly as POST /scans makes
     * one (the scan service's checks, a QUEUED row), linked to the schedule and the run, and the
     * launch audited. One scan per run: a retried step finds the scan it stored. A request that
     * no longer holds (its targets left the assets, its appliance lost its key…) starts no scan:
     * the refusal is kept on the schedule and in the audit trail, and the run ends with it.
     */
    async startScheduledScan(input: { scheduleId: string; runWorkflowId: string }): Promise<ScheduledScanStart> {
      mustBeLocal();
      const scans = createScanService({ db });
      const stored = await scanRepo.findByScheduleRun(db, input.runWorkflowId);
      if (stored) return ready(await scans.prepared(stored));
      const schedule = await scheduleRepo.find(db, input.scheduleId);
      // Retried (within the step's time): the row of a schedule being created follows its
      // Temporal schedule by moments. A schedule deleted meanwhile has none for good.
      if (!schedule)
        throw ApplicationFailure.retryable(
          `schedule ${input.scheduleId} has no row in the database: it was deleted, or its creation did not complete`,
          'SCHEDULE_NOT_STORED',
        );
      if (schedule.lastRefusal?.runWorkflowId === input.runWorkflowId) {
        const { field, reason } = schedule.lastRefusal;
        return { refused: { field, reason } };
      }
      const actorName = `schedule "${schedule.name}"`;
      try {
        return await db.transaction(async (tx) => {
          const prepared = await createScanService({ db: tx }).prepare(scheduledScanRequest(schedule), {
            schedule: { scheduleId: schedule.id, runWorkflowId: input.runWorkflowId },
          });
          await auditRepo.append(tx, auditKeys, [
            {
              actorKeyId: null,
              actorName,
              action: 'schedule.run',
              recordId: schedule.id,
              scanId: prepared.scan.id,
              applianceId: prepared.input.applianceId,
              outcome: 'success',
              detail: { run: input.runWorkflowId, workflowId: prepared.workflowId },
            },
          ]);
          return ready(prepared);
        });
      } catch (err) {
        if (!(err instanceof ScanRequestError)) throw err;
        const refusal = {
          at: new Date().toISOString(),
          runWorkflowId: input.runWorkflowId,
          field: err.field,
          reason: err.reason,
        };
        await db.transaction(async (tx) => {
          await scheduleRepo.recordRefusal(tx, schedule.id, refusal);
          await auditRepo.append(tx, auditKeys, [
            {
              actorKeyId: null,
              actorName,
              action: 'schedule.run-refused',
              recordId: schedule.id,
              outcome: 'rejected',
              detail: { run: input.runWorkflowId, field: err.field, reason: err.reason },
            },
          ]);
        });
        return { refused: { field: err.field, reason: err.reason } };
      }
    },

    async finishScan(input: {
      scanId: string;
      status: 'FINISHED' | 'CANCELED' | 'FAILED';
      counts: Record<ReportCategory, number>;
      /** Why, when it did not simply finish. */
      reason?: string;
    }): Promise<void> {
      mustBeLocal();
      await scanRepo.finish(db, input.scanId, input.status, input.counts, input.reason);
    },
  };
}

export type ControlPlaneActivities = ReturnType<typeof createControlPlaneActivities>;
