// Activities of the control plane: everything that reads or writes the database.
import type { Database } from '../db/client.js';
import type { SecretBox } from '../db/crypto.js';
import { authRecordRepo, knownHostKeyRepo, resultRepo, scanRepo, vaultRepo } from '../db/repositories/index.js';
import type { HostResultInput } from '../db/repositories/index.js';
import { containsIp, hostsAt } from '../domain/targets.js';
import type { HostPlan, TargetPage } from '../domain/scan-types.js';
import type { ReportCategory, Technology, VaultType } from '../domain/categories.js';
import { unpackCollectedData, type PackedCollectedData } from './collected-data.js';

/** A host's result as the workflow holds it: collected data still packed as it came from the appliance. */
export type PublishableHostResult = Omit<HostResultInput, 'scanId' | 'facts' | 'packages'> & {
  collected: PackedCollectedData | null;
};

export interface ControlPlaneDeps {
  db: Database;
  box: SecretBox;
}

export function createControlPlaneActivities({ db, box }: ControlPlaneDeps) {
  return {
    async markScanRunning(input: { scanId: string }): Promise<void> {
      await scanRepo.markRunning(db, input.scanId);
    },

    /** One page of the scan's hosts with the record that covers each, and those records' plans. */
    async resolveTargets(input: {
      scanId: string;
      offset: number;
      limit: number;
      technologies: Technology[];
    }): Promise<TargetPage> {
      const scan = await scanRepo.get(db, input.scanId);
      const ips = hostsAt(scan.ranges, input.offset, input.limit);
      const records = await authRecordRepo.listForTechnologies(db, input.technologies);
      const covered = ips.map((ip) => ({ ip, record: records.find((r) => containsIp(r.ranges, ip)) }));
      const pinned = await knownHostKeyRepo.forEndpoints(
        db,
        covered.flatMap(({ ip, record }) => (record ? [{ ip, port: record.port }] : [])),
      );
      const hosts = covered.map(({ ip, record }) => ({
        ip,
        authRecordId: record?.id ?? null,
        hostKey: record ? (pinned.get(knownHostKeyRepo.endpointKey(ip, record.port)) ?? null) : null,
      }));
      const plans: Record<string, HostPlan> = {};
      for (const record of records.filter((r) => hosts.some((h) => h.authRecordId === r.id))) {
        const vault = await vaultRepo.loadWithAccess(db, box, record.vaultId);
        plans[record.id] = {
          authRecordId: record.id,
          technology: record.technology as Technology,
          username: record.username,
          port: record.port,
          vault: { id: vault.id, type: vault.type as VaultType, config: vault.config, access: vault.access },
          locator: record.locator,
          fields: record.fields,
        };
      }
      return { hosts, plans };
    },

    async publishNotAttempted(input: {
      scanId: string;
      hosts: { ip: string; code: 'NO_AUTH_RECORD' | 'TECHNOLOGY_DISABLED' }[];
      technology: Technology;
    }): Promise<Partial<Record<ReportCategory, number>>> {
      await resultRepo.publishNotAttempted(db, input.scanId, input.hosts, input.technology);
      return { NOT_ATTEMPTED: input.hosts.length };
    },

    /** A batch's results in one transaction; run again, it leaves exactly one copy of each. */
    async publishHostResults(input: {
      scanId: string;
      results: PublishableHostResult[];
      learnHostKeys: { ip: string; port: number; sha256: string }[];
    }): Promise<void> {
      const { scanId } = input;
      const rows: HostResultInput[] = await Promise.all(
        input.results.map(async ({ collected, ...result }) => {
          const data = collected === null ? null : await unpackCollectedData(collected);
          return { ...result, scanId, facts: data?.facts ?? null, packages: data?.packages ?? [] };
        }),
      );
      await resultRepo.publishMany(db, rows);
      // Trust on first use: a host's first successful login pins the key it presented.
      await knownHostKeyRepo.learn(
        db,
        input.learnHostKeys.map((k) => ({ ...k, scanId })),
      );
    },

    async finishScan(input: {
      scanId: string;
      status: 'FINISHED' | 'CANCELED';
      counts: Record<ReportCategory, number>;
    }): Promise<void> {
      await scanRepo.finish(db, input.scanId, input.status, input.counts);
    },
  };
}

export type ControlPlaneActivities = ReturnType<typeof createControlPlaneActivities>;
