// The kinds of target secret a vault can hold for an authentication record: the one list the
// API's schemas, the vault adapters, the secret store and the vault support matrix all use.

export const SECRET_FIELDS = {
  password: 'the login password',
  privateKey: 'an SSH private key (PEM or OpenSSH)',
  passphrase: "the private key's passphrase",
  rootPassword: 'the root-delegation password (sudo, su)',
} as const;

export type SecretField = keyof typeof SECRET_FIELDS;
export const SECRET_FIELD_NAMES = Object.keys(SECRET_FIELDS) as SecretField[];

/** Names of the vault item's fields that hold each kind of target secret: names, not values. */
export type CredentialFieldNames = Partial<Record<SecretField, string>>;
