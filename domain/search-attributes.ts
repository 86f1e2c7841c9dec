// Search attributes that make scans and hosts easy to find in the Temporal Web UI.
// Only ids and statuses: visibility stores them in plain text, so never anything secret.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const ScanIdAttr = defineSearchAttributeKey('VaultscanScanId', SearchAttributeType.KEYWORD);
export const TargetIpAttr = defineSearchAttributeKey('VaultscanTargetIp', SearchAttributeType.KEYWORD);
export const ApplianceIdAttr = defineSearchAttributeKey('VaultscanApplianceId', SearchAttributeType.KEYWORD);
export const ScanStatusAttr = defineSearchAttributeKey('VaultscanStatus', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTES = [ScanIdAttr, TargetIpAttr, ApplianceIdAttr, ScanStatusAttr];
