// Search attributes that make scans and hosts easy to find in the Temporal Web UI.
// Only ids, addresses and statuses: visibility stores them in plain text, never anything secret.
import { defineSearchAttributeKey, SearchAttributeType, type TypedSearchAttributes } from '@temporalio/common';

export const ScanIdAttr = defineSearchAttributeKey('VaultscanScanId', SearchAttributeType.KEYWORD);
/** Every host a batch workflow scans: `VaultscanTargetIps = "10.0.0.5"` finds the host's workflow. */
export const TargetIpsAttr = defineSearchAttributeKey('VaultscanTargetIps', SearchAttributeType.KEYWORD_LIST);
export const ApplianceIdAttr = defineSearchAttributeKey('VaultscanApplianceId', SearchAttributeType.KEYWORD);
export const ScanStatusAttr = defineSearchAttributeKey('VaultscanStatus', SearchAttributeType.KEYWORD);
/** The report categories a finished batch's hosts landed in: `VaultscanHostCategories = "FAILED"`. */
export const HostCategoriesAttr = defineSearchAttributeKey('VaultscanHostCategories', SearchAttributeType.KEYWORD_LIST);

/** The schedule whose run started a scan: `VaultscanScheduleId = "<id>"` lists that schedule's scans. */
export const ScheduleIdAttr = defineSearchAttributeKey('VaultscanScheduleId', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTES = [
  ScanIdAttr,
  TargetIpsAttr,
  ApplianceIdAttr,
  ScanStatusAttr,
  HostCategoriesAttr,
  ScheduleIdAttr,
];

/** The search attributes a scan workflow starts with (the API's scans and a schedule's alike). */
export function scanSearchAttributes(ids: { scanId: string; applianceId: string; scheduleId?: string }) {
  return [
    { key: ScanIdAttr, value: ids.scanId },
    { key: ApplianceIdAttr, value: ids.applianceId },
    { key: ScanStatusAttr, value: 'RUNNING' },
    ...(ids.scheduleId === undefined ? [] : [{ key: ScheduleIdAttr, value: ids.scheduleId }]),
  ] satisfies Parameters<TypedSearchAttributes['updateCopy']>[0];
}
