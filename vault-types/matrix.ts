// The vault support matrix, generated from the registrations: served by GET /api/v1/vault-types
// and shown in the README (a test keeps the README's table equal to this one).
import { TECHNOLOGIES, TECHNOLOGY_LOGIN_SECRETS, type Technology } from '../domain/categories.js';
import { SECRET_FIELDS, SECRET_FIELD_NAMES, type SecretField } from '../domain/secret-fields.js';
import { VAULT_TYPE_SPECS } from './index.js';
import type { VaultTypeSpec } from './spec.js';

type JsonSchema = Record<string, unknown>;

export interface VaultTypeDescription {
  type: string;
  label: string;
  secretFields: SecretField[];
  technologies: Technology[];
  schemas: { config: JsonSchema; access: JsonSchema; locator: JsonSchema };
}

/** A schema as plain JSON (TypeBox's objects carry markers of their own). */
const plain = (schema: unknown) => JSON.parse(JSON.stringify(schema)) as JsonSchema;

export function describeVaultType(spec: VaultTypeSpec): VaultTypeDescription {
  return {
    type: spec.type,
    label: spec.label,
    secretFields: SECRET_FIELD_NAMES.filter((f) => spec.secretFields.includes(f)),
    technologies: TECHNOLOGIES.filter((t) => TECHNOLOGY_LOGIN_SECRETS[t].some((s) => spec.secretFields.includes(s))),
    schemas: { config: plain(spec.config), access: plain(spec.access), locator: plain(spec.locator) },
  };
}

export const vaultMatrix = (): VaultTypeDescription[] => Object.values(VAULT_TYPE_SPECS).map(describeVaultType);

/** The matrix as the README's Markdown table. */
export function vaultMatrixMarkdown(): string {
  const requiredOf = (schema: JsonSchema) => ((schema.required as string[] | undefined) ?? []).join(', ') || '—';
  const rows = vaultMatrix().map((v) =>
    [
      `\`${v.type}\``,
      v.label,
      v.secretFields.map((f) => SECRET_FIELDS[f].label).join(', '),
      v.technologies.join(', '),
      requiredOf(v.schemas.locator),
    ].join(' | '),
  );
  return [
    '| type | vault | secrets it supplies | technologies | locator needs |',
    '| --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r} |`),
  ].join('\n');
}
