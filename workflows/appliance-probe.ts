// Is a worker of the appliance there right now? The launch warning asks (api/appliance-status.ts).
import { probeAppliances } from './appliance-pool.js';

export async function applianceProbeWorkflow(input: { applianceId: string; waitMs: number }): Promise<boolean> {
  const [answered] = await probeAppliances([input.applianceId], input.waitMs);
  return answered!;
}
