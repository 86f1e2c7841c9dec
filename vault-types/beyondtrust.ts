// BeyondTrust Password Safe (BeyondInsight public API v3): API-key (PS-Auth) or OAuth
// client-credentials sign-in; a managed account found by system and account name (or ids),
// released through an access request that is checked in when the secret is no longer needed.
import { Type } from 'typebox';
import {
  clientCertificateConfig,
  clientKeyAccess,
  commonConfig,
  httpsConfig,
  type ValidationProblem,
  type VaultTypeSpec,
} from './spec.js';
import { checkClientCertificate, checkHttpsConfig, isPlainHttpUrl, missing } from './checks.js';
import { SECRET_FIELD_NAMES } from '../domain/secret-fields.js';

export const BEYONDTRUST_AUTH_METHODS = ['apiKey', 'oauth'] as const;
/** What an access request asks for when the record does not say (the official client's default). */
export const DEFAULT_BEYONDTRUST_DURATION_MINUTES = 5;
/** The credential types `GET Credentials/{requestId}?type=` serves: the names a record's fields may use. */
export const BEYONDTRUST_CREDENTIAL_TYPES = ['password', 'dsskey', 'passphrase'] as const;

const EXAMPLE_URL = 'https://ps.example.com/BeyondTrust/api/public/v3';
// Password Safe requires TLS: no allowInsecureHttp here.
const { allowInsecureHttp: _plainHttp, ...httpsOnly } = httpsConfig;

const config = Type.Object(
  {
    ...httpsOnly,
    url: Type.String({
      minLength: 1,
      maxLength: 2048,
      description: `The API base URL, https, e.g. ${EXAMPLE_URL}`,
    }),
    ...clientCertificateConfig,
    authMethod: Type.Union(
      BEYONDTRUST_AUTH_METHODS.map((m) => Type.Literal(m)),
      {
        description:
          'How the scanner signs in: apiKey (PS-Auth header with an API registration key) or oauth (client credentials, then a Bearer token)',
      },
    ),
    runAsUser: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 256,
        pattern: '^[^;\\[\\]\\r\\n]+$',
        description:
          'authMethod apiKey: the BeyondInsight user the key runs as (runas=); leave out for an API Key Policy registration',
      }),
    ),
    clientId: Type.Optional(
      Type.String({ minLength: 1, maxLength: 256, description: 'authMethod oauth: the API registration client id' }),
    ),
    durationMinutes: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 525_600,
        description: `How long an access request lends the account, in minutes (default ${DEFAULT_BEYONDTRUST_DURATION_MINUTES}); it is checked in as soon as the scan no longer needs it`,
      }),
    ),
    ...commonConfig,
  },
  { additionalProperties: false, title: 'BeyondtrustConfig' },
);

const access = Type.Object(
  {
    apiKey: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 1024,
        pattern: '^[!-:<-~]+$',
        description: 'authMethod apiKey: the API registration key (printable ASCII, no ";")',
      }),
    ),
    runAsPassword: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 1024,
        pattern: '^[^\\]\\r\\n]+$',
        description:
          "authMethod apiKey with runAsUser: the run-as user's password (pwd=[…]), only if the registration requires it",
      }),
    ),
    clientSecret: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 1024,
        description: 'authMethod oauth: the API registration client secret',
      }),
    ),
    ...clientKeyAccess,
  },
  { additionalProperties: false, title: 'BeyondtrustAccess' },
);

const locator = Type.Object(
  {
    systemName: Type.Optional(
      Type.String({ minLength: 1, maxLength: 256, description: 'The managed system, with accountName' }),
    ),
    accountName: Type.Optional(
      Type.String({ minLength: 1, maxLength: 256, description: 'The managed account on that system' }),
    ),
    systemId: Type.Optional(
      Type.Integer({ minimum: 1, description: "The managed system's id, with accountId (instead of the names)" }),
    ),
    accountId: Type.Optional(Type.Integer({ minimum: 1, description: "The managed account's id, with systemId" })),
  },
  {
    additionalProperties: false,
    title: 'BeyondtrustLocator',
    description: 'A managed account: systemName and accountName, or systemId and accountId',
  },
);

export const beyondtrustSpec: VaultTypeSpec = {
  type: 'beyondtrust',
  label: 'BeyondTrust Password Safe',
  config,
  access,
  locator,
  // rootPassword: the managed account's own password, for sudo that asks for it.
  // Any field of an item: every kind of target secret.
  secretFields: SECRET_FIELD_NAMES,
  destinationFields: ['url', 'caCert', 'clientCert', 'authMethod', 'runAsUser', 'clientId'],
  usesPlainHttp: (c) => isPlainHttpUrl(c.url),

  checkConfig(c) {
    const problems: ValidationProblem[] = [...checkHttpsConfig({ ...c, allowInsecureHttp: false }, EXAMPLE_URL)];
    if (c.authMethod === 'oauth' && c.clientId === undefined)
      problems.push(missing('config.clientId', 'oauth sign-in'));
    if (c.authMethod === 'oauth' && c.runAsUser !== undefined)
      problems.push({ field: 'config.runAsUser', reason: 'applies to authMethod apiKey only' });
    if (c.authMethod === 'apiKey' && c.clientId !== undefined)
      problems.push({ field: 'config.clientId', reason: 'applies to authMethod oauth only' });
    return problems;
  },

  checkAccess(a, c) {
    const problems: ValidationProblem[] = [];
    if (c.authMethod === 'apiKey' && a.apiKey === undefined) problems.push(missing('access.apiKey', 'apiKey sign-in'));
    if (c.authMethod === 'oauth' && a.clientSecret === undefined)
      problems.push(missing('access.clientSecret', 'oauth sign-in'));
    if (a.runAsPassword !== undefined && (c.authMethod !== 'apiKey' || c.runAsUser === undefined))
      problems.push({
        field: 'access.runAsPassword',
        reason: 'applies to authMethod apiKey with config.runAsUser only',
      });
    problems.push(...checkClientCertificate(c, a));
    return problems;
  },

  checkLocator(l) {
    const byName = l.systemName !== undefined || l.accountName !== undefined;
    const byId = l.systemId !== undefined || l.accountId !== undefined;
    if (byName && byId)
      return [
        {
          field: l.systemId !== undefined ? 'locator.systemId' : 'locator.accountId',
          reason: 'give either systemName and accountName, or systemId and accountId, not both',
        },
      ];
    if (byId) {
      if (l.systemId === undefined) return [missing('locator.systemId', 'a managed account found by id')];
      if (l.accountId === undefined) return [missing('locator.accountId', 'a managed account found by id')];
      return [];
    }
    if (l.accountName === undefined && l.systemName !== undefined)
      return [missing('locator.accountName', 'a managed account found by name')];
    if (l.systemName === undefined)
      return [
        {
          field: 'locator.systemName',
          reason: 'is required (with accountName), unless systemId and accountId name the managed account',
        },
      ];
    return [];
  },
};
