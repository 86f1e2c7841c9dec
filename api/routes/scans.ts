// Scans: launch (a Temporal workflow), watch, read results and the Authentication Report, cancel.
import type { FastifyInstance } from 'fastify';
import { WorkflowNotFoundError } from '@temporalio/client';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { resultRepo, scanRepo } from '../../db/repositories/index.js';
import { cancelSignal } from '../../workflows/messages.js';
import { ApiProblem, badRequest } from '../problems.js';
import { createScanService, ScanRequestError, ScanStartError } from '../../services/scan-service.js';
import { withAudit } from '../plugins/audit.js';
import {
  HostResultView,
  IdParams,
  Paged,
  ReportQuery,
  RESULTS_PAGE,
  ResultsPage,
  Scan,
  ScanBody,
  ScanListQuery,
  ScanSummary,
} from '../schemas.js';
import type { ApiDeps } from './index.js';
import { authenticationReportStream } from '../authentication-report.js';
import { scanSummaryBySet } from '../scan-summary.js';
import { listIdentity, pageRequest, splitListQuery, type ListCursors } from '../paging.js';
import { applianceIsAlive } from '../appliance-status.js';
import { createSharedLoader } from '../shared-loader.js';

const iso = (d: Date | null) => (d ? d.toISOString() : null);
const tags = ['scans'];

export async function scanRoutes(
  parent: FastifyInstance,
  { db, temporal, cursors }: ApiDeps & { cursors: ListCursors },
): Promise<void> {
  const api = parent.withTypeProvider<TypeBoxTypeProvider>();
  const scans = createScanService({ db, temporal });
  const operator = { role: 'operator' as const };
  const reader = { role: 'reader' as const };
  /** The scan as the API shows it; a list passes the pools it read for its whole page at once. */
  const view = async (scan: Awaited<ReturnType<typeof scanRepo.get>>, pools?: Map<string, string[]>) => {
    const applianceIds = pools?.get(scan.id) ?? (await scanRepo.appliancePool(db, scan.id));
    const counts = await resultRepo.countByCategory(db, scan.id);
    // A host has one result per technology it is scanned with: counts are of results.
    const doneResults = Object.values(counts).reduce((a, b) => a + b, 0);
    const doneHosts = doneResults === 0 ? 0 : await resultRepo.countHosts(db, scan.id);
    return {
      id: scan.id,
      title: scan.title,
      targets: scan.targets,
      status: scan.status,
      statusReason: scan.statusReason,
      hostCount: scan.hostCount,
      optionProfileId: scan.optionProfileId,
      applianceId: scan.applianceId,
      applianceIds,
      workflowId: scan.workflowId,
      scheduleId: scan.scheduleId,
      createdAt: scan.createdAt.toISOString(),
      startedAt: iso(scan.startedAt),
      finishedAt: iso(scan.finishedAt),
      progress: { doneHosts, doneResults, totalHosts: scan.hostCount, counts },
    };
  };
  // What GET /scans/:id answers: at most a second old while the scan runs, kept once it ended.
  const scanView = createSharedLoader(async (id) => view(await scanRepo.get(db, id)), {
    isFinal: (v) => v.status !== 'QUEUED' && v.status !== 'RUNNING',
  });

  api.post(
    '/scans',
    {
      config: operator,
      schema: {
        tags,
        body: ScanBody,
        response: { 202: Type.Intersect([Scan, Type.Object({ warnings: Type.Array(Type.String()) })]) },
      },
    },
    async (request, reply) => {
      let prepared;
      try {
        prepared = await scans.start(request.body);
      } catch (err) {
        if (err instanceof ScanRequestError) throw badRequest(err.field, err.reason, err.detail);
        if (err instanceof ScanStartError) {
          request.log.error({ err: err.cause }, 'could not start the scan workflow');
          throw new ApiProblem(503, err.message);
        }
        throw err;
      }
      const { scan, workflowId, appliances } = prepared;
      await withAudit(
        request,
        (tx) => scanRepo.setWorkflowId(tx, scan.id, workflowId),
        () => ({ recordId: scan.id, scanId: scan.id, applianceId: scan.applianceId }),
        202,
      );
      const alive = await Promise.all(appliances.map((a) => applianceIsAlive(temporal, a.id).catch(() => true)));
      const offline = appliances.filter((_, i) => !alive[i]);
      const start = (a: (typeof appliances)[number]) => `workers/appliance/main.ts with VAULTSCAN_APPLIANCE_ID=${a.id}`;
      const warnings =
        offline.length === appliances.length
          ? offline.map(
              (a) =>
                `appliance "${a.name}" has no worker running: its hosts are NOT_ATTEMPTED (APPLIANCE_UNAVAILABLE) unless one starts within the option profile's applianceUnavailableMs (${start(a)})`,
            )
          : offline.map(
              (a) =>
                `appliance "${a.name}" of the pool has no worker running: the others take its share of the hosts until one starts (${start(a)})`,
            );
      return reply.code(202).send({ ...(await view({ ...scan, workflowId })), warnings });
    },
  );

  api.get(
    '/scans',
    { config: reader, schema: { tags, querystring: ScanListQuery, response: { 200: Paged(Scan) } } },
    async (req) => {
      const { limit, cursor, filters } = splitListQuery(req.query);
      // A cursor continues the list it came from: the same schedule's scans, or all.
      const list = listIdentity('/scans', filters);
      const page = await scanRepo.list(db, {
        ...pageRequest(cursors, list, { limit, cursor }),
        ...(req.query.scheduleId !== undefined && { scheduleId: req.query.scheduleId }),
      });
      const pools = await scanRepo.appliancePools(
        db,
        page.rows.map((scan) => scan.id),
      );
      return {
        items: await Promise.all(page.rows.map((scan) => view(scan, pools))),
        nextCursor: page.next && cursors.encode(list, page.next),
      };
    },
  );

  api.get('/scans/:id', { config: reader, schema: { tags, params: IdParams, response: { 200: Scan } } }, async (req) =>
    scanView(req.params.id),
  );

  api.get(
    '/scans/:id/results',
    {
      config: reader,
      schema: { tags, params: IdParams, querystring: ResultsPage, response: { 200: Paged(HostResultView) } },
    },
    async (req) => {
      await scanRepo.get(db, req.params.id);
      // The cursor is bound to this scan's results: another scan's is refused.
      const list = `/scans/${req.params.id}/results`;
      const page = pageRequest(cursors, list, req.query, RESULTS_PAGE.fallback);
      const results = await resultRepo.list(db, req.params.id, { ...page, includePackages: true });
      return {
        items: results.rows.map((r) => ({
          ip: r.ip,
          technology: r.technology,
          category: r.category,
          errorCode: r.errorCode,
          vendorCode: r.vendorCode,
          cause: r.cause,
          login: r.login,
          authRecordId: r.authRecordId,
          flags: r.flags,
          finishedAt: r.finishedAt.toISOString(),
          collected: r.facts ? { facts: r.facts, packageCount: r.packageCount, packages: r.packages ?? [] } : null,
          attempts: r.attempts.map((a) => ({ ...a, at: a.at.toISOString() })),
        })),
        nextCursor: results.next && cursors.encode(list, results.next),
      };
    },
  );

  api.get(
    '/scans/:id/summary',
    {
      config: reader,
      schema: {
        tags,
        params: IdParams,
        summary: 'The scan by asset group and by tag: x of y hosts, z % passed',
        response: { 200: ScanSummary },
      },
    },
    async (req) => {
      const scan = await scanRepo.get(db, req.params.id);
      return { scanId: scan.id, ...(await scanSummaryBySet(db, scan.id)) };
    },
  );

  api.get(
    '/scans/:id/authentication-report',
    {
      config: reader,
      schema: {
        tags,
        params: IdParams,
        querystring: ReportQuery,
        description:
          'Every host of the scan in address order, streamed: JSON (the scan, the vault loans no appliance process gave back, its results by asset group and by tag as in /summary, then its hosts) or, with format=csv, CSV with the same columns.',
      },
    },
    async (req, reply) => {
      const scan = await scanRepo.get(db, req.params.id);
      const format = req.query.format ?? 'json';
      if (format === 'csv') {
        reply
          .header('content-type', 'text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="authentication-report-${scan.id}.csv"`);
      } else reply.header('content-type', 'application/json; charset=utf-8');
      return reply.send(authenticationReportStream(db, scan, format));
    },
  );

  api.post('/scans/:id/cancel', { config: operator, schema: { tags, params: IdParams } }, async (req, reply) => {
    const scan = await scanRepo.get(db, req.params.id);
    if (!['QUEUED', 'RUNNING'].includes(scan.status))
      throw new ApiProblem(409, `scan ${scan.id} is already ${scan.status}`);
    try {
      await temporal.workflow.getHandle(scan.workflowId ?? `scan-${scan.id}`).signal(cancelSignal);
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      throw new ApiProblem(409, `scan ${scan.id} has no running workflow`);
    }
    // Nothing in the database changes: the workflow ends the scan; this records who asked.
    await withAudit(
      req,
      async () => undefined,
      () => ({ recordId: scan.id, scanId: scan.id }),
      202,
    );
    return reply.code(202).send({ id: scan.id, status: 'CANCELING' });
  });
}
