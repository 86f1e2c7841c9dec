// The kinds of target secret a vault can hold for an authentication record: the one definition
// the API's schemas, the vault adapters and types, the secret store, the technologies' logins
// and the vault support matrix all derive from. A new kind is one line here, plus its uses.

export const SECRET_FIELDS = {
  password: { label: 'password', description: 'the login password' },
  privateKey: { label: 'private key', description: 'an SSH private key (PEM or OpenSSH)' },
  passphrase: { label: 'passphrase', description: "the private key's passphrase" },
  rootPassword: {
    label: 'root-delegation password',
    description: 'the root-delegation password (sudo, su, or the configured command)',
  },
} as const;

export type SecretField = keyof typeof SECRET_FIELDS;
export const SECRET_FIELD_NAMES = Object.keys(SECRET_FIELDS) as SecretField[];

/** Names of the vault item's fields that hold each kind of target secret: names, not values. */
export type CredentialFieldNames = Partial<Record<SecretField, string>>;
/** The secrets themselves, as the appliance holds them (Buffers it can wipe). */
export type SecretValues = Partial<Record<SecretField, Buffer>>;
