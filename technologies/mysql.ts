// MySQL and MariaDB: port 3306; how the connection is protected (TLS, on by default). Logs in
// with a password (mysql_native_password or caching_sha2_password); no database is selected.
import { Type } from 'typebox';
import type { TechnologySpec } from './spec.js';
import { checkTlsSettings, tlsSettings } from './tls.js';

export const mysqlSpec: TechnologySpec = {
  technology: 'mysql',
  label: 'MySQL / MariaDB',
  defaultPort: 3306,
  settings: Type.Object({ ...tlsSettings }, { additionalProperties: false, title: 'mysql settings' }),
  checkSettings: checkTlsSettings,
};
