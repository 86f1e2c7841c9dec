// A vault record's config and access, and an authentication record's locator, checked against
// the vault's type: its schema first (400 naming the field), then what only the type can check
// (settings that go together, PEMs that must parse). PATCH bodies and locators cannot name the
// type themselves, so the routes check them here, by the stored vault's type.
import type { ValidateFunction } from 'ajv';
import { VAULT_TYPE_SPECS, vaultTypeSpec, type ValidationProblem, type VaultTypeSpec } from '../vault-types/index.js';
import { badRequest } from './problems.js';
import { createBodyAjv, describeSchemaError } from './validation.js';

type Part = 'config' | 'access' | 'locator';

const ajv = createBodyAjv();
const validators = new Map<string, ValidateFunction>();

function validatorFor(spec: VaultTypeSpec, part: Part): ValidateFunction {
  const key = `${spec.type}/${part}`;
  let validate = validators.get(key);
  if (!validate) {
    validate = ajv.compile(spec[part]);
    validators.set(key, validate);
  }
  return validate;
}

function schemaProblems(spec: VaultTypeSpec, part: Part, value: unknown): ValidationProblem[] {
  const validate = validatorFor(spec, part);
  if (validate(value)) return [];
  return (validate.errors ?? []).slice(0, 1).map((e) => describeSchemaError(e, { prefix: part, whole: part }));
}

function fail(problems: ValidationProblem[]): void {
  const first = problems[0];
  if (first) throw badRequest(first.field, first.reason, { problems });
}

export function specOf(type: string): VaultTypeSpec {
  const spec = vaultTypeSpec(type);
  if (!spec) throw badRequest('type', `must be one of: ${Object.keys(VAULT_TYPE_SPECS).join(', ')}`);
  return spec;
}

/** The whole of a vault record's settings: config, and access when given (it is required on create). */
export function checkVaultSettings(
  type: string,
  settings: { config: Record<string, unknown>; access?: Record<string, unknown> },
): void {
  const spec = specOf(type);
  fail(schemaProblems(spec, 'config', settings.config));
  fail(spec.checkConfig?.(settings.config) ?? []);
  if (settings.access === undefined) return;
  fail(schemaProblems(spec, 'access', settings.access));
  fail(spec.checkAccess?.(settings.access, settings.config) ?? []);
}

/** An item's locator, for the vault's type; `at` names where it sits in the body (locator, item.locator). */
export function checkLocator(type: string, locator: Record<string, unknown>, at = 'locator'): void {
  const spec = specOf(type);
  const placed = (problems: ValidationProblem[]) =>
    problems.map((p) => ({ ...p, field: p.field.replace(/^locator(?=\.|$)/, at) }));
  fail(placed(schemaProblems(spec, 'locator', locator)));
  fail(placed(spec.checkLocator?.(locator) ?? []));
}
