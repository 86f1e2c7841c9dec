// The workflows the control-plane worker registers.
export { scanWorkflow } from './scan.js';
export { hostBatchWorkflow } from './host-batch.js';
export { applianceProbeWorkflow } from './appliance-probe.js';
export { vaultTestWorkflow } from './vault-test.js';
export { scheduledScanWorkflow } from './scheduled-scan.js';
