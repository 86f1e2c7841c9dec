// The API process of a production deployment: `tsx api/main.ts`. Needs DATABASE_URL,
// VAULTSCAN_MASTER_KEYS, VAULTSCAN_CODEC_KEYS, VAULTSCAN_API_TOKEN and TEMPORAL_ADDRESS.
import { createLogger } from '../workers/logger.js';
import { loadCodecKeyring } from '../workers/temporal/codec-keys.js';
import { createDataConverter } from '../workers/temporal/data-converter.js';
import { EncryptionCodec } from '../workers/temporal/encryption-codec.js';
import { connectClient, temporalSettingsFromEnv } from '../workers/temporal/connection.js';
import { openDatabase } from '../db/client.js';
import { loadKeyring, SecretBox } from '../db/crypto.js';
import { buildApp } from './app.js';

async function run(): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('set DATABASE_URL to the PostgreSQL database (the embedded PGlite is for npm start only)');
  const apiToken = process.env.VAULTSCAN_API_TOKEN;
  if (!apiToken || apiToken.length < 16)
    throw new Error(
      'set VAULTSCAN_API_TOKEN to a random token of at least 16 characters (e.g. openssl rand -base64 24)',
    );
  const logger = createLogger('api');
  const codecKeyring = loadCodecKeyring();
  const settings = temporalSettingsFromEnv(createDataConverter(codecKeyring));
  const database = await openDatabase({ url });
  const temporal = await connectClient(settings);
  const app = await buildApp({
    logger,
    apiToken,
    codec: new EncryptionCodec(codecKeyring),
    temporalUiOrigin: process.env.VAULTSCAN_TEMPORAL_UI_ORIGIN,
    db: database.db,
    box: new SecretBox(loadKeyring()),
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
    host: process.env.VAULTSCAN_API_HOST ?? '127.0.0.1',
    port: Number(process.env.VAULTSCAN_API_PORT ?? 8800),
  });
}

run().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
