// The authentication technologies this build supports. A new one: one file plus one line here.
import type { Technology } from '../../domain/categories.js';
import type { AuthTechnology } from './technology.js';
import { mysqlTechnology } from './mysql.js';
import { postgresqlTechnology } from './postgresql.js';
import { unixTechnology } from './unix.js';

export const authTechnologies: Record<Technology, AuthTechnology> = {
  unix: unixTechnology,
  postgresql: postgresqlTechnology,
  mysql: mysqlTechnology,
};

export function getAuthTechnology(name: string): AuthTechnology | undefined {
  return Object.prototype.hasOwnProperty.call(authTechnologies, name)
    ? authTechnologies[name as Technology]
    : undefined;
}
