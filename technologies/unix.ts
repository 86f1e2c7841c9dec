// Unix over SSH: port 22; its settings grow with root delegation and host-key policy.
import { Type } from 'typebox';
import type { TechnologySpec } from './spec.js';

export const unixSpec: TechnologySpec = {
  technology: 'unix',
  label: 'Unix / Linux over SSH',
  defaultPort: 22,
  settings: Type.Object({}, { additionalProperties: false, title: 'unix settings' }),
};
