// The TLS settings the database technologies share: how the login's connection is protected,
// and the CA its server certificate must chain to. The modes are libpq's names (PostgreSQL's
// sslmode), which MySQL's --ssl-mode mirrors (VERIFY_IDENTITY is verify-full).
import { Type } from 'typebox';
import { checkCertificates } from '../vault-types/checks.js';
import type { ValidationProblem } from '../vault-types/spec.js';

export const TLS_MODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const;
export type TlsMode = (typeof TLS_MODES)[number];

/**
 * A scanner sends passwords: by default it never sends one in the clear. `require` encrypts
 * without authenticating the server (it works with the self-signed certificates most database
 * servers have); `verify-full` with the CA is what a record should say where it can.
 */
export const DEFAULT_TLS_MODE: TlsMode = 'require';

export const tlsSettings = {
  tlsMode: Type.Optional(
    Type.Enum([...TLS_MODES], {
      default: DEFAULT_TLS_MODE,
      description:
        'disable: plain text (the password crosses the network in the clear); require (the default): TLS, the server not authenticated; verify-ca: TLS, the certificate must chain to caCert (or the system CAs); verify-full: verify-ca and the certificate must name the host address',
    }),
  ),
  caCert: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 30 * 1024,
      description:
        "tlsMode verify-ca or verify-full: the CA certificate(s) the server's certificate must chain to, PEM (-----BEGIN CERTIFICATE-----); without it, the system's CAs",
    }),
  ),
};

export const tlsModeOf = (settings: Record<string, unknown>): TlsMode =>
  (TLS_MODES as readonly unknown[]).includes(settings.tlsMode) ? (settings.tlsMode as TlsMode) : DEFAULT_TLS_MODE;

/** A CA only where it is used (a verify mode), and one that parses. */
export function checkTlsSettings(settings: Record<string, unknown>): ValidationProblem[] {
  if (settings.caCert === undefined) return [];
  const mode = tlsModeOf(settings);
  if (mode !== 'verify-ca' && mode !== 'verify-full')
    return [
      {
        field: 'settings.caCert',
        reason: `is used only with tlsMode verify-ca or verify-full (tlsMode is ${mode}): set tlsMode, or leave caCert out`,
      },
    ];
  return checkCertificates(settings.caCert, 'settings.caCert');
}
