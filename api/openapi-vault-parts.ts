// In the OpenAPI document, a vault part whose type the request cannot name itself (a PATCH's
// config or access, an authentication record's locator) is shown as any one of the vault
// types' schemas, each titled by its type, instead of an opaque object. The routes check such a
// part by the stored vault's type (vault-parts.ts).
import { VAULT_TYPE_SPECS } from '../vault-types/index.js';
import { TECHNOLOGY_SPECS } from '../technologies/index.js';

type Part = 'config' | 'access' | 'locator';
const isPart = (value: unknown): value is Part => value === 'config' || value === 'access' || value === 'locator';

function partSchemas(part: Part): Record<string, unknown>[] {
  return Object.values(VAULT_TYPE_SPECS).map((spec) => ({
    ...(JSON.parse(JSON.stringify(spec[part])) as Record<string, unknown>),
    title: `${spec.type} ${part}`,
  }));
}

function rewrite(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(rewrite);
  if (typeof node !== 'object' || node === null) return node;
  const record = node as Record<string, unknown>;
  const part = record['x-vault-part'];
  if (isPart(part)) return { description: record.description, anyOf: partSchemas(part) };
  // An authentication record's settings: one of the technologies' (its technology's).
  if (record['x-technology-settings'])
    return {
      description: record.description,
      anyOf: Object.values(TECHNOLOGY_SPECS).map((spec) => JSON.parse(JSON.stringify(spec.settings)) as unknown),
    };
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, rewrite(value)]));
}

/** For @fastify/swagger's transformObject: the document with every marked vault part typed. */
export function typeVaultParts<T>(document: T): T {
  return rewrite(document) as T;
}
