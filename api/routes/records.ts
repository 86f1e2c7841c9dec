// CRUD routes for the registered records. Each resource is described once; the routes,
// validation and OpenAPI entries come from that description.
import type { FastifyInstance } from 'fastify';
import { Type, type TSchema } from '@fastify/type-provider-typebox';
import { IdParams, Page } from '../schemas.js';

export interface ResourceSpec<Row, Create, Patch> {
  path: string;
  tag: string;
  createBody: TSchema;
  patchBody: TSchema;
  view: TSchema;
  /** The list's query string, when it filters by more than a page. */
  listQuery?: TSchema;
  toView(row: Row): unknown;
  list(query: { limit?: number; offset?: number } & Record<string, unknown>): Promise<Row[]>;
  get(id: string): Promise<Row>;
  create(body: Create): Promise<Row>;
  update(id: string, body: Patch): Promise<Row>;
  remove(id: string): Promise<void>;
}

export function registerResource<Row, Create, Patch>(
  api: FastifyInstance,
  spec: ResourceSpec<Row, Create, Patch>,
): void {
  const tags = [spec.tag];
  const ok = { 200: spec.view };
  api.get<{ Querystring: { limit?: number; offset?: number } }>(
    spec.path,
    { schema: { tags, querystring: spec.listQuery ?? Page, response: { 200: Type.Array(spec.view) } } },
    async (req) => (await spec.list(req.query)).map(spec.toView),
  );
  api.get<{ Params: { id: string } }>(
    `${spec.path}/:id`,
    { schema: { tags, params: IdParams, response: ok } },
    async (req) => spec.toView(await spec.get(req.params.id)),
  );
  api.post<{ Body: Create }>(
    spec.path,
    { schema: { tags, body: spec.createBody, response: { 201: spec.view } } },
    async (req, reply) => reply.code(201).send(spec.toView(await spec.create(req.body as Create))),
  );
  api.patch<{ Params: { id: string }; Body: Patch }>(
    `${spec.path}/:id`,
    { schema: { tags, params: IdParams, body: spec.patchBody, response: ok } },
    async (req) => spec.toView(await spec.update(req.params.id, req.body as Patch)),
  );
  api.delete<{ Params: { id: string } }>(
    `${spec.path}/:id`,
    { schema: { tags, params: IdParams } },
    async (req, reply) => {
      await spec.remove(req.params.id);
      return reply.code(204).send();
    },
  );
}
