// Google Cloud Secret Manager: a service account's signed JWT exchanged for an access token
// (jwt-bearer grant), then GET /v1/projects/<p>/secrets/<s>/versions/<v>:access.
import { createPrivateKey } from 'node:crypto';
import { Type } from 'typebox';
import { commonConfig, httpsConfig, type ValidationProblem, type VaultTypeSpec } from './spec.js';
import { checkCertificates, checkPrivateKey, checkVaultUrl } from './checks.js';
import { SECRET_FIELD_NAMES } from '../domain/secret-fields.js';

export const DEFAULT_GCP_TOKEN_URI = 'https://oauth2.googleapis.com/token';
export const DEFAULT_GCP_ENDPOINT = 'https://secretmanager.googleapis.com';

const config = Type.Object(
  {
    clientEmail: Type.String({
      pattern: '^[A-Za-z0-9._%+-]{1,128}@[A-Za-z0-9.-]{1,253}$',
      maxLength: 320,
      description: "The service account's e-mail (client_email in its key file)",
    }),
    privateKeyId: Type.Optional(
      Type.String({
        pattern: '^[0-9a-fA-F]{1,128}$',
        description: "The key's id (private_key_id in the key file), sent as the JWT's kid",
      }),
    ),
    tokenUri: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 2048,
        description: `Where the signed JWT is exchanged for a token (token_uri; default ${DEFAULT_GCP_TOKEN_URI})`,
      }),
    ),
    endpoint: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 2048,
        description: `The Secret Manager API's base URL (default ${DEFAULT_GCP_ENDPOINT}; a regional one, e.g. https://secretmanager.europe-west1.rep.googleapis.com, for regional secrets)`,
      }),
    ),
    caCert: httpsConfig.caCert,
    ...commonConfig,
  },
  { additionalProperties: false, title: 'GcpSecretManagerConfig' },
);

const access = Type.Object(
  {
    privateKey: Type.String({
      minLength: 1,
      maxLength: 16 * 1024,
      description: "The service account key's private_key (RSA, PEM: -----BEGIN PRIVATE KEY----- …)",
    }),
  },
  { additionalProperties: false, title: 'GcpSecretManagerAccess' },
);

const locator = Type.Object(
  {
    project: Type.String({
      pattern: '^(?:[a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]{1,20}|[a-z][a-z0-9.-]{0,62}:[a-z][a-z0-9-]{4,28}[a-z0-9])$',
      description: 'The project id (or number) that holds the secret',
    }),
    location: Type.Optional(
      Type.String({
        pattern: '^[a-z][a-z0-9-]{1,62}$',
        description: 'For a regional secret: its location, e.g. europe-west1 (use the regional endpoint)',
      }),
    ),
    secret: Type.String({
      pattern: '^[A-Za-z0-9_-]{1,255}$',
      description: 'The secret id. Its payload is the field "value", or a JSON object whose keys the record names',
    }),
    version: Type.Optional(
      Type.String({
        pattern: '^(?:[1-9][0-9]{0,18}|latest|latest-enabled)$',
        description:
          'A version number, latest (default; the newest even when disabled) or latest-enabled (the newest enabled one)',
      }),
    ),
  },
  { additionalProperties: false, title: 'GcpSecretManagerLocator' },
);

/** An https URL from the shared check, under this type's field name. */
function checkUrl(value: unknown, field: string, example: string): ValidationProblem[] {
  return checkVaultUrl(value, false, example).map((p) => ({ ...p, field }));
}

export const gcpSecretManagerSpec: VaultTypeSpec = {
  type: 'gcp-secret-manager',
  label: 'Google Cloud Secret Manager',
  config,
  access,
  locator,
  // Any field of an item: every kind of target secret.
  secretFields: SECRET_FIELD_NAMES,
  destinationFields: ['clientEmail', 'tokenUri', 'endpoint', 'caCert'],
  usesPlainHttp: () => false,

  checkConfig(c) {
    const problems: ValidationProblem[] = [];
    if (c.tokenUri !== undefined) problems.push(...checkUrl(c.tokenUri, 'config.tokenUri', DEFAULT_GCP_TOKEN_URI));
    if (c.endpoint !== undefined) problems.push(...checkUrl(c.endpoint, 'config.endpoint', DEFAULT_GCP_ENDPOINT));
    if (c.caCert !== undefined) problems.push(...checkCertificates(c.caCert, 'config.caCert'));
    return problems;
  },

  checkAccess(a) {
    const problems = checkPrivateKey(a.privateKey, undefined, 'access.privateKey');
    // A key file's private_key is never encrypted: one that asks for a passphrase is not it.
    if (problems.length > 0)
      return problems.map((p) =>
        p.field === 'access.privateKey'
          ? p
          : { field: 'access.privateKey', reason: "is encrypted: give the key file's private_key, which is not" },
      );
    if (createPrivateKey(String(a.privateKey)).asymmetricKeyType !== 'rsa')
      return [{ field: 'access.privateKey', reason: 'must be an RSA key (service account keys sign RS256)' }];
    return [];
  },
};
