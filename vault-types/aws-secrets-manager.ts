// AWS Secrets Manager: GetSecretValue through the AWS SDK (SigV4), with the record's own access
// keys or the appliance's default credential chain, optionally assuming an IAM role first.
import { Type } from 'typebox';
import { commonConfig, type ValidationProblem, type VaultTypeSpec } from './spec.js';
import { checkCertificates, checkVaultUrl, isPlainHttpUrl, missing } from './checks.js';
import { SECRET_FIELD_NAMES } from '../domain/secret-fields.js';

const CREDENTIAL_SOURCES = ['static', 'default-chain'] as const;

/** A region name as AWS spells it: us-east-1, eu-central-2, us-gov-west-1, cn-north-1… */
export const AWS_REGION = '^[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}$';
/** A Secrets Manager secret ARN: arn:aws[-cn|-us-gov]:secretsmanager:<region>:<12 digits>:secret:<name>. */
export const SECRET_ARN =
  /^arn:aws(?:-cn|-us-gov)?:secretsmanager:[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}:[0-9]{12}:secret:.+$/;
/** An IAM role ARN (the role path may have slashes). */
const ROLE_ARN = '^arn:aws(?:-cn|-us-gov)?:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$';

const config = Type.Object(
  {
    region: Type.String({
      minLength: 1,
      maxLength: 64,
      pattern: AWS_REGION,
      description: 'The AWS region of the secrets, e.g. eu-central-1 (also the region requests are signed for)',
    }),
    endpoint: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 2048,
        description:
          'An endpoint instead of the regional one (a VPC endpoint, FIPS, a lab server), https; default https://secretsmanager.<region>.amazonaws.com',
      }),
    ),
    allowInsecureHttp: Type.Optional(
      Type.Boolean({
        description:
          'Allow a plain-http endpoint (a lab server only): the signed requests and the secrets then cross the network in the clear',
      }),
    ),
    caCert: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 48 * 1024,
        description:
          'CA certificate(s) to trust for the endpoint, instead of the system store, PEM (-----BEGIN …-----)',
      }),
    ),
    credentialSource: Type.Union(
      CREDENTIAL_SOURCES.map((s) => Type.Literal(s)),
      {
        description:
          "Where the scanner's AWS credentials come from: static (the access key in access) or default-chain (the appliance's own: environment, profile, instance metadata, web identity)",
      },
    ),
    roleArn: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 2048,
        pattern: ROLE_ARN,
        description:
          'An IAM role to assume (STS AssumeRole) with those credentials before reading, e.g. arn:aws:iam::111122223333:role/scanner',
      }),
    ),
    stsEndpoint: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 2048,
        description: 'With roleArn: an STS endpoint instead of the regional one (a VPC endpoint, a lab server), https',
      }),
    ),
    ...commonConfig,
  },
  { additionalProperties: false, title: 'AwsSecretsManagerConfig' },
);

const access = Type.Object(
  {
    accessKeyId: Type.Optional(
      Type.String({
        minLength: 16,
        maxLength: 128,
        pattern: '^[A-Z0-9]+$',
        description: 'credentialSource static: the access key id (AKIA… or ASIA…)',
      }),
    ),
    secretAccessKey: Type.Optional(
      Type.String({ minLength: 1, maxLength: 1024, description: 'credentialSource static: the secret access key' }),
    ),
    sessionToken: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 8192,
        description: 'credentialSource static: the session token of temporary credentials (ASIA… keys)',
      }),
    ),
  },
  { additionalProperties: false, title: 'AwsSecretsManagerAccess' },
);

const locator = Type.Object(
  {
    secretId: Type.String({
      minLength: 1,
      maxLength: 2048,
      pattern: '^[^\\x00-\\x1f\\x7f]+$',
      description: 'The secret: its name (e.g. prod/db01/svc_backup) or its full ARN',
    }),
    versionStage: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 256,
        pattern: '^[^\\x00-\\x1f\\x7f]+$',
        description: 'A staging label to read (default AWSCURRENT), e.g. AWSPREVIOUS; not with versionId',
      }),
    ),
    versionId: Type.Optional(
      Type.String({
        minLength: 32,
        maxLength: 64,
        pattern: '^[A-Za-z0-9-]+$',
        description: 'A version id (UUID) to read; not with versionStage',
      }),
    ),
  },
  { additionalProperties: false, title: 'AwsSecretsManagerLocator' },
);

export const awsSecretsManagerSpec: VaultTypeSpec = {
  type: 'aws-secrets-manager',
  label: 'AWS Secrets Manager',
  config,
  access,
  locator,
  // A JSON SecretString supplies any of them by key; a plain SecretString a password, a SecretBinary a private key.
  // Any field of an item: every kind of target secret.
  secretFields: SECRET_FIELD_NAMES,
  destinationFields: [
    'region',
    'endpoint',
    'stsEndpoint',
    'allowInsecureHttp',
    'caCert',
    'credentialSource',
    'roleArn',
  ],
  // Without an endpoint the SDK goes to the regional https endpoint.
  usesPlainHttp: (c) => isPlainHttpUrl(c.endpoint) || (c.roleArn !== undefined && isPlainHttpUrl(c.stsEndpoint)),

  checkConfig(c) {
    const problems: ValidationProblem[] = [];
    if (c.endpoint !== undefined)
      problems.push(
        ...checkVaultUrl(
          c.endpoint,
          c.allowInsecureHttp === true,
          'https://secretsmanager.eu-central-1.amazonaws.com',
        ).map((p) => ({ ...p, field: 'config.endpoint' })),
      );
    if (c.stsEndpoint !== undefined) {
      problems.push(
        ...checkVaultUrl(c.stsEndpoint, c.allowInsecureHttp === true, 'https://sts.eu-central-1.amazonaws.com').map(
          (p) => ({ ...p, field: 'config.stsEndpoint' }),
        ),
      );
      if (c.roleArn === undefined) problems.push(missing('config.roleArn', 'an STS endpoint'));
    }
    if (c.caCert !== undefined) problems.push(...checkCertificates(c.caCert, 'config.caCert'));
    return problems;
  },

  checkAccess(a, c) {
    const problems: ValidationProblem[] = [];
    if (c.credentialSource === 'static') {
      if (a.accessKeyId === undefined) problems.push(missing('access.accessKeyId', 'credentialSource static'));
      if (a.secretAccessKey === undefined) problems.push(missing('access.secretAccessKey', 'credentialSource static'));
    } else {
      // The appliance's own credentials are used: a key given here would silently go unused.
      for (const name of ['accessKeyId', 'secretAccessKey', 'sessionToken'] as const)
        if (a[name] !== undefined)
          problems.push({
            field: `access.${name}`,
            reason: 'must be left out with credentialSource default-chain (the appliance uses its own credentials)',
          });
    }
    return problems;
  },

  checkLocator(l) {
    const problems: ValidationProblem[] = [];
    if (typeof l.secretId === 'string' && l.secretId.startsWith('arn:') && !SECRET_ARN.test(l.secretId))
      problems.push({
        field: 'locator.secretId',
        reason:
          'is not a Secrets Manager ARN: arn:aws[-cn|-us-gov]:secretsmanager:<region>:<12-digit account>:secret:<name>',
      });
    if (l.versionStage !== undefined && l.versionId !== undefined)
      problems.push({
        field: 'locator.versionId',
        reason: 'cannot go with locator.versionStage: name one or the other',
      });
    return problems;
  },
};
