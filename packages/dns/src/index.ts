export { type DnsEnv, dnsEnv } from './config.js';
export { dnsService } from './definition.js';
export { renderNamedConf } from './named-conf.js';
export { type DnsAnswer, type DnsQuery, queryDns } from './query.js';
export { parseRecord, RECORD_TYPES, type RecordType, recordLine, type ZoneRecord, zoneRecords } from './records.js';
export { nextSerial, renderZone, type ZoneInput } from './zone.js';
