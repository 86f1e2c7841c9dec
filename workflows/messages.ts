import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { ReportCategory } from '../domain/categories.js';
import type { ApplianceState } from './appliance-pool.js';

export interface ScanProgress {
  status: 'RUNNING' | 'CANCELING' | 'FINISHED' | 'CANCELED';
  totalHosts: number;
  doneHosts: number;
  runningHosts: number;
  counts: Record<ReportCategory, number>;
  /** A pool's appliances: whether each can take work, and its hosts in flight. */
  appliances?: { applianceId: string; state: ApplianceState; runningHosts: number }[];
}

export const progressQuery = defineQuery<ScanProgress>('progress');
export const cancelSignal = defineSignal<[]>('cancel');
