// JSON request bodies, parsed and checked before any route sees them. Refused with a 400
// naming the field: JSON that does not parse; nesting deeper than any real request needs
// (everything that walks a value later, JSON.stringify and PostgreSQL's jsonb included,
// recurses, and thousands of levels overflow its stack); keys that reach an object's
// prototype when code copies the value (`__proto__`, `constructor`, `prototype`); numbers
// JSON cannot carry back (1e400 parses as Infinity, which would be stored as null).
// An empty body is no body: a route that needs one then says `body` is required.
import type { FastifyInstance } from 'fastify';
import { badRequest } from './problems.js';

/** Objects and arrays within objects and arrays, counting the body itself as 1. */
export const MAX_JSON_DEPTH = 32;
const PROTOTYPE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

interface Problem {
  field: string;
  reason: string;
}

const fieldName = (path: readonly string[]) => path.join('.') || 'body';

/** The first problem in a parsed body, found without recursion (the value may be deep). */
export function firstJsonProblem(body: unknown): Problem | undefined {
  const pending: { value: unknown; path: string[]; depth: number }[] = [{ value: body, path: [], depth: 1 }];
  while (pending.length > 0) {
    const { value, path, depth } = pending.pop()!;
    if (typeof value === 'number' && !Number.isFinite(value))
      return { field: fieldName(path), reason: 'is a number too large to store' };
    if (!value || typeof value !== 'object') continue;
    if (depth > MAX_JSON_DEPTH) {
      // Named by the body's field it is in (an array body has none: the body is at fault).
      const field = Array.isArray(body) ? 'body' : fieldName(path.slice(0, 1));
      return { field, reason: `is nested more than ${MAX_JSON_DEPTH} levels deep` };
    }
    for (const [key, child] of Object.entries(value)) {
      if (PROTOTYPE_KEYS.has(key))
        return { field: fieldName([...path, key]), reason: 'is a name that is not allowed in a request' };
      pending.push({ value: child, path: [...path, key], depth: depth + 1 });
    }
  }
  return undefined;
}

export function installJsonBodyParser(app: FastifyInstance): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(null, undefined);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      // The parser's own message quotes the body; the caller has it already, the log need not.
      return done(badRequest('body', 'is not valid JSON'));
    }
    const problem = firstJsonProblem(value);
    return problem ? done(badRequest(problem.field, problem.reason)) : done(null, value);
  });
}
