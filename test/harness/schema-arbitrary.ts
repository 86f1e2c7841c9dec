// fast-check arbitraries from the JSON Schemas of an OpenAPI document: values a schema allows
// (so requests get past validation and reach the handlers), plausible values for fields the
// schema cannot describe (hints: an existing record's id, an address inside a registered
// asset), and deliberate damage (wrong types, extra keys, huge strings, deep nesting, NUL, lone
// surrogates, prototype keys, bodies that are not objects) for the API to refuse.
import fc from 'fast-check';

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  patternProperties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
}

/** Plausible values by property or parameter name, mixed in with what the schema allows. */
export type Hints = Record<string, fc.Arbitrary<unknown>>;

const anyJson = fc.jsonValue({ maxDepth: 2 });

/** A value the schema allows (or, through a hint, a value the API will find meaningful). */
export function valueOf(schema: JsonSchema, hints: Hints = {}, name?: string): fc.Arbitrary<unknown> {
  const base = fromSchema(schema, hints);
  const hint = name === undefined ? undefined : hints[name];
  return hint ? fc.oneof({ arbitrary: hint, weight: 3 }, { arbitrary: base, weight: 1 }) : base;
}

function fromSchema(schema: JsonSchema, hints: Hints): fc.Arbitrary<unknown> {
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const choices = schema.anyOf ?? schema.oneOf;
  if (choices) return fc.oneof(...choices.map((s) => fromSchema(s, hints)));
  if (schema.allOf) return objectOf(mergeObjects(schema.allOf), hints);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'string':
      return stringOf(schema);
    case 'integer':
      return fc.integer({ min: schema.minimum ?? -(2 ** 31), max: schema.maximum ?? 2 ** 31 });
    case 'number':
      return fc.double({ min: schema.minimum ?? -1e9, max: schema.maximum ?? 1e9, noNaN: true });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array': {
      const items = fromSchema(schema.items ?? {}, hints);
      const sizes = { minLength: schema.minItems ?? 0, maxLength: Math.min(schema.maxItems ?? 4, 4) };
      return schema.uniqueItems
        ? fc.uniqueArray(items, { ...sizes, selector: (v) => JSON.stringify(v) })
        : fc.array(items, sizes);
    }
    case 'object':
      return objectOf(schema, hints);
    default:
      return anyJson;
  }
}

function stringOf(schema: JsonSchema): fc.Arbitrary<string> {
  if (schema.format === 'uuid') return fc.uuid();
  if (schema.format === 'date-time')
    return fc
      .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true })
      .map((d) => d.toISOString());
  if (schema.pattern) return fc.stringMatching(new RegExp(schema.pattern), { maxLength: 64 });
  const minLength = schema.minLength ?? 0;
  const maxLength = Math.max(minLength, Math.min(schema.maxLength ?? 40, 40));
  return fc.oneof(
    fc.string({ minLength, maxLength, unit: 'grapheme-ascii' }),
    fc.string({ minLength, maxLength, unit: 'grapheme' }),
  );
}

function mergeObjects(parts: JsonSchema[]): JsonSchema {
  return {
    type: 'object',
    properties: Object.assign({}, ...parts.map((p) => p.properties ?? {})),
    required: parts.flatMap((p) => p.required ?? []),
    additionalProperties: false,
  };
}

function objectOf(schema: JsonSchema, hints: Hints): fc.Arbitrary<unknown> {
  const properties = schema.properties ?? {};
  if (Object.keys(properties).length === 0) {
    const values = Object.values(schema.patternProperties ?? {})[0];
    return fc.dictionary(fc.string({ maxLength: 12 }), values ? fromSchema(values, hints) : anyJson, { maxKeys: 4 });
  }
  const record = Object.fromEntries(Object.entries(properties).map(([key, s]) => [key, valueOf(s, hints, key)]));
  return fc.record(record, { requiredKeys: (schema.required ?? []).filter((k) => k in properties) });
}

/** One deliberate fault, applied to an otherwise allowed value. */
export type Damage =
  | { kind: 'wrongType'; at: number; value: unknown }
  | {
      kind: 'extraKey' | 'hugeString' | 'deepNesting' | 'nul' | 'loneSurrogate' | 'protoKey' | 'constructorKey';
      at: number;
    }
  | { kind: 'notAnObject'; body: string };

const faultAt = (kind: Exclude<Damage['kind'], 'wrongType' | 'notAnObject'>) =>
  fc.record({ kind: fc.constant(kind), at: fc.nat() });

export const damage: fc.Arbitrary<Damage> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('wrongType' as const),
      at: fc.nat(),
      value: fc.constantFrom(-1, 0, 1.5, 1e308, true, null, 'text', [], {}, [1, 2], { a: 1 }),
    }),
  },
  { weight: 2, arbitrary: faultAt('deepNesting') },
  { weight: 1, arbitrary: faultAt('extraKey') },
  { weight: 1, arbitrary: faultAt('hugeString') },
  { weight: 1, arbitrary: faultAt('nul') },
  { weight: 1, arbitrary: faultAt('loneSurrogate') },
  { weight: 1, arbitrary: faultAt('protoKey') },
  { weight: 1, arbitrary: faultAt('constructorKey') },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('notAnObject' as const),
      body: fc.constantFrom('[]', '[{}]', '42', 'null', '"text"', 'true', '', '{', '{"a":}', '\u0000'),
    }),
  },
);

const HUGE = 'x'.repeat(300_000);
const deeplyNested = (levels: number) => '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);

const isPlainObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/**
 * The JSON text of `value` with `fault` done to it (a string body when the value is not an
 * object). Every other time the fault goes one level down, beside the fields of an object-valued
 * field that stay as they were ({"access": {"token": "t", "extra": <fault>}}), so that it gets
 * past the checks of the fields around it.
 */
export function damagedJson(value: unknown, fault: Damage): string {
  if (fault.kind === 'notAnObject') return fault.body;
  const body: Record<string, unknown> = isPlainObject(value) ? { ...value } : {};
  const inner = Object.keys(body).filter((k) => isPlainObject(body[k]));
  const nested = fault.at % 2 === 1 && inner.length > 0 ? inner[fault.at % inner.length]! : undefined;
  const target: Record<string, unknown> = nested ? { ...(body[nested] as Record<string, unknown>) } : body;
  if (nested) body[nested] = target;
  const keys = Object.keys(target);
  const key = keys.length > 0 ? keys[fault.at % keys.length]! : 'field';
  // Inside a field, deep nesting goes beside its siblings rather than in place of one of them.
  const beside = nested ? `field${fault.at % 3}` : key;
  const text = (v: unknown) => (typeof v === 'string' ? v : 'text');
  switch (fault.kind) {
    case 'wrongType':
      target[key] = fault.value;
      break;
    case 'extraKey':
      target[`unexpected${fault.at % 10}`] = 'surplus';
      break;
    case 'hugeString':
      target[key] = HUGE;
      break;
    case 'nul':
      target[key] = `${text(target[key])}\u0000after`;
      break;
    case 'loneSurrogate':
      target[key] = `${text(target[key])}\ud800`;
      break;
    case 'protoKey':
      Object.defineProperty(target, '__proto__', { value: { isAdmin: true }, enumerable: true });
      break;
    case 'constructorKey':
      Object.defineProperty(target, 'constructor', { value: { prototype: { isAdmin: true } }, enumerable: true });
      break;
    case 'deepNesting': {
      // Written as text: 5,000 levels are more than JSON.stringify's own recursion should be asked for.
      target[beside] = '\u0001deep';
      return JSON.stringify(body).replace('"\\u0001deep"', deeplyNested(5_000));
    }
  }
  return JSON.stringify(body);
}
