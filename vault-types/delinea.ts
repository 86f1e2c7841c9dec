// Delinea (formerly Thycotic) Secret Server: OAuth2 password grant, then the REST API. A secret
// is found by id, by its folder path, or by its name (optionally within one folder); its fields
// are read by slug. Secrets that must be checked out are checked out and back in again.
import { Type } from 'typebox';
import { commonConfig, httpsConfig, type ValidationProblem, type VaultTypeSpec } from './spec.js';
import { checkHttpsConfig, isPlainHttpUrl } from './checks.js';
import { SECRET_FIELD_NAMES } from '../domain/secret-fields.js';

const config = Type.Object(
  {
    ...httpsConfig,
    username: Type.String({
      minLength: 1,
      maxLength: 256,
      description: 'The Secret Server user (local or Active Directory) the scanner logs in as',
    }),
    domain: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 256,
        description: 'The Active Directory domain of an AD user (sent as domain with the password grant)',
      }),
    ),
    ...commonConfig,
  },
  { additionalProperties: false, title: 'DelineaConfig' },
);

const access = Type.Object(
  {
    password: Type.String({ minLength: 1, maxLength: 1024, description: "The Secret Server user's password" }),
  },
  { additionalProperties: false, title: 'DelineaAccess' },
);

/** A folder path as Secret Server writes it (\Folder\Sub\Secret), forward slashes accepted. */
const SecretPath = Type.String({
  minLength: 1,
  maxLength: 1024,
  // Segments separated by \ or /, none empty, no control characters; one segment is a secret
  // outside any folder.
  pattern: '^[\\\\/]?[^\\\\/\\x00-\\x1f]+(?:[\\\\/][^\\\\/\\x00-\\x1f]+)*[\\\\/]?$',
  description:
    'The secret by its full folder path and name, e.g. \\Servers\\Linux\\db01 root (or /Servers/Linux/db01 root)',
});

const locator = Type.Object(
  {
    secretId: Type.Optional(Type.Integer({ minimum: 1, description: 'The secret by its numeric id' })),
    secretName: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 256,
        pattern: '^[^\\x00-\\x1f]+$',
        description: 'The secret by its exact name; exactly one secret may carry it (in folderId, when given)',
      }),
    ),
    secretPath: Type.Optional(SecretPath),
    folderId: Type.Optional(
      Type.Integer({ minimum: 1, description: 'With secretName: search only this folder (by its numeric id)' }),
    ),
  },
  { additionalProperties: false, title: 'DelineaLocator' },
);

const WAYS = ['secretId', 'secretName', 'secretPath'] as const;

export const delineaSpec: VaultTypeSpec = {
  type: 'delinea',
  label: 'Delinea Secret Server',
  config,
  access,
  locator,
  // Any field of an item: every kind of target secret.
  secretFields: SECRET_FIELD_NAMES,
  // The password goes to this server, trusted through this CA, for this AD domain.
  destinationFields: ['url', 'allowInsecureHttp', 'caCert', 'domain'],
  usesPlainHttp: (c) => isPlainHttpUrl(c.url),

  checkConfig(c) {
    return checkHttpsConfig(c, 'https://secretserver.example.com/SecretServer');
  },

  checkLocator(l) {
    const given = WAYS.filter((w) => l[w] !== undefined);
    const problems: ValidationProblem[] = [];
    if (given.length === 0)
      problems.push({ field: 'locator.secretId', reason: 'is required: give secretId, secretName or secretPath' });
    for (const extra of given.slice(1))
      problems.push({ field: `locator.${extra}`, reason: `cannot be given with locator.${given[0]}: give one way` });
    if (l.folderId !== undefined && l.secretName === undefined)
      problems.push({ field: 'locator.folderId', reason: 'narrows a secretName search; it needs locator.secretName' });
    return problems;
  },
};
