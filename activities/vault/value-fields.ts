// Vaults whose item is one value (Azure Key Vault, GCP Secret Manager): the record's field
// name "value" means the whole value; any other name is a key of the value read as a JSON
// object ({"password": "…", "private_key": "…"}). Values never appear in messages.
import { ScanError } from '../../domain/scan-error.js';
import { SECRET_FIELD_NAMES } from '../../domain/secret-fields.js';
import type { CredentialFields, FetchedCredential } from './adapter.js';

/** The field name that means the secret's whole value. */
export const WHOLE_VALUE = 'value';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function readValueFields(value: string, fields: CredentialFields, what: string): FetchedCredential {
  const out: FetchedCredential = {};
  let parsed: Record<string, unknown> | undefined;
  let parseTried = false;
  for (const kind of SECRET_FIELD_NAMES) {
    const name = fields[kind];
    if (!name) continue;
    if (name === WHOLE_VALUE) {
      out[kind] = Buffer.from(value, 'utf8');
      continue;
    }
    if (!parseTried) {
      parseTried = true;
      try {
        const json: unknown = JSON.parse(value);
        if (isObject(json)) parsed = json;
      } catch {
        parsed = undefined;
      }
    }
    if (!parsed)
      throw new ScanError(
        'VAULT_SECRET_NOT_FOUND',
        `${what} is not a JSON object, so it has no field "${name}" (name the field "${WHOLE_VALUE}" to use the whole secret)`,
      );
    if (!(name in parsed)) throw new ScanError('VAULT_SECRET_NOT_FOUND', `${what} has no field "${name}"`);
    const field = parsed[name];
    if (typeof field !== 'string') throw new ScanError('VAULT_BAD_RESPONSE', `${what} field "${name}" is not a string`);
    out[kind] = Buffer.from(field, 'utf8');
  }
  return out;
}

/** A record that names no field asks for nothing: a configuration error, not a vault one. */
export function requireSomeField(fields: CredentialFields): void {
  if (!SECRET_FIELD_NAMES.some((f) => fields[f]))
    throw new ScanError('CONFIG_INVALID', 'the authentication record names no vault field to read');
}
