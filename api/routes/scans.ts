// Scans: launch (a Temporal workflow), watch, read results and the Authentication Report, cancel.
import type { FastifyInstance } from 'fastify';
import { WorkflowNotFoundError } from '@temporalio/client';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  applianceRepo,
  assetRepo,
  profileRepo,
  profileSettings,
  resultRepo,
  scanRepo,
} from '../../db/repositories/index.js';
import {
  countHosts,
  formatRange,
  MAX_SCAN_HOSTS,
  parseTargets,
  TargetSpecError,
  rangesWithin,
} from '../../domain/targets.js';
import { ApplianceIdAttr, ScanIdAttr, ScanStatusAttr } from '../../domain/search-attributes.js';
import { describeCode, isErrorCode } from '../../domain/errors.js';
import type { scanWorkflow } from '../../workflows/scan.js';
import { CONTROL_PLANE_QUEUE } from '../../workflows/activity-stubs.js';
import { cancelSignal } from '../../workflows/messages.js';
import { ApiProblem, badRequest } from '../problems.js';
import { withAudit } from '../plugins/audit.js';
import { IdParams, Page, Scan, ScanBody } from '../schemas.js';
import type { ApiDeps } from './index.js';
import { toCsv } from '../csv.js';
import { applianceIsAlive } from '../appliance-status.js';
import { createSharedLoader } from '../shared-loader.js';

const iso = (d: Date | null) => (d ? d.toISOString() : null);
const tags = ['scans'];

export async function scanRoutes(parent: FastifyInstance, { db, temporal }: ApiDeps): Promise<void> {
  const api = parent.withTypeProvider<TypeBoxTypeProvider>();
  const operator = { role: 'operator' as const };
  const reader = { role: 'reader' as const };
  const view = async (scan: Awaited<ReturnType<typeof scanRepo.get>>) => {
    const counts = await resultRepo.countByCategory(db, scan.id);
    const doneHosts = Object.values(counts).reduce((a, b) => a + b, 0);
    return {
      id: scan.id,
      title: scan.title,
      targets: scan.targets,
      status: scan.status,
      statusReason: scan.statusReason,
      hostCount: scan.hostCount,
      optionProfileId: scan.optionProfileId,
      applianceId: scan.applianceId,
      workflowId: scan.workflowId,
      createdAt: scan.createdAt.toISOString(),
      startedAt: iso(scan.startedAt),
      finishedAt: iso(scan.finishedAt),
      progress: { doneHosts, totalHosts: scan.hostCount, counts },
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
      const body = request.body;
      let ranges;
      try {
        ranges = parseTargets(body.targets);
      } catch (err) {
        if (err instanceof TargetSpecError) throw badRequest('targets', err.message);
        throw err;
      }
      const hostCount = countHosts(ranges);
      if (hostCount > BigInt(MAX_SCAN_HOSTS))
        throw badRequest('targets', `covers ${hostCount} hosts; one scan takes at most ${MAX_SCAN_HOSTS}`);
      const outside = rangesWithin(ranges, await assetRepo.coveredRanges(db));
      if (outside.length > 0) {
        const names = outside.map(formatRange);
        throw badRequest(
          'targets',
          `not within any registered asset: ${names.slice(0, 20).join(', ')}${names.length > 20 ? ', …' : ''}`,
          { outside: names },
        );
      }
      const profile = body.optionProfileId
        ? await profileRepo.get(db, body.optionProfileId).catch(() => {
            throw badRequest('optionProfileId', `option profile ${body.optionProfileId} does not exist`);
          })
        : await profileRepo.getDefault(db);
      const appliance = body.applianceId
        ? await applianceRepo.get(db, body.applianceId).catch(() => {
            throw badRequest('applianceId', `appliance ${body.applianceId} does not exist`);
          })
        : (await applianceRepo.list(db, { limit: 1 }))[0];
      if (!appliance)
        throw badRequest('applianceId', 'no appliance is registered: register one with POST /api/v1/appliances first');
      if (!appliance.keyId)
        throw badRequest(
          'applianceId',
          `appliance "${appliance.name}" has not enrolled its key, so no vault access can be sealed to it: start its worker with an enrolment code (POST /api/v1/appliances/${appliance.id}/enrolment-codes)`,
        );

      const scan = await scanRepo.create(db, {
        title: body.title,
        targets: body.targets,
        ranges,
        optionProfileId: profile.id,
        applianceId: appliance.id,
      });
      const workflowId = `scan-${scan.id}`;
      try {
        await temporal.workflow.start<typeof scanWorkflow>('scanWorkflow', {
          taskQueue: CONTROL_PLANE_QUEUE,
          workflowId,
          args: [
            {
              scanId: scan.id,
              applianceId: String(appliance.id),
              profile: profileSettings(profile),
              totalHosts: Number(hostCount),
            },
          ],
          typedSearchAttributes: [
            { key: ScanIdAttr, value: scan.id },
            { key: ApplianceIdAttr, value: String(appliance.id) },
            { key: ScanStatusAttr, value: 'RUNNING' },
          ],
        });
      } catch (err) {
        // Nothing half-written: a scan that never started leaves no row behind.
        await scanRepo.remove(db, scan.id);
        request.log.error({ err }, 'could not start the scan workflow');
        throw new ApiProblem(503, 'the scan could not be started: Temporal is unavailable');
      }
      await withAudit(
        request,
        (tx) => scanRepo.setWorkflowId(tx, scan.id, workflowId),
        () => ({ recordId: scan.id, scanId: scan.id, applianceId: appliance.id }),
        202,
      );
      const warnings: string[] = [];
      if (!(await applianceIsAlive(temporal, appliance.id).catch(() => true))) {
        warnings.push(
          `appliance "${appliance.name}" has no worker running: its hosts are NOT_ATTEMPTED (APPLIANCE_UNAVAILABLE) unless one starts within the option profile's applianceUnavailableMs (workers/appliance/main.ts with VAULTSCAN_APPLIANCE_ID=${appliance.id})`,
        );
      }
      return reply.code(202).send({ ...(await view({ ...scan, workflowId })), warnings });
    },
  );

  api.get(
    '/scans',
    { config: reader, schema: { tags, querystring: Page, response: { 200: Type.Array(Scan) } } },
    async (req) => Promise.all((await scanRepo.list(db, req.query)).map(view)),
  );

  api.get('/scans/:id', { config: reader, schema: { tags, params: IdParams, response: { 200: Scan } } }, async (req) =>
    scanView(req.params.id),
  );

  api.get(
    '/scans/:id/results',
    { config: reader, schema: { tags, params: IdParams, querystring: Page } },
    async (req) => {
      await scanRepo.get(db, req.params.id);
      const limit = req.query.limit ?? 50;
      const offset = req.query.offset ?? 0;
      const results = await resultRepo.list(db, req.params.id, { limit, offset, includePackages: true });
      return {
        limit,
        offset,
        results: results.map((r) => ({
          ip: r.ip,
          technology: r.technology,
          category: r.category,
          errorCode: r.errorCode,
          vendorCode: r.vendorCode,
          cause: r.cause,
          login: r.login,
          authRecordId: r.authRecordId,
          flags: r.flags,
          finishedAt: iso(r.finishedAt),
          collected: r.facts ? { facts: r.facts, packageCount: r.packageCount, packages: r.packages ?? [] } : null,
          attempts: r.attempts.map((a) => ({ ...a, at: iso(a.at) })),
        })),
      };
    },
  );

  api.get(
    '/scans/:id/authentication-report',
    {
      config: reader,
      schema: {
        tags,
        params: IdParams,
        querystring: Type.Object(
          { format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('csv')])) },
          { additionalProperties: false },
        ),
      },
    },
    async (req, reply) => {
      const scan = await scanRepo.get(db, req.params.id);
      const rows: Record<string, unknown>[] = [];
      for (let offset = 0; ; offset += 500) {
        const page = await resultRepo.authenticationReport(db, scan.id, { limit: 500, offset });
        for (const h of page.hosts) {
          rows.push({
            ip: h.ip,
            technology: h.technology,
            status: h.category,
            cause: h.cause,
            errorCode: h.errorCode,
            vendorCode: h.vendorCode,
            remedy: isErrorCode(h.errorCode) ? describeCode(h.errorCode).remedy : null,
            login: h.login,
            authRecord: h.authRecordName,
            flags: h.flags.join(' '),
            attempts: h.attempts.length,
            finishedAt: iso(h.finishedAt),
          });
        }
        if (offset + 500 >= page.total) break;
      }
      if (req.query.format === 'csv') {
        return reply
          .header('content-type', 'text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="authentication-report-${scan.id}.csv"`)
          .send(
            toCsv(
              [
                'ip',
                'technology',
                'status',
                'cause',
                'errorCode',
                'vendorCode',
                'remedy',
                'login',
                'authRecord',
                'flags',
                'attempts',
                'finishedAt',
              ],
              rows,
            ),
          );
      }
      return { scanId: scan.id, title: scan.title, status: scan.status, hosts: rows };
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
