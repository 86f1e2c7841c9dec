// Request validation. Bodies are JSON and are taken as typed: "5" is not a number there. Query
// strings and path parameters are always text, so there a number or boolean in text form is
// read as one ("?limit=50"); anything else still fails, naming the parameter.
import { Ajv, type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifyInstance } from 'fastify';

// TypeBox marks its schemas with keywords of its own; Ajv should ignore them, not refuse them.
const common: Options = { removeAdditional: false, allErrors: false, useDefaults: true, strict: false };

function withFormats(ajv: Ajv): Ajv {
  (addFormats as unknown as (ajv: Ajv) => Ajv)(ajv);
  return ajv;
}

export function installValidators(app: FastifyInstance): void {
  const forBodies = withFormats(new Ajv({ ...common, coerceTypes: false }));
  const forText = withFormats(new Ajv({ ...common, coerceTypes: true }));
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'querystring' || httpPart === 'params' || httpPart === 'headers' ? forText : forBodies).compile(
      schema,
    ),
  );
}
