// Checks every vault type makes of the address its access secret is sent to.
import type { ValidationProblem } from './adapter.js';

/**
 * A vault's URL: https, with no credentials in it. Plain http only when the record says
 * allowInsecureHttp: true (a lab vault), and every result fetched through it is flagged.
 */
export function checkVaultUrl(value: unknown, allowInsecureHttp: boolean, example: string): ValidationProblem[] {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    return [{ field: 'config.url', reason: `must be an https URL, e.g. ${example}` }];
  }
  if (url.protocol === 'http:' && !allowInsecureHttp) {
    return [
      {
        field: 'config.url',
        reason: `must be https: the access secret would cross the network in the clear (set config.allowInsecureHttp: true only for a lab vault)`,
      },
    ];
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return [{ field: 'config.url', reason: `must be an https URL, e.g. ${example}` }];
  }
  if (url.username || url.password) {
    return [{ field: 'config.url', reason: 'must not carry a user name or password; put credentials in access' }];
  }
  return [];
}

export const isPlainHttpUrl = (value: unknown) => typeof value === 'string' && /^http:/i.test(value.trim());
