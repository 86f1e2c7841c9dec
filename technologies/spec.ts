// What an authentication technology is, apart from how it logs in: its default port, the shape
// of an authentication record's technology settings (`settings`; TypeBox, so it validates
// requests and appears in the OpenAPI document) and the checks a schema cannot express. The
// API reads it from here; the appliance's login code is in activities/auth/.
import type { TObject } from 'typebox';
import type { Technology } from '../domain/categories.js';
import type { ValidationProblem } from '../vault-types/spec.js';

export interface TechnologySpec {
  readonly technology: Technology;
  /** What its administrators call it. */
  readonly label: string;
  /** The port a record gets when it names none. */
  readonly defaultPort: number;
  /** An authentication record's settings for this technology (every property optional: {} is valid). */
  readonly settings: TObject;
  /** What the schema cannot say: settings that depend on each other. */
  checkSettings?(settings: Record<string, unknown>): ValidationProblem[];
}
