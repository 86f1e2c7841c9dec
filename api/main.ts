// The API process of a production deployment: `tsx api/main.ts`. Needs DATABASE_URL,
// VAULTSCAN_MASTER_KEYS, VAULTSCAN_CODEC_KEYS and TEMPORAL_ADDRESS. On the very first start
// (no API key yet) it writes the first admin key to VAULTSCAN_FIRST_ADMIN_KEY_FILE (0600).
import { createLogger } from '../runtime/logger.js';
import { loadCodecKeyring } from '../temporal/codec-keys.js';
import { createDataConverter } from '../temporal/data-converter.js';
import { EncryptionCodec } from '../temporal/encryption-codec.js';
import { connectClient, temporalSettingsFromEnv } from '../temporal/connection.js';
import { openDatabase } from '../db/client.js';
import { loadKeyring, SecretBox } from '../db/crypto.js';
import { apiKeyRepo, auditChainKeys } from '../db/repositories/index.js';
import { buildApp } from './app.js';
import { ensureFirstAdminKey } from './first-admin-key.js';
import { defaultHostnames } from './plugins/host-check.js';

async function run(): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('set DATABASE_URL to the PostgreSQL database (the embedded PGlite is for npm start only)');
  const logger = createLogger('api');
  const codecKeyring = loadCodecKeyring();
  const settings = temporalSettingsFromEnv(createDataConverter(codecKeyring));
  const database = await openDatabase({ url });
  const box = new SecretBox(loadKeyring());
  const firstKeyFile = process.env.VAULTSCAN_FIRST_ADMIN_KEY_FILE;
  if ((await apiKeyRepo.count(database.db)) === 0) {
    if (!firstKeyFile)
      throw new Error(
        'no API key exists yet: set VAULTSCAN_FIRST_ADMIN_KEY_FILE to where the first admin key should be written (0600)',
      );
    await ensureFirstAdminKey(database.db, auditChainKeys(box), firstKeyFile);
    logger.info({ file: firstKeyFile }, 'first admin API key written');
  }
  const temporal = await connectClient(settings);
  const host = process.env.VAULTSCAN_API_HOST ?? '127.0.0.1';
  const app = await buildApp({
    logger,
    codec: new EncryptionCodec(codecKeyring, { acceptPlaintext: true }),
    temporalUiUrl: process.env.VAULTSCAN_TEMPORAL_UI_URL,
    allowedHostnames: defaultHostnames(host, process.env.VAULTSCAN_API_HOSTNAMES),
    secureCookies: process.env.VAULTSCAN_SECURE_COOKIES !== 'false',
    db: database.db,
    box,
    temporal,
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      void app
        .close()
        .then(() => Promise.all([database.close(), temporal.connection.close()]))
        .then(() => process.exit(0));
    });
  }
  await app.listen({
    host,
    port: Number(process.env.VAULTSCAN_API_PORT ?? 8800),
  });
}

run().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
