import { apacheRows } from './bench-apache.ts';

for (const r of await apacheRows()) console.log(r);
