// HashiCorp Vault and OpenBao: token, AppRole, userpass or TLS-certificate login; KV v2 or v1.
import { Type } from 'typebox';
import {
  clientCertificateConfig,
  clientKeyAccess,
  commonConfig,
  httpsConfig,
  PathText,
  type ValidationProblem,
  type VaultTypeSpec,
} from './spec.js';
import { checkClientCertificate, checkHttpsConfig, isPlainHttpUrl, missing } from './checks.js';
import { SECRET_FIELD_NAMES } from '../domain/secret-fields.js';

const AUTH_METHODS = ['token', 'approle', 'userpass', 'cert'] as const;

const config = Type.Object(
  {
    ...httpsConfig,
    ...clientCertificateConfig,
    authMethod: Type.Union(
      AUTH_METHODS.map((m) => Type.Literal(m)),
      { description: 'How the scanner logs in: token, approle, userpass or cert (TLS client certificate)' },
    ),
    namespace: Type.Optional(PathText('Enterprise / OpenBao namespace, e.g. ns1/ns2')),
    approleMount: Type.Optional(PathText('Where AppRole is mounted (default approle)')),
    roleId: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'AppRole role id' })),
    userpassMount: Type.Optional(PathText('Where userpass is mounted (default userpass)')),
    username: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'userpass user name' })),
    certMount: Type.Optional(PathText('Where TLS-certificate auth is mounted (default cert)')),
    certRole: Type.Optional(
      Type.String({ minLength: 1, maxLength: 256, description: 'The cert auth role to log in as (optional)' }),
    ),
    ...commonConfig,
  },
  { additionalProperties: false, title: 'HashicorpConfig' },
);

const access = Type.Object(
  {
    token: Type.Optional(Type.String({ minLength: 1, maxLength: 4096, description: 'authMethod token: the token' })),
    secretId: Type.Optional(
      Type.String({ minLength: 1, maxLength: 1024, description: 'authMethod approle: the secret id' }),
    ),
    password: Type.Optional(
      Type.String({ minLength: 1, maxLength: 1024, description: "authMethod userpass: the user's password" }),
    ),
    ...clientKeyAccess,
  },
  { additionalProperties: false, title: 'HashicorpAccess' },
);

const locator = Type.Object(
  {
    mount: Type.Optional(PathText('The KV mount (default secret)')),
    path: PathText('The secret path under the mount, e.g. servers/web01', 1024),
    kvVersion: Type.Optional(Type.Union([Type.Literal(1), Type.Literal(2)], { description: 'KV version (default 2)' })),
    version: Type.Optional(Type.Integer({ minimum: 0, description: 'KV v2: a version to read (default the latest)' })),
  },
  { additionalProperties: false, title: 'HashicorpLocator' },
);

/** The access secret each login method needs. */
const accessFor: Record<(typeof AUTH_METHODS)[number], keyof typeof access.properties> = {
  token: 'token',
  approle: 'secretId',
  userpass: 'password',
  cert: 'clientKey',
};

export const hashicorpSpec: VaultTypeSpec = {
  type: 'hashicorp',
  label: 'HashiCorp Vault / OpenBao',
  config,
  access,
  locator,
  // Any field of an item: every kind of target secret.
  secretFields: SECRET_FIELD_NAMES,
  destinationFields: [
    'url',
    'allowInsecureHttp',
    'caCert',
    'clientCert',
    'authMethod',
    'namespace',
    'approleMount',
    'userpassMount',
    'certMount',
  ],
  usesPlainHttp: (c) => isPlainHttpUrl(c.url),

  checkConfig(c) {
    const problems: ValidationProblem[] = [...checkHttpsConfig(c, 'https://vault.example.com:8200')];
    if (c.authMethod === 'approle' && c.roleId === undefined) problems.push(missing('config.roleId', 'AppRole login'));
    if (c.authMethod === 'userpass' && c.username === undefined)
      problems.push(missing('config.username', 'userpass login'));
    if (c.authMethod === 'cert' && c.clientCert === undefined)
      problems.push(missing('config.clientCert', 'TLS-certificate login'));
    return problems;
  },

  checkAccess(a, c) {
    const method = c.authMethod as (typeof AUTH_METHODS)[number];
    const needed = accessFor[method];
    const problems: ValidationProblem[] = [];
    if (needed && a[needed] === undefined) problems.push(missing(`access.${needed}`, `${method} login`));
    problems.push(...checkClientCertificate(c, a));
    return problems;
  },
};
