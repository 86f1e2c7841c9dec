// The vault support matrix: every vault type this build speaks, with the shapes of its config,
// access secret and locator, the target secrets it can supply and the technologies it serves,
// generated from the registrations (vault-types/). The README shows the same table.
import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { TECHNOLOGIES } from '../../domain/categories.js';
import { SECRET_FIELD_NAMES } from '../../domain/secret-fields.js';
import { vaultMatrix } from '../../vault-types/matrix.js';

const JsonSchema = Type.Record(Type.String(), Type.Unknown(), { description: 'A JSON Schema' });
const VaultTypeView = Type.Object({
  type: Type.String(),
  label: Type.String(),
  secretFields: Type.Array(Type.Enum(SECRET_FIELD_NAMES), {
    description: 'The target secrets an item of this vault can supply',
  }),
  technologies: Type.Array(Type.Enum(TECHNOLOGIES), { description: 'The technologies whose logins it can supply' }),
  schemas: Type.Object({ config: JsonSchema, access: JsonSchema, locator: JsonSchema }),
});

export async function vaultTypeRoutes(parent: FastifyInstance): Promise<void> {
  const api = parent.withTypeProvider<TypeBoxTypeProvider>();
  const items = vaultMatrix();
  api.get(
    '/vault-types',
    {
      config: { role: 'reader' as const },
      schema: {
        tags: ['vaults'],
        summary: 'The vault support matrix',
        response: { 200: Type.Object({ items: Type.Array(VaultTypeView), nextCursor: Type.Null() }) },
      },
    },
    async () => ({ items, nextCursor: null }),
  );
}
