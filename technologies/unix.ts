// Unix over SSH: port 22; an authentication record's settings say how the account becomes root
// (delegation) and how the host's SSH key is trusted (hostKeyPolicy). The API checks them
// (400 naming settings.<field>); the appliance reads them from the sealed grant with
// unixSettingsOf, which applies the defaults and checks them again before anything runs.
import { Type } from 'typebox';
import type { TechnologySpec } from './spec.js';
import type { ValidationProblem } from '../vault-types/spec.js';

export const DELEGATION_METHODS = ['sudo', 'su', 'sudo-su', 'command'] as const;
export type DelegationMethod = (typeof DELEGATION_METHODS)[number];

export const HOST_KEY_POLICIES = ['tofu', 'strict', 'off'] as const;
export type HostKeyPolicy = (typeof HOST_KEY_POLICIES)[number];

/**
 * A delegation command (pbrun, dzdo, …): an absolute path or a bare program name, then simple
 * arguments, one space apart. No shell metacharacters, quotes or variables: it is put before each
 * command the collection runs as root, on the host's shell command line.
 */
const PROGRAM = String.raw`(?:/[A-Za-z0-9._+-]+)+|[A-Za-z0-9_][A-Za-z0-9._+-]*`;
const ARGUMENT = String.raw`[A-Za-z0-9._+=:,@/-]+`;
export const DELEGATION_COMMAND = new RegExp(`^(?:${PROGRAM})(?: ${ARGUMENT})*$`);
/** An account name su can switch to (POSIX portable names, as useradd takes them). */
export const SU_USER = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;

export interface UnixSettings {
  delegation: { method: DelegationMethod; command?: string; suUser: string };
  hostKeyPolicy: HostKeyPolicy;
}

const settings = Type.Object(
  {
    delegation: Type.Optional(
      Type.Object(
        {
          method: Type.Optional(
            Type.Enum(DELEGATION_METHODS, {
              description:
                'How the account becomes root when it is not root itself: sudo (default), su (with the root password, fields.rootPassword), sudo-su (sudo su -), or command (a tool such as pbrun or dzdo, named in command)',
            }),
          ),
          command: Type.Optional(
            Type.String({
              minLength: 1,
              maxLength: 200,
              description:
                'method command: the tool put before each command that needs root, an absolute path or a program name and simple arguments, e.g. "pbrun" or "/usr/bin/dzdo"; no shell metacharacters',
            }),
          ),
          suUser: Type.Optional(
            Type.String({
              minLength: 1,
              maxLength: 32,
              description:
                'methods su and sudo-su: the account su switches to (default root; e.g. toor, a uid-0 alias with its own password)',
            }),
          ),
        },
        { additionalProperties: false, description: 'Root delegation: how the account runs what needs root' },
      ),
    ),
    hostKeyPolicy: Type.Optional(
      Type.Enum(HOST_KEY_POLICIES, {
        description:
          "How the host's SSH key is trusted before any credential is sent: tofu (default: the first key seen is pinned, another one later is refused), strict (only keys registered in advance through /known-host-keys), off (any key; every result is flagged HOST_KEY_UNCHECKED)",
      }),
    ),
  },
  { additionalProperties: false, title: 'unix settings' },
);

/** What the schema cannot say: the command's shape, which settings go with which method. */
function checkSettings(value: Record<string, unknown>): ValidationProblem[] {
  const delegation = (value.delegation ?? {}) as { method?: DelegationMethod; command?: string; suUser?: string };
  const method = delegation.method ?? 'sudo';
  const problems: ValidationProblem[] = [];
  if (method === 'command' && delegation.command === undefined)
    problems.push({ field: 'settings.delegation.command', reason: 'is required with method "command"' });
  if (delegation.command !== undefined) {
    if (method !== 'command')
      problems.push({ field: 'settings.delegation.command', reason: 'goes only with method "command"' });
    else if (!DELEGATION_COMMAND.test(delegation.command))
      problems.push({
        field: 'settings.delegation.command',
        reason:
          'must be an absolute path or a program name, then simple arguments one space apart (letters, digits and . _ + = : , @ / -), without shell metacharacters, quotes or variables, e.g. "pbrun" or "/usr/bin/dzdo -u root"',
      });
  }
  if (delegation.suUser !== undefined) {
    if (method !== 'su' && method !== 'sudo-su')
      problems.push({ field: 'settings.delegation.suUser', reason: 'goes only with method "su" or "sudo-su"' });
    else if (!SU_USER.test(delegation.suUser))
      problems.push({ field: 'settings.delegation.suUser', reason: 'must be an account name, e.g. root' });
  }
  return problems;
}

export const unixSpec: TechnologySpec = {
  technology: 'unix',
  label: 'Unix / Linux over SSH',
  defaultPort: 22,
  settings,
  checkSettings,
};

/**
 * The settings a login uses, with their defaults; what the API would have refused is refused
 * here too (a record stored before a rule existed, or settings that were tampered with).
 */
export function unixSettingsOf(value: Record<string, unknown> | undefined): UnixSettings | ValidationProblem {
  const given = value ?? {};
  const known = new Set(['delegation', 'hostKeyPolicy']);
  const unknown = Object.keys(given).find((k) => !known.has(k));
  if (unknown !== undefined) return { field: `settings.${unknown}`, reason: 'is not a known field' };
  const delegation = (given.delegation ?? {}) as Record<string, unknown>;
  if (typeof delegation !== 'object' || Array.isArray(delegation))
    return { field: 'settings.delegation', reason: 'must be an object' };
  const method = delegation.method ?? 'sudo';
  if (!DELEGATION_METHODS.includes(method as DelegationMethod))
    return { field: 'settings.delegation.method', reason: `must be one of: ${DELEGATION_METHODS.join(', ')}` };
  const policy = given.hostKeyPolicy ?? 'tofu';
  if (!HOST_KEY_POLICIES.includes(policy as HostKeyPolicy))
    return { field: 'settings.hostKeyPolicy', reason: `must be one of: ${HOST_KEY_POLICIES.join(', ')}` };
  for (const field of ['command', 'suUser'])
    if (delegation[field] !== undefined && typeof delegation[field] !== 'string')
      return { field: `settings.delegation.${field}`, reason: 'must be a string' };
  const problem = checkSettings(given)[0];
  if (problem) return problem;
  return {
    delegation: {
      method: method as DelegationMethod,
      ...(typeof delegation.command === 'string' && { command: delegation.command }),
      suUser: typeof delegation.suUser === 'string' ? delegation.suUser : 'root',
    },
    hostKeyPolicy: policy as HostKeyPolicy,
  };
}
