export { parseRecord, RECORD_TYPES, type RecordType, recordLine, type ZoneRecord, zoneRecords } from './records.js';
export { nextSerial, renderZone, type ZoneInput } from './zone.js';
