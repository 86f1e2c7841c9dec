// Recurring scans: /schedules, on Temporal's own Schedules (services/schedule-service.ts says
// where the truth lives and how the Temporal Schedule and the row stay consistent). Each run is
// an ordinary scan, linked to its schedule (GET /scans?scheduleId=…). Operator role; every change
// audited in the transaction that stores it.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { scheduleRepo } from '../../db/repositories/index.js';
import { LIMITS } from '../../domain/schedule-timing.js';
import {
  createScheduleService,
  ScheduleBusyError,
  ScheduleMissingError,
  ScheduleRequestError,
  ScheduleTemporalError,
  type Commit,
} from '../../services/schedule-service.js';
import { withAudit } from '../plugins/audit.js';
import { ApiProblem, badRequest } from '../problems.js';
import { listIdentity, pageRequest, type ListCursors } from '../paging.js';
import {
  IdParams,
  Page,
  Paged,
  Schedule,
  ScheduleBody,
  ScheduleNoteBody,
  SchedulePatch,
  ScheduleTriggerBody,
} from '../schemas.js';
import type { ApiDeps } from './index.js';

const tags = ['schedules'];

export async function scheduleRoutes(
  parent: FastifyInstance,
  { db, temporal, cursors }: ApiDeps & { cursors: ListCursors },
): Promise<void> {
  const api = parent.withTypeProvider<TypeBoxTypeProvider>();
  const operator = { role: 'operator' as const };
  const servicesOf = (request: FastifyRequest) => createScheduleService({ db, temporal, logger: request.log });
  const schedules = createScheduleService({ db, temporal });
  /** The change stored and audited in one transaction (withAudit), as every route's. */
  const audited =
    (request: FastifyRequest, status = 200): Commit =>
    (change) =>
      withAudit(request, change, (r) => ({ recordId: (r as { id?: string } | undefined)?.id ?? null }), status);
  const who = (request: FastifyRequest) => request.principal?.name ?? 'an API key';
  // pause, resume and trigger take an optional body: none at all is an empty one.
  const emptyBodyIsNone = async (request: FastifyRequest) => {
    if (request.body === undefined) request.body = {};
  };

  /** The service's typed failures as the API answers them. */
  const answer = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (err) {
      if (err instanceof ScheduleRequestError) throw badRequest(err.field, err.reason, err.detail);
      if (err instanceof ScheduleMissingError || err instanceof ScheduleBusyError)
        throw new ApiProblem(409, err.message);
      if (err instanceof ScheduleTemporalError) throw new ApiProblem(503, err.message);
      throw err;
    }
  };

  api.post(
    '/schedules',
    {
      config: operator,
      schema: {
        tags,
        description:
          'A recurring scan: a Temporal Schedule whose every run starts an ordinary scan from this scan request (checked now as POST /scans would, and again at each run).',
        body: ScheduleBody,
        response: { 201: Schedule },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const row = await answer(() =>
        servicesOf(request).create(
          {
            name: b.name,
            scan: b.scan,
            cron: b.cron ?? [],
            intervals: b.intervals ?? [],
            timeZone: b.timeZone ?? LIMITS.defaultTimeZone,
            overlap: b.overlap ?? 'skip',
            catchupWindow: b.catchupWindow ?? LIMITS.defaultCatchupWindow,
            pauseOnFailure: b.pauseOnFailure ?? false,
            paused: b.paused ?? false,
            ...(b.note !== undefined && { note: b.note }),
          },
          audited(request, 201),
        ),
      );
      return reply.code(201).send(await answer(() => schedules.details(row)));
    },
  );

  api.get(
    '/schedules',
    {
      config: operator,
      schema: {
        tags,
        description: 'Oldest first, each with Temporal’s account of it (state, timing, next and recent runs).',
        querystring: Page,
        response: { 200: Paged(Schedule) },
      },
    },
    async (request) => {
      const list = listIdentity('/schedules');
      const page = await scheduleRepo.list(db, pageRequest(cursors, list, request.query));
      return {
        items: await answer(() => Promise.all(page.rows.map((row) => schedules.details(row)))),
        nextCursor: page.next && cursors.encode(list, page.next),
      };
    },
  );

  api.get(
    '/schedules/:id',
    { config: operator, schema: { tags, params: IdParams, response: { 200: Schedule } } },
    async (request) => answer(async () => schedules.details(await scheduleRepo.get(db, request.params.id))),
  );

  api.patch(
    '/schedules/:id',
    { config: operator, schema: { tags, params: IdParams, body: SchedulePatch, response: { 200: Schedule } } },
    async (request) => {
      const { paused, note } = request.body;
      const row = await answer(() =>
        servicesOf(request).update(
          request.params.id,
          {
            ...request.body,
            // A pause or resume without a note says who did it, as POST …/pause does.
            ...(paused !== undefined &&
              note === undefined && { note: `${paused ? 'paused' : 'resumed'} by ${who(request)}` }),
          },
          audited(request),
        ),
      );
      return answer(() => schedules.details(row));
    },
  );

  api.delete(
    '/schedules/:id',
    {
      config: operator,
      schema: {
        tags,
        description:
          'Deletes the Temporal Schedule and the schedule; scans it started stay (no longer linked), a running one goes on.',
        params: IdParams,
      },
    },
    async (request, reply) => {
      await answer(() => servicesOf(request).remove(request.params.id, audited(request, 204)));
      return reply.code(204).send();
    },
  );

  for (const [action, describe] of [
    ['pause', 'Takes no runs until resumed; a running scan goes on.'],
    ['resume', 'Runs again at its times (missed ones within the catch-up window).'],
  ] as const)
    api.post(
      `/schedules/:id/${action}`,
      {
        config: operator,
        preValidation: emptyBodyIsNone,
        schema: { tags, description: describe, params: IdParams, body: ScheduleNoteBody, response: { 200: Schedule } },
      },
      async (request) => {
        const { id } = request.params;
        const note = request.body.note ?? `${action === 'pause' ? 'paused' : 'resumed'} by ${who(request)}`;
        await answer(() => (action === 'pause' ? schedules.pause(id, note) : schedules.resume(id, note)));
        // The change is Temporal's; the trail records who asked, once it is made.
        await withAudit(request, async () => undefined);
        return answer(async () => schedules.details(await scheduleRepo.get(db, id)));
      },
    );

  api.post(
    '/schedules/:id/trigger',
    {
      config: operator,
      preValidation: emptyBodyIsNone,
      schema: {
        tags,
        description:
          'A run now, paused or not: its scan starts within moments (GET the schedule: recentRuns). Under the schedule’s own overlap policy unless the body names another; with skip, a run still going is a 409.',
        params: IdParams,
        body: ScheduleTriggerBody,
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const { overlap } = await answer(() => schedules.trigger(id, request.body.overlap));
      await withAudit(
        request,
        async () => undefined,
        () => ({ detail: { overlap } }),
        202,
      );
      return reply.code(202).send({ id, overlap });
    },
  );
}
