// The one catalogue of failure codes. Pure data, no I/O: imported by workflows and activities alike.
import type { ReportCategory } from './categories.js';

export interface ErrorCodeInfo {
  /** Worth another attempt (with backoff) — the condition may clear by itself. */
  retryable: boolean;
  /** Where a host whose last attempt ended with this code lands in the Authentication Report. */
  category: ReportCategory;
  summary: string;
  /** What the operator should do about it: shown beside the code in every report. */
  remedy: string;
  /**
   * A failed login this code stands for, counted against lockout: by the target ("target") or
   * by the vault, against the scanner's own identity ("vault"). Never repeated in a scan, and
   * counted by the scan's circuit breaker.
   */
  failedLogin?: 'target' | 'vault';
}

const catalogue = {
  VAULT_UNREACHABLE: {
    retryable: true,
    category: 'FAILED',
    summary: 'The vault could not be reached (DNS, connection refused or reset).',
    remedy: "Check the vault record's URL and that the appliance can reach the vault (DNS, firewall, proxy).",
  },
  VAULT_TLS_ERROR: {
    retryable: false,
    category: 'FAILED',
    summary: "The vault's TLS certificate or handshake was rejected.",
    remedy:
      "Give the vault record the CA certificate that signed the vault's certificate, or fix the vault's certificate (name, expiry).",
  },
  VAULT_AUTH_FAILED: {
    retryable: false,
    category: 'FAILED',
    failedLogin: 'vault',
    summary: "The vault rejected the scanner's own credentials.",
    remedy:
      "Enter the vault record's access secret again (PATCH /vaults/:id with access); check it has not expired or been revoked in the vault.",
  },
  VAULT_PERMISSION_DENIED: {
    retryable: false,
    category: 'FAILED',
    summary: 'The vault refused to release this secret to the scanner.',
    remedy: "Grant the scanner's vault identity read access to this secret (a policy or safe membership).",
  },
  VAULT_SECRET_NOT_FOUND: {
    retryable: false,
    category: 'FAILED',
    summary: 'The secret, or the field named in the authentication record, does not exist in the vault.',
    remedy: "Correct the authentication record's locator or field names, or create the secret in the vault.",
  },
  VAULT_RATE_LIMITED: {
    retryable: true,
    category: 'FAILED',
    summary: 'The vault throttled the scanner.',
    remedy: "Lower the scan's parallelism or raise the vault's rate limit for the scanner.",
  },
  VAULT_UNAVAILABLE: {
    retryable: true,
    category: 'FAILED',
    summary: 'The vault is sealed, in maintenance or answered with a server error.',
    remedy: 'Unseal or restore the vault, then scan again.',
  },
  VAULT_BAD_RESPONSE: {
    retryable: false,
    category: 'FAILED',
    summary: 'The vault answered with something the scanner could not use.',
    remedy:
      "Check the vault record's URL points at the vault's API (not a proxy or login page) and the secret's format.",
  },
  VAULT_TIMEOUT: {
    retryable: true,
    category: 'FAILED',
    summary: 'The vault did not answer in time.',
    remedy: "Check the vault's health, or raise the option profile's vault timeout.",
  },
  TARGET_UNREACHABLE: {
    retryable: true,
    category: 'UNREACHABLE',
    summary: "The host did not answer on the service's port.",
    remedy:
      'Check the host is up, the port in the authentication record is right, and no firewall blocks the appliance.',
  },
  TARGET_TIMEOUT: {
    retryable: true,
    category: 'UNREACHABLE',
    summary: 'The host did not complete the connection in time.',
    remedy: "Check the host's load and network path, or raise the option profile's connect timeout.",
  },
  TARGET_TLS_ERROR: {
    retryable: false,
    category: 'FAILED',
    summary:
      "The service's TLS certificate or handshake was rejected (a CA not trusted, another name, expired): no credentials were sent.",
    remedy:
      "Give the authentication record's settings.caCert the CA that signed the service's certificate, or fix the certificate (its name must be the host's address for tlsMode verify-full, and it must be current).",
  },
  TARGET_TLS_UNAVAILABLE: {
    retryable: false,
    category: 'FAILED',
    summary: 'The authentication record requires TLS, but the service does not offer it: no credentials were sent.',
    remedy:
      "Enable TLS on the service (PostgreSQL: ssl = on; MySQL / MariaDB: ssl_cert and ssl_key), or, on a network you trust, set the record's settings.tlsMode to disable (the password then crosses the network in the clear).",
  },
  LOGIN_NOT_ALLOWED: {
    retryable: false,
    category: 'FAILED',
    summary:
      "The service does not let this account log in from the scanner's address, or at all, whatever the password (pg_hba.conf, a MySQL account's host, a role without LOGIN, a locked account, an expired password, TLS required).",
    remedy:
      "See the cause: allow the account from the appliance's address (a pg_hba.conf line; a MySQL account 'user'@'<address>'), give the role LOGIN, unlock the account or renew its password, or use TLS where the service requires it.",
  },
  DATABASE_NOT_FOUND: {
    retryable: false,
    category: 'FAILED',
    summary: 'Logged in, but the database named in the authentication record does not exist on the server.',
    remedy: "Correct the record's settings.database, or create the database.",
  },
  TARGET_BUSY: {
    retryable: true,
    category: 'FAILED',
    summary: 'The service refused the connection for now (too many connections, starting up or shutting down).',
    remedy:
      "Retried with backoff; if it persists, raise the service's connection limit (max_connections) or lower the scan's parallelism.",
  },
  HOST_KEY_MISMATCH: {
    retryable: false,
    category: 'FAILED',
    summary: "The host's key does not match the pinned fingerprint.",
    remedy: 'Find out why the host key changed; if on purpose, replace or delete the pinned key (/known-host-keys).',
  },
  HOST_KEY_UNKNOWN: {
    retryable: false,
    category: 'FAILED',
    summary:
      'The authentication record trusts only host keys registered in advance (hostKeyPolicy strict), and none is registered for this host: no credentials were sent.',
    remedy:
      "Check the host's key out of band (ssh-keygen -lf on the host), then register it (POST /known-host-keys); the cause shows the key the host presented.",
  },
  AUTH_FAILED: {
    retryable: false,
    category: 'FAILED',
    failedLogin: 'target',
    summary: 'The host rejected the credentials from the vault.',
    remedy:
      'Make the account and the secret in the vault agree (rotate one or the other), and check the account is not locked.',
  },
  AUTH_TIMEOUT: {
    retryable: false,
    category: 'FAILED',
    failedLogin: 'target',
    summary:
      'The host did not answer the login in time, after the credentials were sent (past the SSH handshake, or the database login): most often a slow rejection.',
    remedy:
      "Check the account and its secret, and the host's authentication (PAM, directory, LDAP) for delays; not retried, so a wrong secret does not lock the account.",
  },
  AUTH_METHOD_REJECTED: {
    retryable: false,
    category: 'FAILED',
    summary: 'The host does not accept this authentication method.',
    remedy:
      'Allow the method on the host (SSH: PasswordAuthentication; PostgreSQL: scram-sha-256 or md5 in pg_hba.conf; MySQL / MariaDB: mysql_native_password or caching_sha2_password for the account) or store a secret the host accepts.',
  },
  PRIVILEGE_ESCALATION_FAILED: {
    retryable: false,
    category: 'INSUFFICIENT_PRIVILEGES',
    summary:
      'Logged in, but root delegation failed for a reason not classified otherwise (the cause says what happened).',
    remedy:
      "See the cause; check the delegation works for the account on the host by hand (e.g. sudo id -u), and that the record's delegation method is the one the host uses.",
  },
  DELEGATION_NOT_CONFIGURED: {
    retryable: false,
    category: 'INSUFFICIENT_PRIVILEGES',
    summary:
      "Logged in, but the host does not let the account use the record's delegation method (not in sudoers, su not permitted, the tool or the target account missing).",
    remedy:
      "Allow the account on the host (e.g. a sudoers drop-in with the rule the host's result lists, privileges.sudoersRule), or set the record's settings.delegation to the method the host uses.",
  },
  DELEGATION_PASSWORD_REJECTED: {
    retryable: false,
    category: 'INSUFFICIENT_PRIVILEGES',
    failedLogin: 'target',
    summary:
      'Logged in, but the delegation (sudo, su) refused the root-delegation password: one failed authentication on the host, never repeated.',
    remedy:
      "Make the root-delegation password in the vault (fields.rootPassword or the record's rootDelegation item; else the login password) agree with the host, and check the account is not locked.",
  },
  DELEGATION_PASSWORD_MISSING: {
    retryable: false,
    category: 'INSUFFICIENT_PRIVILEGES',
    summary:
      'Logged in, but the delegation asks for a password and the vault gave none for it (su needs the root password).',
    remedy:
      "Name the vault field holding the root-delegation password (fields.rootPassword, or the record's rootDelegation), or allow the commands without a password (NOPASSWD, the rule the host's result lists).",
  },
  DELEGATION_RIGHTS_MISSING: {
    retryable: false,
    category: 'INSUFFICIENT_PRIVILEGES',
    summary:
      'Logged in and delegated, but the delegation refused commands the collection needs as root (the cause lists them).',
    remedy:
      "Allow the commands the cause lists: the sudoers rule in the host's result (privileges.sudoersRule) allows exactly those the collection runs as root.",
  },
  INSUFFICIENT_PRIVILEGES: {
    retryable: false,
    category: 'INSUFFICIENT_PRIVILEGES',
    summary: 'Logged in, but the account lacks rights the checks need.',
    remedy: 'Grant the account the rights the report lists as missing.',
  },
  COLLECTION_FAILED: {
    retryable: true,
    category: 'FAILED',
    summary: 'Logged in, but collecting data from the host failed.',
    remedy:
      'See the cause: a command that failed or timed out on the host; raise the command timeout if the host is slow.',
  },
  NO_AUTH_RECORD: {
    retryable: false,
    category: 'NOT_ATTEMPTED',
    summary: 'No authentication record covers this host.',
    remedy: 'Add the host to an authentication record of this technology.',
  },
  TECHNOLOGY_DISABLED: {
    retryable: false,
    category: 'NOT_ATTEMPTED',
    summary: 'The option profile disables this technology.',
    remedy: "Enable the technology in the scan's option profile.",
  },
  CONFIG_INVALID: {
    retryable: false,
    category: 'FAILED',
    summary: 'The vault or authentication record is misconfigured.',
    remedy: 'See the cause, and correct the vault or authentication record it names.',
  },
  SECRET_EXPIRED: {
    retryable: true,
    category: 'FAILED',
    summary: "The fetched secret's handle expired before it was used.",
    remedy: 'The host is retried with a fresh fetch; if it keeps happening, the appliance is overloaded: add workers.',
  },
  APPLIANCE_LOST: {
    retryable: true,
    category: 'FAILED',
    summary: 'The appliance worker holding the secret went away.',
    remedy: 'The host is retried on another worker; if it keeps happening, check why appliance processes stop.',
  },
  APPLIANCE_NOT_ENROLLED: {
    retryable: false,
    category: 'FAILED',
    summary: 'The appliance has no enrolled key, so no vault access can be sealed to it.',
    remedy:
      'Enrol the appliance: create an enrolment code (POST /appliances/:id/enrolment-codes) and start its worker with it.',
  },
  APPLIANCE_KEY_ROTATED: {
    retryable: true,
    category: 'FAILED',
    summary:
      'The vault access was sealed to an appliance key this worker no longer holds (the appliance was enrolled again).',
    remedy:
      "Restart the appliance's other worker processes with the new key file, so every worker holds the enrolled key.",
  },
  SEALED_ACCESS_INVALID: {
    retryable: false,
    category: 'FAILED',
    summary:
      'The sealed vault access did not open: it was altered, forged, or sealed for another appliance, vault record or scan.',
    remedy: 'Treat it as tampering: check who can start workflows on your Temporal namespace, then scan again.',
  },
  CREDENTIAL_SUSPENDED: {
    retryable: false,
    category: 'FAILED',
    summary: "Not tried: the authentication record's credential failed too many logins in a row in this scan.",
    remedy:
      'Fix the secret in the vault (or the account) for this authentication record, then scan again; the hosts that were tried show the failures.',
  },
  CREDENTIAL_UNCHANGED: {
    retryable: false,
    category: 'FAILED',
    summary:
      'The host refused the secret the appliance had cached; the vault, read again, still holds the same one, so it was not tried again.',
    remedy: 'Make the account and the secret in the vault agree, and check the account is not locked.',
  },
  VAULT_ACCESS_SUSPENDED: {
    retryable: false,
    category: 'FAILED',
    summary: "Not tried: the vault refused the scanner's own credentials too many times in this scan.",
    remedy: "Enter the vault record's access secret again (PATCH /vaults/:id with access), then scan again.",
  },
  APPLIANCE_UNAVAILABLE: {
    retryable: false,
    category: 'NOT_ATTEMPTED',
    summary: 'No worker of the chosen appliance took the work in time: the appliance is offline.',
    remedy: "Start the appliance's worker (workers/appliance/main.ts), or choose another appliance, then scan again.",
  },
  INTERNAL_ERROR: {
    retryable: true,
    category: 'FAILED',
    summary: 'An unexpected error inside vaultscan.',
    remedy: 'See the cause and the vaultscan logs; report it if it persists.',
  },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof catalogue;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(catalogue, value);
}

export function describeCode(code: ErrorCode): ErrorCodeInfo {
  return catalogue[code];
}
