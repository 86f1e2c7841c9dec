// CyberArk Conjur (Secrets Manager, self-hosted or open source): the scanner's host or user
// authenticates with its API key (authn) for a short-lived token, then reads variables.
import { Type } from 'typebox';
import { checkClientCertificate, checkHttpsConfig, isPlainHttpUrl } from './checks.js';
import {
  clientCertificateConfig,
  clientKeyAccess,
  commonConfig,
  httpsConfig,
  type ValidationProblem,
  type VaultTypeSpec,
} from './spec.js';
import { SECRET_FIELD_NAMES } from '../domain/secret-fields.js';

/** A Conjur identifier (account, login, variable id): printable, no control characters. */
const ConjurId = (description: string, maxLength = 512) =>
  Type.String({ minLength: 1, maxLength, pattern: '^[^\\u0000-\\u001f\\u007f]+$', description });

const config = Type.Object(
  {
    ...httpsConfig,
    ...clientCertificateConfig,
    account: Type.String({
      minLength: 1,
      maxLength: 128,
      pattern: '^[A-Za-z0-9_.-]+$',
      description: 'The Conjur organization account, e.g. myorg',
    }),
    login: ConjurId('Who the scanner logs in as: a host (host/apps/vaultscan) or a user id', 512),
    ...commonConfig,
  },
  {
    additionalProperties: false,
    title: 'CyberArkConjurConfig',
    description: 'CyberArk Conjur: API-key authentication (authn) as a host or user, then variable reads',
  },
);

const access = Type.Object(
  {
    apiKey: Type.String({ minLength: 1, maxLength: 1024, description: "The login's Conjur API key" }),
    ...clientKeyAccess,
  },
  { additionalProperties: false, title: 'CyberArkConjurAccess', description: "The scanner's API key for Conjur" },
);

const locator = Type.Object(
  {
    path: Type.Optional(
      ConjurId(
        'A variable id prefix, e.g. prod/web: the secret fields then name variables under it (password → prod/web/password). Without it each field is a whole variable id',
        1024,
      ),
    ),
    version: Type.Optional(
      Type.Integer({ minimum: 1, description: 'A version of the variables to read (default the latest)' }),
    ),
  },
  {
    additionalProperties: false,
    title: 'CyberArkConjurLocator',
    description:
      'Where the variables are: a prefix the secret fields are relative to, or none (each field is a variable id, or account:variable:id)',
  },
);

export const cyberarkConjurSpec: VaultTypeSpec = {
  type: 'cyberark-conjur',
  label: 'CyberArk Conjur (Secrets Manager)',
  config,
  access,
  locator,
  // Any field of an item: every kind of target secret.
  secretFields: SECRET_FIELD_NAMES,
  destinationFields: ['url', 'allowInsecureHttp', 'caCert', 'clientCert', 'account', 'login'],
  usesPlainHttp: (c) => isPlainHttpUrl(c.url),

  checkConfig(c) {
    return checkHttpsConfig(c, 'https://conjur.example.com');
  },

  checkAccess(a, c) {
    return checkClientCertificate(c, a);
  },

  checkLocator(l) {
    const problems: ValidationProblem[] = [];
    if (typeof l.path === 'string' && (/^\/|\/$/.test(l.path) || l.path.split('/').some((s) => s === '..')))
      problems.push({
        field: 'locator.path',
        reason: 'must be a variable id prefix without a leading or trailing "/" or ".." segments',
      });
    return problems;
  },
};
