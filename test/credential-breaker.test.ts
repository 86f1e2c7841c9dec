// The credential breaker's rules, on their own (it is pure workflow code).
import { describe, expect, it } from 'vitest';
import { CredentialBreaker } from '../workflows/credential-breaker.js';

const none = { loggedIn: 0, failedLogins: 0, vaultLoginFailures: 0 };

describe('the credential breaker', () => {
  it('holds an unproven credential to the limit, counting hosts in flight and failures', () => {
    const breaker = new CredentialBreaker(3);
    expect(breaker.allowance('r', 'v')).toBe(3);
    breaker.handedOut('r', 2);
    expect(breaker.allowance('r', 'v')).toBe(1);
    breaker.reported('r', 'v', 2, { ...none, failedLogins: 2 });
    expect(breaker.allowance('r', 'v')).toBe(1);
    breaker.handedOut('r', 1);
    breaker.reported('r', 'v', 1, { ...none, failedLogins: 1 });
    expect(breaker.allowance('r', 'v')).toBe(0);
    expect(breaker.suspension('r', 'v')).toMatchObject({ code: 'CREDENTIAL_SUSPENDED' });
  });

  it('never holds an unsuspended record back for good: failed logins and vault refusals below the limit each', () => {
    const breaker = new CredentialBreaker(3);
    breaker.handedOut('r', 2);
    breaker.reported('r', 'v', 2, { ...none, failedLogins: 2, vaultLoginFailures: 1 });
    expect(breaker.suspension('r', 'v')).toBeUndefined();
    // Together at the limit, apart below it: one host at a time, never none (the scan would wait forever).
    expect(breaker.allowance('r', 'v')).toBe(1);
    breaker.handedOut('r', 1);
    expect(breaker.allowance('r', 'v')).toBe(0);
    breaker.reported('r', 'v', 1, { ...none, failedLogins: 1 });
    expect(breaker.suspension('r', 'v')).toMatchObject({ code: 'CREDENTIAL_SUSPENDED' });
  });

  it('lets a proven credential run, and a success resets the count', () => {
    const breaker = new CredentialBreaker(3);
    breaker.handedOut('r', 3);
    breaker.reported('r', 'v', 3, { ...none, loggedIn: 1, failedLogins: 2 });
    expect(breaker.allowance('r', 'v')).toBe(Number.POSITIVE_INFINITY);
    breaker.reported('r', 'v', 0, { ...none, failedLogins: 2 });
    expect(breaker.suspension('r', 'v')).toBeUndefined();
    breaker.reported('r', 'v', 0, { ...none, loggedIn: 5 });
    breaker.reported('r', 'v', 0, { ...none, failedLogins: 2 });
    expect(breaker.suspension('r', 'v')).toBeUndefined();
    breaker.reported('r', 'v', 0, { ...none, failedLogins: 1 });
    expect(breaker.suspension('r', 'v')).toMatchObject({ code: 'CREDENTIAL_SUSPENDED' });
  });

  it('stops asking a vault that refused the scanner too often, for every record that uses it', () => {
    const breaker = new CredentialBreaker(2);
    breaker.reported('a', 'v', 0, { ...none, vaultLoginFailures: 1 });
    expect(breaker.allowance('b', 'v')).toBe(1); // the vault's refusals count for every record
    breaker.reported('b', 'v', 0, { ...none, vaultLoginFailures: 1 });
    expect(breaker.suspension('a', 'v')).toMatchObject({ code: 'VAULT_ACCESS_SUSPENDED' });
    expect(breaker.suspension('c', 'other vault')).toBeUndefined();
  });

  it('carries its state across continue-as-new', () => {
    const breaker = new CredentialBreaker(3);
    breaker.reported('r', 'v', 0, { ...none, failedLogins: 2 });
    const again = new CredentialBreaker(3, breaker.snapshot());
    again.reported('r', 'v', 0, { ...none, failedLogins: 1 });
    expect(again.suspension('r', 'v')).toMatchObject({ code: 'CREDENTIAL_SUSPENDED' });
  });
});
