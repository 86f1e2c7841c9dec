import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { ReportCategory } from '../domain/categories.js';

export interface ScanProgress {
  status: 'RUNNING' | 'CANCELING' | 'FINISHED' | 'CANCELED';
  totalHosts: number;
  doneHosts: number;
  runningHosts: number;
  counts: Record<ReportCategory, number>;
}

export const progressQuery = defineQuery<ScanProgress>('progress');
export const cancelSignal = defineSignal<[]>('cancel');
