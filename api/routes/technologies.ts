// The technologies this build logs in with: each one's default port, the shape of an
// authentication record's settings for it, the secrets it logs in with and the vault types that
// can supply them, generated from the registrations (technologies/, vault-types/).
import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { TECHNOLOGY_LOGIN_SECRETS } from '../../domain/categories.js';
import { TECHNOLOGY_SPECS } from '../../technologies/index.js';
import { VAULT_TYPE_SPECS } from '../../vault-types/index.js';

const TechnologyView = Type.Object({
  technology: Type.String(),
  label: Type.String(),
  defaultPort: Type.Integer(),
  loginSecrets: Type.Array(Type.String(), { description: 'The target secrets it can log in with (any one)' }),
  vaultTypes: Type.Array(Type.String(), { description: 'The vault types that can supply one of them' }),
  settings: Type.Record(Type.String(), Type.Unknown(), { description: "JSON Schema of a record's settings" }),
});

export async function technologyRoutes(parent: FastifyInstance): Promise<void> {
  const api = parent.withTypeProvider<TypeBoxTypeProvider>();
  const items = Object.values(TECHNOLOGY_SPECS).map((spec) => {
    const loginSecrets: readonly string[] = TECHNOLOGY_LOGIN_SECRETS[spec.technology];
    return {
      technology: spec.technology,
      label: spec.label,
      defaultPort: spec.defaultPort,
      loginSecrets: [...loginSecrets],
      vaultTypes: Object.values(VAULT_TYPE_SPECS)
        .filter((v) => loginSecrets.some((s) => (v.secretFields as readonly string[]).includes(s)))
        .map((v) => v.type),
      settings: JSON.parse(JSON.stringify(spec.settings)) as Record<string, unknown>,
    };
  });
  api.get(
    '/technologies',
    {
      config: { role: 'reader' as const },
      schema: {
        tags: ['auth-records'],
        summary: 'The technologies, their default ports and record settings',
        response: { 200: Type.Object({ items: Type.Array(TechnologyView), nextCursor: Type.Null() }) },
      },
    },
    async () => ({ items, nextCursor: null }),
  );
}
