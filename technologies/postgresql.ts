// PostgreSQL: port 5432; the database to connect to, and how the connection is protected (TLS,
// on by default). Logs in with a password (SCRAM-SHA-256, MD5, or plain over TLS only).
import { Type } from 'typebox';
import type { TechnologySpec } from './spec.js';
import { checkTlsSettings, tlsSettings } from './tls.js';

export const POSTGRESQL_DEFAULT_DATABASE = 'postgres';

export const postgresqlSpec: TechnologySpec = {
  technology: 'postgresql',
  label: 'PostgreSQL',
  defaultPort: 5432,
  settings: Type.Object(
    {
      database: Type.Optional(
        Type.String({
          minLength: 1,
          maxLength: 63,
          default: POSTGRESQL_DEFAULT_DATABASE,
          description: 'The database the login connects to (default postgres); the role needs CONNECT on it',
        }),
      ),
      ...tlsSettings,
    },
    { additionalProperties: false, title: 'postgresql settings' },
  ),
  checkSettings: checkTlsSettings,
};
