// Appliance enrolment: an admin hands out a one-time, expiring code; the appliance process
// presents it once with its public key. Vault access secrets are sealed to that key from then
// on; enrolling again replaces it, so the old key opens nothing new.
import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { applianceRepo } from '../../db/repositories/index.js';
import { keyIdOf, parsePublicKey } from '../../activities/secrets/sealed-access.js';
import { withAudit } from '../plugins/audit.js';
import { badRequest } from '../problems.js';
import { IdParams } from '../schemas.js';

/** An enrolment code is good for one hour: long enough to start an appliance, short if it leaks. */
export const ENROLMENT_CODE_TTL_MS = 60 * 60_000;

const tags = ['appliances'];
const EnrolmentCode = Type.Object({ code: Type.String(), expiresAt: Type.String({ format: 'date-time' }) });
const EnrolmentBody = Type.Object(
  {
    code: Type.String({ minLength: 1, maxLength: 200 }),
    publicKey: Type.String({ minLength: 1, maxLength: 100, description: 'Raw X25519 public key, base64' }),
  },
  { additionalProperties: false },
);

export async function applianceEnrolmentRoutes(parent: FastifyInstance): Promise<void> {
  const api = parent.withTypeProvider<TypeBoxTypeProvider>();

  api.post(
    '/appliances/:id/enrolment-codes',
    {
      config: { role: 'admin' },
      schema: {
        tags,
        params: IdParams,
        description: 'A new one-time code to enrol (or re-enrol, rotating its key) the appliance; shown once.',
        response: { 201: EnrolmentCode },
      },
    },
    async (req, reply) => {
      const created = await withAudit(
        req,
        (tx) => applianceRepo.createEnrolmentCode(tx, req.params.id, ENROLMENT_CODE_TTL_MS),
        () => ({ applianceId: req.params.id }),
        201,
      );
      return reply.code(201).send({ code: created.code, expiresAt: created.expiresAt.toISOString() });
    },
  );

  api.post(
    '/appliances/:id/enrolment',
    {
      config: { role: 'enrolmentCode' },
      schema: {
        tags,
        params: IdParams,
        body: EnrolmentBody,
        description: 'The appliance process presents its enrolment code, once, with its public key.',
        response: {
          200: Type.Object({ applianceId: Type.String(), keyId: Type.String(), enrolledAt: Type.String() }),
        },
      },
    },
    async (req) => {
      let publicKey: Uint8Array;
      try {
        publicKey = parsePublicKey(req.body.publicKey);
      } catch (err) {
        throw badRequest('publicKey', (err as Error).message);
      }
      const keyId = keyIdOf(publicKey);
      const appliance = await withAudit(
        req,
        (tx) => applianceRepo.enrol(tx, req.params.id, req.body.code, { publicKey: req.body.publicKey, keyId }),
        (a) => ({ applianceId: a.id, actorName: `appliance ${a.name}`, detail: { keyId } }),
      );
      return { applianceId: appliance.id, keyId, enrolledAt: appliance.enrolledAt!.toISOString() };
    },
  );
}
