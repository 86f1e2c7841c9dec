// Azure Key Vault secrets: an Entra ID client-credentials token (client secret or a
// certificate's signed assertion) from the tenant's authority, then GET /secrets/<name>.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { Type } from 'typebox';
import { commonConfig, httpsConfig, type ValidationProblem, type VaultTypeSpec } from './spec.js';
import { checkCertificates, checkPrivateKey, checkVaultUrl, missing } from './checks.js';
import { SECRET_FIELD_NAMES } from '../domain/secret-fields.js';

export const AZURE_AUTH_METHODS = ['clientSecret', 'clientCertificate'] as const;
export const DEFAULT_AUTHORITY_HOST = 'login.microsoftonline.com';

/** A host[:port], or an https URL of one (as the Azure SDKs take it). */
const AUTHORITY_HOST = '^(?:https://)?[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(?::[0-9]{1,5})?/?$';
/** A tenant's id (a GUID) or one of its verified domain names: one path segment. */
const TENANT = '^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,254}[A-Za-z0-9])?$';
const GUID = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

const config = Type.Object(
  {
    vaultUrl: Type.String({
      minLength: 1,
      maxLength: 2048,
      description: "The vault's URL, https, e.g. https://myvault.vault.azure.net",
    }),
    authorityHost: Type.Optional(
      Type.String({
        pattern: AUTHORITY_HOST,
        maxLength: 270,
        description: `The Entra ID authority host (default ${DEFAULT_AUTHORITY_HOST}; login.microsoftonline.us, login.chinacloudapi.cn for sovereign clouds)`,
      }),
    ),
    tenantId: Type.String({
      pattern: TENANT,
      maxLength: 256,
      description: 'The Entra ID tenant: its id (a GUID) or a verified domain, e.g. contoso.onmicrosoft.com',
    }),
    clientId: Type.String({
      pattern: GUID,
      description: "The scanner's app registration: its application (client) id",
    }),
    authMethod: Type.Optional(
      Type.Union(
        AZURE_AUTH_METHODS.map((m) => Type.Literal(m)),
        {
          description:
            'How the app proves itself to Entra ID: clientSecret (default) or clientCertificate (a signed assertion)',
        },
      ),
    ),
    clientCertificate: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 48 * 1024,
        description:
          "authMethod clientCertificate: the app's certificate (RSA), PEM, as uploaded to the app registration",
      }),
    ),
    caCert: httpsConfig.caCert,
    ...commonConfig,
  },
  { additionalProperties: false, title: 'AzureKeyVaultConfig' },
);

const access = Type.Object(
  {
    clientSecret: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 1024,
        description: "authMethod clientSecret: the app's client secret (its value)",
      }),
    ),
    clientCertificateKey: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 48 * 1024,
        description: "authMethod clientCertificate: the certificate's RSA private key, PEM",
      }),
    ),
    clientCertificateKeyPassphrase: Type.Optional(
      Type.String({ minLength: 1, maxLength: 1024, description: "The private key's passphrase, if it has one" }),
    ),
  },
  { additionalProperties: false, title: 'AzureKeyVaultAccess' },
);

const locator = Type.Object(
  {
    secretName: Type.String({
      pattern: '^[0-9a-zA-Z-]{1,127}$',
      description:
        'The secret\'s name (1-127 letters, digits and "-"). Its value is the field "value", or a JSON object whose keys the record names',
    }),
    version: Type.Optional(
      Type.String({
        pattern: '^[0-9a-fA-F]{32}$',
        description: 'A version to read (32 hex digits; default the current one)',
      }),
    ),
  },
  { additionalProperties: false, title: 'AzureKeyVaultLocator' },
);

/** The field names a problem from the shared URL check gets here. */
const renamed = (problems: ValidationProblem[], field: string) =>
  problems.map((p) => ({ ...p, field: p.field === 'config.url' ? field : p.field }));

export const azureKeyVaultSpec: VaultTypeSpec = {
  type: 'azure-key-vault',
  label: 'Azure Key Vault',
  config,
  access,
  locator,
  // Any field of an item: every kind of target secret.
  secretFields: SECRET_FIELD_NAMES,
  destinationFields: ['vaultUrl', 'authorityHost', 'tenantId', 'clientId', 'authMethod', 'clientCertificate', 'caCert'],
  usesPlainHttp: () => false,

  checkConfig(c) {
    const problems = renamed(checkVaultUrl(c.vaultUrl, false, 'https://myvault.vault.azure.net'), 'config.vaultUrl');
    if (c.caCert !== undefined) problems.push(...checkCertificates(c.caCert, 'config.caCert'));
    if (c.authMethod === 'clientCertificate') {
      if (c.clientCertificate === undefined) problems.push(missing('config.clientCertificate', 'certificate login'));
      else problems.push(...checkCertificates(c.clientCertificate, 'config.clientCertificate'));
    } else if (c.clientCertificate !== undefined) {
      problems.push({ field: 'config.clientCertificate', reason: 'is only used with authMethod clientCertificate' });
    }
    return problems;
  },

  checkAccess(a, c) {
    if (c.authMethod !== 'clientCertificate')
      return a.clientSecret === undefined ? [missing('access.clientSecret', 'client-secret login')] : [];
    if (a.clientCertificateKey === undefined) return [missing('access.clientCertificateKey', 'certificate login')];
    const problems = checkPrivateKey(
      a.clientCertificateKey,
      a.clientCertificateKeyPassphrase,
      'access.clientCertificateKey',
    );
    if (problems.length > 0 || typeof c.clientCertificate !== 'string') return problems;
    try {
      const key = createPrivateKey({
        key: a.clientCertificateKey as string,
        ...(typeof a.clientCertificateKeyPassphrase === 'string' && { passphrase: a.clientCertificateKeyPassphrase }),
      });
      if (key.asymmetricKeyType !== 'rsa')
        return [
          { field: 'access.clientCertificateKey', reason: 'must be an RSA key (Entra ID signs assertions with RS256)' },
        ];
      if (!new X509Certificate(c.clientCertificate).checkPrivateKey(key))
        return [{ field: 'access.clientCertificateKey', reason: 'does not belong to config.clientCertificate' }];
    } catch {
      return [{ field: 'config.clientCertificate', reason: 'is not a certificate that parses' }];
    }
    return [];
  },
};
