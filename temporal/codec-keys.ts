import { join } from 'node:path';
import { keyringFromEnv, type Keyring } from './keyring.js';

/**
 * The payload codec's keys: VAULTSCAN_CODEC_KEYS (id:base64,… first active), or the file named
 * by VAULTSCAN_CODEC_KEY_FILE, or — for the embedded default — one generated in its data folder.
 */
export function loadCodecKeyring(dataDir?: string): Keyring {
  return keyringFromEnv(
    'VAULTSCAN_CODEC_KEYS',
    'VAULTSCAN_CODEC_KEY_FILE',
    dataDir ? join(dataDir, 'codec.keys') : undefined,
  );
}
