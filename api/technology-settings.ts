// An authentication record's technology settings, checked against its technology's spec: the
// schema first (400 naming the field), then what only the technology can check. A PATCH may
// change the technology or the settings alone, so the route checks what the record would be.
import type { ValidateFunction } from 'ajv';
import { TECHNOLOGY_SPECS, technologySpec, type TechnologySpec } from '../technologies/index.js';
import { badRequest } from './problems.js';
import { createBodyAjv, describeSchemaError } from './validation.js';

const ajv = createBodyAjv();
const validators = new Map<string, ValidateFunction>();

function validatorFor(spec: TechnologySpec): ValidateFunction {
  let validate = validators.get(spec.technology);
  if (!validate) {
    validate = ajv.compile(spec.settings);
    validators.set(spec.technology, validate);
  }
  return validate;
}

export function technologySpecOf(technology: string): TechnologySpec {
  const spec = technologySpec(technology);
  if (!spec) throw badRequest('technology', `must be one of: ${Object.keys(TECHNOLOGY_SPECS).join(', ')}`);
  return spec;
}

/** The record's settings for its technology; throws a 400 naming the first field at fault. */
export function checkTechnologySettings(technology: string, settings: Record<string, unknown>): void {
  const spec = technologySpecOf(technology);
  const validate = validatorFor(spec);
  const problems = validate(settings)
    ? (spec.checkSettings?.(settings) ?? [])
    : (validate.errors ?? []).slice(0, 1).map((e) => describeSchemaError(e, { prefix: 'settings', whole: 'settings' }));
  const first = problems[0];
  if (first) throw badRequest(first.field, first.reason, { problems });
}
