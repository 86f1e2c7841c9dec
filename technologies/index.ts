// The authentication technologies this build supports, by name (domain/categories.ts lists the
// names). A new one: its spec file here, its login code in activities/auth/, one line in each
// registry.
import type { Technology } from '../domain/categories.js';
import type { TechnologySpec } from './spec.js';
import { mysqlSpec } from './mysql.js';
import { postgresqlSpec } from './postgresql.js';
import { unixSpec } from './unix.js';

export const TECHNOLOGY_SPECS: Record<Technology, TechnologySpec> = {
  unix: unixSpec,
  postgresql: postgresqlSpec,
  mysql: mysqlSpec,
};

export function technologySpec(name: string): TechnologySpec | undefined {
  return Object.prototype.hasOwnProperty.call(TECHNOLOGY_SPECS, name)
    ? TECHNOLOGY_SPECS[name as Technology]
    : undefined;
}

export type { TechnologySpec } from './spec.js';
