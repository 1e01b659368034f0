import pg from 'pg';

/**
 * Type parsers for the store's pools, kept per pool (`new pg.Pool({ types })`) rather than set
 * with the global `pg.types.setTypeParser`: pg-types is one module-wide registry shared by every
 * `pg` user in the process, and changing it there would silently change what other code (a test
 * helper, a future library) gets back for int8 and timestamptz. A `TypeOverrides` looks up its own
 * table first and falls back to pg's defaults for every other type.
 */
const INT8 = 20;
const INT8_ARRAY = 1016;
const TIMESTAMPTZ = 1184;
const TIMESTAMPTZ_ARRAY = 1185;

/** pg's own parser for `oid` (typed loosely: @types/pg's TypeId enum lacks the array oids). */
const builtin = (oid: number) =>
  (pg.types.getTypeParser as (oid: number, format: 'text') => (text: string) => unknown)(oid, 'text');

/** BIGINT as a JS number: ids and counts stay far below 2^53 (types.ts). */
const parseInt8 = (text: string): number => Number(text);

/**
 * A timestamptz as an ISO-8601 string, so rows cross thread boundaries and the wire unchanged.
 * pg's parser reads the server's text format (whatever the session TimeZone) into a Date; a value
 * no Date can hold ('infinity') is passed through as PostgreSQL wrote it.
 */
const toIso = (d: unknown, text: string): string =>
  d instanceof Date && !Number.isNaN(d.getTime()) ? d.toISOString() : text;

export function storeTypes(): pg.CustomTypesConfig {
  const types = new pg.TypeOverrides();
  const ts = builtin(TIMESTAMPTZ);
  const tsArray = builtin(TIMESTAMPTZ_ARRAY);
  const int8Array = builtin(INT8_ARRAY);
  types.setTypeParser(INT8, 'text', parseInt8);
  types.setTypeParser(TIMESTAMPTZ, 'text', (text: string) => toIso(ts(text), text));
  // pg's array parsers yield strings (int8[]) and Dates (timestamptz[]): map them like the scalars.
  types.setTypeParser(INT8_ARRAY, 'text', (text: string) =>
    (int8Array(text) as (string | null)[]).map((v) => (v === null ? null : parseInt8(v))),
  );
  types.setTypeParser(TIMESTAMPTZ_ARRAY, 'text', (text: string) =>
    (tsArray(text) as (Date | null)[]).map((v) => (v === null ? null : toIso(v, String(v)))),
  );
  return types;
}
