// An authentication record's technology settings, checked against its technology's spec: the
// schema first (400 naming the field), then what only the technology can check. A PATCH may
// change the technology or the settings alone, so the route checks what the record would be.
import type { ValidateFunction } from 'ajv';
import { TECHNOLOGY_LOGIN_SECRETS, type Technology } from '../domain/categories.js';
import type { CredentialFieldNames, SecretField } from '../domain/secret-fields.js';
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

/**
 * The secrets each technology uses: its login secrets, and for Unix the key's passphrase and the
 * root-delegation password too.
 */
const SECRETS_USED: Record<Technology, readonly SecretField[]> = {
  unix: ['password', 'privateKey', 'passphrase', 'rootPassword'],
  postgresql: TECHNOLOGY_LOGIN_SECRETS.postgresql,
  mysql: TECHNOLOGY_LOGIN_SECRETS.mysql,
};

/**
 * The record's secrets for its technology: it names one the technology logs in with, none the
 * technology would never use (a PostgreSQL record with a private key would fail only at scan
 * time), and a root delegation only where there is root to delegate to.
 */
export function checkTechnologySecrets(
  technology: string,
  fields: CredentialFieldNames,
  rootDelegation: unknown,
): void {
  const spec = technologySpecOf(technology);
  const used = SECRETS_USED[spec.technology];
  const login: readonly SecretField[] = TECHNOLOGY_LOGIN_SECRETS[spec.technology];
  for (const field of Object.keys(fields) as SecretField[])
    if (fields[field] !== undefined && !used.includes(field))
      throw badRequest(`fields.${field}`, `is not used by the ${technology} technology (it takes ${used.join(', ')})`);
  if (!login.some((field) => fields[field] !== undefined))
    throw badRequest(
      'fields',
      `must name the vault field holding the ${login.join(' or ')} ${technology} logs in with`,
    );
  if (rootDelegation && !used.includes('rootPassword'))
    throw badRequest('rootDelegation', `is not used by the ${technology} technology (it has no root delegation)`);
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
