// The workflows the control-plane worker registers.
export { scanWorkflow } from './scan.js';
export { hostScanWorkflow } from './host-scan.js';
