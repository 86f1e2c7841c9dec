// Request validation. Bodies are JSON and are taken as typed: "5" is not a number there. Query
// strings and path parameters are always text, so there a number or boolean in text form is
// read as one ("?limit=50"); anything else still fails, naming the parameter.
import { Ajv, type ErrorObject, type Options, type SchemaValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifyInstance } from 'fastify';
import { unstorableReason } from '../domain/text.js';
import { badRequest } from './problems.js';

// TypeBox marks its schemas with keywords of its own; Ajv should ignore them, not refuse them.
const common: Options = { removeAdditional: false, allErrors: false, useDefaults: true, strict: false };

/**
 * `maxJsonBytes`: a bound on a value's size written as JSON (UTF-8 bytes), for the settings
 * whose shape belongs to a vault type (config, access, locator). What is stored there travels
 * in Temporal payloads, so its size is bounded where it enters.
 */
const maxJsonBytes: SchemaValidateFunction = (limit: number, data: unknown) => {
  const size = Buffer.byteLength(JSON.stringify(data) ?? '', 'utf8');
  if (size <= limit) return true;
  maxJsonBytes.errors = [
    { keyword: 'maxJsonBytes', params: { limit }, message: `is ${size} bytes as JSON; at most ${limit}` },
  ];
  return false;
};

function withKeywords(ajv: Ajv): Ajv {
  (addFormats as unknown as (ajv: Ajv) => Ajv)(ajv);
  ajv.addKeyword({ keyword: 'maxJsonBytes', schemaType: 'number', errors: true, validate: maxJsonBytes });
  return ajv;
}

/** The Ajv that checks JSON bodies (and the vault parts the routes check by type, vault-parts.ts). */
export const createBodyAjv = () => withKeywords(new Ajv({ ...common, coerceTypes: false, discriminator: true }));

/**
 * One Ajv error as a user reads it: the field ("config.url", "limit") and the reason, never
 * the value (it may be a secret). `prefix` names the part checked when it is not the whole
 * request part ("config"); `whole` names the part when the error is about all of it.
 */
export function describeSchemaError(
  error: ErrorObject,
  where: { prefix?: string; whole: string },
): { field: string; reason: string } {
  const params = error.params as {
    missingProperty?: string;
    additionalProperty?: string;
    allowedValues?: unknown[];
    tag?: string;
  };
  const path = error.instancePath.replace(/^\//, '').replaceAll('/', '.');
  const extra = params.missingProperty ?? params.additionalProperty ?? params.tag;
  const inner = [path, extra].filter(Boolean).join('.');
  const field = where.prefix ? [where.prefix, inner].filter(Boolean).join('.') : inner || where.whole;
  if (error.keyword === 'additionalProperties') return { field, reason: 'is not a known field' };
  if (error.keyword === 'required') return { field, reason: 'is required' };
  if (error.keyword === 'discriminator') return { field, reason: 'is not one of the allowed values' };
  if (error.keyword === 'enum' && params.allowedValues && params.allowedValues.length <= 20)
    return { field, reason: `must be one of: ${params.allowedValues.map((v) => JSON.stringify(v)).join(', ')}` };
  return { field, reason: error.message ?? 'is invalid' };
}

export function installValidators(app: FastifyInstance): void {
  const forBodies = createBodyAjv();
  const forText = withKeywords(new Ajv({ ...common, coerceTypes: true }));
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'querystring' || httpPart === 'params' || httpPart === 'headers' ? forText : forBodies).compile(
      schema,
    ),
  );
}

/** The first string (or key) in a request part that cannot be stored, with where it is. */
function firstUnstorable(value: unknown, path: string[], depth = 0): { field: string; reason: string } | undefined {
  if (depth > 64) return undefined; // bodies are at most MAX_JSON_DEPTH deep (json-body.ts); this guards the walk
  const here = (p: string[]) => p.join('.') || 'body';
  if (typeof value === 'string') {
    const reason = unstorableReason(value);
    return reason ? { field: here(path), reason } : undefined;
  }
  if (!value || typeof value !== 'object') return undefined;
  for (const [key, child] of Object.entries(value)) {
    const keyReason = unstorableReason(key);
    if (keyReason) return { field: here([...path, key.replace(/\u0000/g, '\\0')]), reason: `name ${keyReason}` };
    const found = firstUnstorable(child, [...path, key], depth + 1);
    if (found) return found;
  }
  return undefined;
}

/**
 * Text PostgreSQL cannot store (a NUL character, an unpaired surrogate) is refused with a 400
 * naming the field, in any body, query string or path, before a route sees it.
 */
export function refuseUnstorableText(app: FastifyInstance): void {
  app.addHook('preValidation', async (request) => {
    for (const part of [request.params, request.query, request.body]) {
      const found = firstUnstorable(part, []);
      if (found) throw badRequest(found.field, found.reason);
    }
  });
}

/** A date-time the schema let through that still names no real instant (23:59:60) is a 400. */
export function parseDateField(value: string, field: string): Date {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw badRequest(field, 'is not a date and time this API can use');
  return date;
}
