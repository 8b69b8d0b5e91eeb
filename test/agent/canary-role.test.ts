/**
 * The canary role's reconcile step as a pure function: from what the catalog shows to the SQL that converges it,
 * nothing when it is as it should be, never a privilege beyond SELECT and INSERT on its table.
 */
import { CanaryRoleFacts, planCanaryRole } from '../../agent/src/instance/canary-role';

const spec = { role: 'pg-canary', database: 'app', secretName: 'pg-canary-db' };
const converged: CanaryRoleFacts = {
  roleExists: true,
  passwordMatches: true,
  attributesMatch: true,
  canConnect: true,
  tableExists: true,
  schemaUsage: true,
  tableSelectInsert: true,
  sequence: 'public.pgc_canary_seq_seq',
  sequenceUsage: true,
  extraTablePrivileges: false,
};
const V = 'SCRAM-SHA-256$4096:c2FsdA==$a:b';
const plan = (f: Partial<CanaryRoleFacts>) => planCanaryRole(spec, 'app_owner', { ...converged, ...f }, V);
const ATTRS = 'LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT CONNECTION LIMIT 10';
const SEQ = `DO $$ BEGIN EXECUTE format('GRANT USAGE ON SEQUENCE %s TO %I', pg_get_serial_sequence('public.pgc_canary', 'seq'), 'pg-canary'); END $$`;

test.each<[string, Partial<CanaryRoleFacts>, string[], string[]]>([
  ['converged: nothing to do', {}, [], []],
  [
    'nothing yet: role, connect, table owned by the database owner, grants',
    {
      roleExists: false,
      passwordMatches: false,
      attributesMatch: false,
      canConnect: false,
      tableExists: false,
      schemaUsage: false,
      tableSelectInsert: false,
      sequence: undefined,
      sequenceUsage: false,
    },
    [`CREATE ROLE "pg-canary" WITH ${ATTRS} PASSWORD '${V}'`, 'GRANT CONNECT ON DATABASE "app" TO "pg-canary"'],
    [
      'CREATE TABLE IF NOT EXISTS public.pgc_canary (seq bigserial PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT clock_timestamp(), payload text NOT NULL, checksum text NOT NULL)',
      'ALTER TABLE public.pgc_canary OWNER TO "app_owner"',
      'GRANT USAGE ON SCHEMA public TO "pg-canary"',
      'GRANT SELECT, INSERT ON public.pgc_canary TO "pg-canary"',
      SEQ,
    ],
  ],
  ['a rotated Secret: the new verifier only', { passwordMatches: false }, [`ALTER ROLE "pg-canary" WITH ${ATTRS} PASSWORD '${V}'`], []],
  ['attributes changed by hand (e.g. SUPERUSER): reset, password kept', { attributesMatch: false }, [`ALTER ROLE "pg-canary" WITH ${ATTRS}`], []],
  [
    'the table made by an older canary as the owner: only the grants',
    { tableSelectInsert: false, sequenceUsage: false },
    [],
    ['GRANT SELECT, INSERT ON public.pgc_canary TO "pg-canary"', SEQ],
  ],
  [
    'UPDATE or DELETE granted by hand: revoked, SELECT and INSERT again',
    { extraTablePrivileges: true },
    [],
    ['REVOKE ALL ON public.pgc_canary FROM "pg-canary"', 'GRANT SELECT, INSERT ON public.pgc_canary TO "pg-canary"'],
  ],
])('%s', (_what, facts, inPostgres, inDatabase) => {
  expect(plan(facts)).toEqual({ inPostgres, inDatabase });
});

test('a role name with a double quote is quoted, never breaks out of the identifier', () => {
  const p = planCanaryRole({ ...spec, role: 'a"b' }, 'o', { ...converged, canConnect: false }, V);
  expect(p.inPostgres).toEqual(['GRANT CONNECT ON DATABASE "app" TO "a""b"']);
});
