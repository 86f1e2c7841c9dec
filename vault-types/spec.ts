// What a vault type is, apart from how it is spoken to: the shapes of its config, access
// secret and locator (TypeBox: they validate requests and appear in the OpenAPI document and
// in GET /vault-types), the checks a schema cannot express, the target secrets it can supply,
// and which config settings decide where the access secret goes. The API, the appliance's
// adapters and the support matrix all read it from here.
import { Type, type Static, type TObject, type TProperties } from 'typebox';
import type { SecretField } from '../domain/secret-fields.js';

/** A problem with a request, naming the field and the reason. */
export type ValidationProblem = { field: string; reason: string };

export interface VaultTypeSpec {
  readonly type: string;
  /** The product's name, as its administrators know it. */
  readonly label: string;
  readonly config: TObject;
  /** The scanner's own credentials for the vault: write-only, stored encrypted, sealed to the appliance. */
  readonly access: TObject;
  /** Where one item lives in the vault. */
  readonly locator: TObject;
  /** The kinds of target secret an item of this vault can supply. */
  readonly secretFields: readonly SecretField[];
  /**
   * The config settings that decide where the access secret is sent (address, CA, client
   * certificate, auth method, tenant…). Changing one requires entering the access secret
   * again, so a stored secret only ever goes where it was entered for.
   */
  readonly destinationFields: readonly string[];
  /** Whether the access secret would travel over plain HTTP (only with allowInsecureHttp). */
  usesPlainHttp(config: Record<string, unknown>): boolean;
  /** What the schemas cannot say: settings that depend on each other, PEMs that must parse. */
  checkConfig?(config: Record<string, unknown>): ValidationProblem[];
  checkAccess?(access: Record<string, unknown>, config: Record<string, unknown>): ValidationProblem[];
  checkLocator?(locator: Record<string, unknown>): ValidationProblem[];
}

/** Settings every vault record has, whatever its type. */
export const commonConfig = {
  timeoutMs: Type.Optional(
    Type.Integer({
      minimum: 100,
      maximum: 600_000,
      description: 'How long one call to the vault may take, in milliseconds (default 10000)',
    }),
  ),
  maxConcurrentRequests: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 64,
      description: 'The most calls one appliance process makes to this vault at once (default 4); more wait their turn',
    }),
  ),
} satisfies TProperties;
export const DEFAULT_VAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_CONCURRENT_REQUESTS = 4;

const Pem = (what: string) =>
  Type.String({ minLength: 1, maxLength: 48 * 1024, description: `${what}, PEM (-----BEGIN …-----)` });

/** Settings of a vault reached over HTTPS. */
export const httpsConfig = {
  url: Type.String({ minLength: 1, maxLength: 2048, description: 'The base URL, https' }),
  allowInsecureHttp: Type.Optional(
    Type.Boolean({
      description: 'Allow a plain-http URL (a lab vault only): the access secret then crosses the network in the clear',
    }),
  ),
  caCert: Type.Optional(Pem('CA certificate(s) to trust for the vault, instead of the system store')),
} satisfies TProperties;

/** A client certificate for mutual TLS: the certificate is config, its key is access. */
export const clientCertificateConfig = {
  clientCert: Type.Optional(Pem('The client certificate presented for mutual TLS')),
} satisfies TProperties;
export const clientKeyAccess = {
  clientKey: Type.Optional(Pem("The client certificate's private key")),
  clientKeyPassphrase: Type.Optional(
    Type.String({ minLength: 1, maxLength: 1024, description: "The private key's passphrase, if it has one" }),
  ),
} satisfies TProperties;

export type HttpsConfig = Static<TObject<typeof httpsConfig>>;

/** A string naming something in a path: plain segments, no "." or "..", nothing a URL would re-read. */
const SEGMENT = '(?:[A-Za-z0-9_-][A-Za-z0-9._-]*|\\.[A-Za-z0-9_-][A-Za-z0-9._-]*|\\.\\.[A-Za-z0-9._-]+)';
export const PathText = (description: string, maxLength = 512) =>
  Type.String({ minLength: 1, maxLength, pattern: `^/?${SEGMENT}(?:/${SEGMENT})*/?$`, description });
