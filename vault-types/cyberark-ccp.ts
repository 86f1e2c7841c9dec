// CyberArk Central Credential Provider (CCP, the AIM web service): one stateless GET per read,
// authenticated by the application's client certificate (mutual TLS) and/or by the machine it
// comes from (AppID "allowed machines"). There is no login, so no access secret beyond the key.
import { Type } from 'typebox';
import { checkClientCertificate, checkHttpsConfig, isPlainHttpUrl } from './checks.js';
import {
  clientCertificateConfig,
  clientKeyAccess,
  commonConfig,
  httpsConfig,
  PathText,
  type ValidationProblem,
  type VaultTypeSpec,
} from './spec.js';
import { SECRET_FIELD_NAMES } from '../domain/secret-fields.js';

/** CCP's own default for ConnectionTimeout (seconds it tries to reach the Vault). */
export const CCP_DEFAULT_CONNECTION_TIMEOUT_S = 30;

/**
 * A CCP query value: CyberArk forbids ';' in property values (it separates Query terms) and
 * nothing in a URL may be a control character. Everything else is percent-encoded on the way.
 */
const CcpValue = (description: string, maxLength = 256) =>
  Type.String({ minLength: 1, maxLength, pattern: '^[^;\\u0000-\\u001f\\u007f]+$', description });

const config = Type.Object(
  {
    ...httpsConfig,
    ...clientCertificateConfig,
    appId: CcpValue('The Application ID the scanner is registered as in CyberArk (AppID)', 128),
    servicePath: Type.Optional(
      PathText('The IIS application of the web service under the URL (default AIMWebService)', 256),
    ),
    connectionTimeout: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 600,
        description:
          'Seconds CCP itself may spend reaching the Vault (sent as ConnectionTimeout; default: what fits in timeoutMs). timeoutMs must exceed it',
      }),
    ),
    failRequestOnPasswordChange: Type.Optional(
      Type.Boolean({
        description:
          'Refuse a password the CPM is changing right now, and try again later (default true): a password about to change fails the login it is fetched for',
      }),
    ),
    ...commonConfig,
  },
  {
    additionalProperties: false,
    title: 'CyberArkCcpConfig',
    description:
      'CyberArk Central Credential Provider. Authentication is by client certificate (clientCert + access.clientKey) and/or by allowed machines (AppID only)',
  },
);

const access = Type.Object(
  { ...clientKeyAccess },
  {
    additionalProperties: false,
    title: 'CyberArkCcpAccess',
    description:
      "The client certificate's key when the application authenticates by certificate; empty for allowed-machines authentication",
  },
);

const locator = Type.Object(
  {
    safe: CcpValue('The safe holding the account (Safe)', 128),
    folder: Type.Optional(CcpValue('The folder in the safe (Folder; default Root)', 512)),
    object: Type.Optional(CcpValue("The account's object name in the safe (Object)", 512)),
    userName: Type.Optional(CcpValue("Match the account's UserName property instead of its object name", 256)),
    address: Type.Optional(CcpValue("With userName: match the account's Address property", 512)),
    database: Type.Optional(CcpValue("With userName: match the account's Database property", 256)),
    policyId: Type.Optional(CcpValue("With userName: match the account's platform (PolicyID)", 256)),
  },
  {
    additionalProperties: false,
    title: 'CyberArkCcpLocator',
    description:
      'One account: its safe and object name, or its safe and a UserName (with Address, Database, PolicyID) query. The secret fields name account properties: Content is the password or the SSH key',
  },
);

export const cyberarkCcpSpec: VaultTypeSpec = {
  type: 'cyberark-ccp',
  label: 'CyberArk Central Credential Provider',
  config,
  access,
  locator,
  // Any field of an item: every kind of target secret.
  secretFields: SECRET_FIELD_NAMES,
  destinationFields: ['url', 'allowInsecureHttp', 'caCert', 'clientCert', 'servicePath'],
  usesPlainHttp: (c) => isPlainHttpUrl(c.url),

  checkConfig(c) {
    const problems: ValidationProblem[] = [...checkHttpsConfig(c, 'https://ccp.example.com')];
    if (typeof c.connectionTimeout === 'number' && typeof c.timeoutMs === 'number') {
      if (c.timeoutMs <= c.connectionTimeout * 1000)
        problems.push({
          field: 'config.timeoutMs',
          reason: `must exceed connectionTimeout (${c.connectionTimeout} s): CCP may wait that long for the Vault before it answers`,
        });
    }
    return problems;
  },

  checkAccess(a, c) {
    return checkClientCertificate(c, a);
  },

  checkLocator(l) {
    const problems: ValidationProblem[] = [];
    if (l.object === undefined && l.userName === undefined)
      problems.push({
        field: 'locator.object',
        reason: 'or locator.userName is required: CCP needs an object name or a UserName to find one account',
      });
    return problems;
  },
};
