// CRUD routes for the registered records. Each resource is described once; the routes, their
// roles, validation, the audit of every change and the OpenAPI entries come from that description.
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyRequest, RawServerDefault, RouteGenericInterface } from 'fastify';
import { type Static, type TObject, type TSchema, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Database } from '../../db/client.js';
import type { KeysetPage, Paged as PagedRows } from '../../db/repositories/index.js';
import type { RouteRole } from '../../domain/roles.js';
import { withAudit } from '../plugins/audit.js';
import { listIdentity, pageAnswer, pageRequest, splitListQuery, type ListCursors } from '../paging.js';
import { IdParams, Paged } from '../schemas.js';

/** What Fastify makes of a validated request part: the spec's functions take exactly that. */
type Validated<Part extends 'body' | 'querystring', S extends TSchema> = FastifyRequest<
  RouteGenericInterface,
  RawServerDefault,
  IncomingMessage,
  { [K in Part]: S },
  TypeBoxTypeProvider
>[Part extends 'body' ? 'body' : 'query'];

export interface ResourceSpec<
  Row extends { id: string },
  View extends TSchema,
  Create extends TSchema,
  Patch extends TSchema,
  Query extends TObject,
> {
  path: string;
  tag: string;
  /** Who may read the records, and who may change them. */
  roles: { read: RouteRole; write: RouteRole };
  createBody: Create;
  patchBody: Patch;
  view: View;
  /** The list's query string: Page, or a schema that filters by more than a page. */
  listQuery: Query;
  toView(row: Row): Static<View>;
  /** A keyset page of the list; `query` carries its filters. */
  list(query: Validated<'querystring', Query>, page: KeysetPage & { limit: number }): Promise<PagedRows<Row>>;
  get(id: string): Promise<Row>;
  /** Each change runs in the transaction `tx` that also records it in the audit trail. */
  create(tx: Database, body: Validated<'body', Create>): Promise<Row>;
  update(tx: Database, id: string, body: Validated<'body', Patch>): Promise<Row>;
  remove(tx: Database, id: string): Promise<void>;
}

export function registerResource<
  Row extends { id: string },
  View extends TSchema,
  Create extends TSchema,
  Patch extends TSchema,
  Query extends TObject,
>(
  parent: FastifyInstance,
  db: Database,
  cursors: ListCursors,
  spec: ResourceSpec<Row, View, Create, Patch, Query>,
): void {
  const api = parent.withTypeProvider<TypeBoxTypeProvider>();
  const tags = [spec.tag];
  const read = { role: spec.roles.read };
  const write = { role: spec.roles.write };
  // toView's answers are checked against View where each resource is declared; here the schema
  // only shapes and filters the response (Fastify cannot resolve a generic View's static type).
  const view: TSchema = spec.view;
  api.get(
    spec.path,
    { config: read, schema: { tags, querystring: spec.listQuery, response: { 200: Paged(view) } } },
    async (req) => {
      const { limit, cursor, filters } = splitListQuery(req.query);
      // A cursor continues the list it came from: this path, with the same filters.
      const list = listIdentity(spec.path, filters);
      const page = pageRequest(cursors, list, { limit, cursor });
      return pageAnswer(cursors, list, await spec.list(req.query, page), (row) => spec.toView(row));
    },
  );
  api.get(
    `${spec.path}/:id`,
    { config: read, schema: { tags, params: IdParams, response: { 200: view } } },
    async (req) => spec.toView(await spec.get(req.params.id)),
  );
  api.post(
    spec.path,
    { config: write, schema: { tags, body: spec.createBody, response: { 201: view } } },
    async (req, reply) => {
      const row = await withAudit(
        req,
        (tx) => spec.create(tx, req.body),
        (r) => ({ recordId: r.id }),
        201,
      );
      return reply.code(201).send(spec.toView(row));
    },
  );
  api.patch(
    `${spec.path}/:id`,
    { config: write, schema: { tags, params: IdParams, body: spec.patchBody, response: { 200: view } } },
    async (req) => spec.toView(await withAudit(req, (tx) => spec.update(tx, req.params.id, req.body))),
  );
  api.delete(`${spec.path}/:id`, { config: write, schema: { tags, params: IdParams } }, async (req, reply) => {
    await withAudit(req, (tx) => spec.remove(tx, req.params.id), undefined, 204);
    return reply.code(204).send();
  });
}
