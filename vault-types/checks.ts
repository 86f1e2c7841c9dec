// Checks several vault types make that a JSON schema cannot: where the access secret is sent,
// and that certificates and keys parse.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { ValidationProblem } from './spec.js';

export const missing = (field: string, what: string): ValidationProblem => ({
  field,
  reason: `is required for ${what}`,
});

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
  if (url.search || url.hash) {
    return [{ field: 'config.url', reason: 'must be a base URL, without a query string or fragment' }];
  }
  return [];
}

export const isPlainHttpUrl = (value: unknown) => typeof value === 'string' && /^http:/i.test(value.trim());

/** Every certificate in a PEM bundle parses (a bundle may hold a chain). */
export function checkCertificates(value: unknown, field: string): ValidationProblem[] {
  const blocks =
    typeof value === 'string' ? value.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) : null;
  if (!blocks) return [{ field, reason: 'must be a PEM certificate (-----BEGIN CERTIFICATE----- …)' }];
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch (err) {
      const which = blocks.length > 1 ? ` (certificate ${i + 1} of ${blocks.length})` : '';
      return [{ field, reason: `is not a certificate that parses${which}: ${(err as Error).message}` }];
    }
  }
  return [];
}

/** A private key parses (with its passphrase, when it has one). The key's text is never echoed. */
export function checkPrivateKey(value: unknown, passphrase: unknown, field: string): ValidationProblem[] {
  try {
    createPrivateKey({
      key: String(value),
      format: 'pem',
      ...(typeof passphrase === 'string' && { passphrase }),
    });
    return [];
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    // An encrypted key that does not open is the passphrase's fault: a missing one fails as
    // "interrupted or cancelled", and a wrong one now and then decrypts (padding and all) to
    // bytes that fail as "unsupported" rather than "bad decrypt".
    if (
      /ENCRYPTED/.test(String(value)) ||
      /PASSPHRASE|BAD_DECRYPT/i.test(code) ||
      /passphrase|bad decrypt/i.test((err as Error).message)
    )
      return [{ field: `${field}Passphrase`, reason: 'does not open the private key (wrong or missing passphrase)' }];
    return [{ field, reason: 'must be a PEM private key that parses (-----BEGIN PRIVATE KEY----- …)' }];
  }
}

/** The settings of a vault reached over HTTPS: its URL and CA. */
export function checkHttpsConfig(config: Record<string, unknown>, example: string): ValidationProblem[] {
  const problems = checkVaultUrl(config.url, config.allowInsecureHttp === true, example);
  if (config.caCert !== undefined) problems.push(...checkCertificates(config.caCert, 'config.caCert'));
  return problems;
}

/** A client certificate and its key come together, and both parse. */
export function checkClientCertificate(
  config: Record<string, unknown>,
  access: Record<string, unknown>,
): ValidationProblem[] {
  const problems: ValidationProblem[] = [];
  if (config.clientCert !== undefined) problems.push(...checkCertificates(config.clientCert, 'config.clientCert'));
  if (config.clientCert !== undefined && access.clientKey === undefined)
    problems.push(missing('access.clientKey', 'a client certificate'));
  if (access.clientKey !== undefined && config.clientCert === undefined)
    problems.push(missing('config.clientCert', 'a client key'));
  if (access.clientKey !== undefined)
    problems.push(...checkPrivateKey(access.clientKey, access.clientKeyPassphrase, 'access.clientKey'));
  return problems;
}
