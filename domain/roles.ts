// Who may do what through the API. Pure data: the schema, the API and the tests share it.

/** The role an API key carries. */
export const API_ROLES = ['admin', 'operator', 'auditor'] as const;
export type ApiRole = (typeof API_ROLES)[number];

/**
 * What a route requires, named for the work it does; each names the roles that may do it.
 * admin: appliances and their enrolment, vault and authentication records, pinned host keys,
 * API keys. operator: assets, option profiles, launching and cancelling scans (and reading the
 * records it scans with). reader: scans, results and reports. auditTrail: the audit trail.
 */
export const ROUTE_ROLES = {
  admin: ['admin'],
  operator: ['admin', 'operator'],
  reader: ['admin', 'operator', 'auditor'],
  auditTrail: ['admin', 'auditor'],
} as const satisfies Record<string, readonly ApiRole[]>;
export type RouteRole = keyof typeof ROUTE_ROLES;

export function roleMayUse(role: ApiRole, required: RouteRole): boolean {
  return (ROUTE_ROLES[required] as readonly ApiRole[]).includes(role);
}

/** "the admin role", "the admin or operator role": for 403 messages and the OpenAPI document. */
export function describeRouteRole(required: RouteRole): string {
  const roles = ROUTE_ROLES[required] as readonly string[];
  return `the ${roles.length === 1 ? roles[0] : `${roles.slice(0, -1).join(', ')} or ${roles[roles.length - 1]}`} role`;
}
