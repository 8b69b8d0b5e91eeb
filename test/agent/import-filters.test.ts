/** import/filters.ts: the roles script of pg_dumpall --roles-only and a dump's table of contents, rewritten for the import. */
import { filterRoleScript, filterTableOfContents, splitStatements } from '../../agent/src/import/filters';

/** What pg_dumpall 15.20 --roles-only prints (with its \restrict guard), plus the cases the filter must handle. */
const DUMP = `--
-- PostgreSQL database cluster dump
--

\\restrict AbCdEf123

SET default_transaction_read_only = off;

SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;

--
-- Roles
--

CREATE ROLE analysts;
ALTER ROLE analysts WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION NOBYPASSRLS;
CREATE ROLE gitea;
ALTER ROLE gitea WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS PASSWORD 'SCRAM-SHA-256$4096:abc$def:ghi';
CREATE ROLE old_admin;
ALTER ROLE old_admin WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS VALID UNTIL 'infinity';
CREATE ROLE "Mixed ""Case""";
ALTER ROLE "Mixed ""Case""" WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS;
COMMENT ON ROLE gitea IS 'the app;
CREATE ROLE evil;
ALTER ROLE evil WITH SUPERUSER;';
CREATE ROLE postgres;
ALTER ROLE postgres WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS;
CREATE ROLE streaming_replica;
ALTER ROLE streaming_replica WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN REPLICATION NOBYPASSRLS;

--
-- User Configurations
--

ALTER ROLE gitea SET search_path TO 'gitea', 'public';
ALTER ROLE gitea IN DATABASE gitea SET work_mem TO '8MB';

--
-- Role memberships
--

GRANT analysts TO gitea GRANTED BY postgres;
GRANT analysts TO "Mixed ""Case""" WITH ADMIN OPTION GRANTED BY old_admin;
GRANT pg_read_all_data TO analysts GRANTED BY postgres;
GRANT analysts TO postgres GRANTED BY postgres;
GRANT postgres TO old_admin GRANTED BY postgres;

SECURITY LABEL FOR selinux ON ROLE gitea IS 'x';

\\unrestrict AbCdEf123

--
-- PostgreSQL database cluster dump complete
--
`;

describe('splitStatements', () => {
  test('splits at ; outside quotes and comments; psql meta-commands are dropped', () => {
    expect(splitStatements("\\restrict k\nSELECT 'a;b'; -- c;d\nSELECT \"x;y\";\nSELECT E'it\\'s;'; SELECT 1")).toEqual([
      "SELECT 'a;b'",
      'SELECT "x;y"',
      "SELECT E'it\\'s;'",
      'SELECT 1',
    ]);
  });
});

describe('filterRoleScript', () => {
  const out = filterRoleScript(DUMP);

  test('keeps the roles, never their SUPERUSER or REPLICATION attribute, never the cluster’s own roles', () => {
    expect(out.roles).toEqual(['analysts', 'gitea', 'old_admin', 'Mixed "Case"']);
    expect(out.statements).toEqual([
      'CREATE ROLE analysts',
      'ALTER ROLE analysts WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION NOBYPASSRLS',
      'CREATE ROLE gitea',
      "ALTER ROLE gitea WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS PASSWORD 'SCRAM-SHA-256$4096:abc$def:ghi'",
      'CREATE ROLE old_admin',
      "ALTER ROLE old_admin WITH NOSUPERUSER INHERIT CREATEROLE CREATEDB LOGIN NOREPLICATION BYPASSRLS VALID UNTIL 'infinity'",
      'CREATE ROLE "Mixed ""Case"""',
      'ALTER ROLE "Mixed ""Case""" WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS',
      "COMMENT ON ROLE gitea IS 'the app;\nCREATE ROLE evil;\nALTER ROLE evil WITH SUPERUSER;'",
      "ALTER ROLE gitea SET search_path TO 'gitea', 'public'",
      'GRANT analysts TO gitea',
      'GRANT analysts TO "Mixed ""Case""" WITH ADMIN OPTION',
      'GRANT pg_read_all_data TO analysts',
    ]);
  });

  test('says what it left out and why, without a password', () => {
    expect(out.skipped.map(s => [s.statement.split('\n')[0], s.why])).toEqual([
      ['CREATE ROLE postgres', "this cluster's own role"],
      ['ALTER ROLE postgres WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS', "this cluster's own role"],
      ['CREATE ROLE streaming_replica', "this cluster's own role"],
      ['ALTER ROLE streaming_replica WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN REPLICATION NOBYPASSRLS', "this cluster's own role"],
      ["ALTER ROLE gitea IN DATABASE gitea SET work_mem TO '8MB'", 'a per-database setting (set it again after the import if needed)'],
      ['GRANT analysts TO postgres GRANTED BY postgres', "a membership of this cluster's own role"],
      ['GRANT postgres TO old_admin GRANTED BY postgres', "a membership of this cluster's own role"],
      ["SECURITY LABEL FOR selinux ON ROLE gitea IS 'x'", 'not a role statement the import carries over'],
    ]);
    expect(
      JSON.stringify(filterRoleScript("CREATE ROLE postgres;\nALTER ROLE postgres WITH SUPERUSER PASSWORD 'SCRAM-secret';").skipped),
    ).not.toMatch(/SCRAM-secret/);
  });

  test('a role named like an attribute keeps its name', () => {
    expect(filterRoleScript('CREATE ROLE "SUPERUSER";\nALTER ROLE "SUPERUSER" WITH SUPERUSER LOGIN;').statements).toEqual([
      'CREATE ROLE "SUPERUSER"',
      'ALTER ROLE "SUPERUSER" WITH NOSUPERUSER LOGIN',
    ]);
  });
});

describe('filterTableOfContents', () => {
  const TOC = [
    ';',
    '; Archive created at 2026-12-03 19:36:33 UTC',
    ';',
    '2; 3079 16385 EXTENSION - hstore ',
    '3945; 0 0 COMMENT - EXTENSION hstore ',
    '6; 2615 16500 SCHEMA - extensions gitea',
    '7; 2615 16501 SCHEMA - app gitea',
    '216; 1259 16390 TABLE public repo gitea',
    '3939; 0 16390 TABLE DATA public repo gitea',
    '3946; 0 0 ACL public TABLE repo gitea',
  ].join('\n');

  test('leaves out the extensions, their comments and the schemas made beforehand; keeps the rest', () => {
    const { list, left } = filterTableOfContents(TOC, ['extensions']);
    expect(left).toEqual(['EXTENSION - hstore ', 'COMMENT - EXTENSION hstore ', 'SCHEMA - extensions gitea']);
    expect(list.split('\n').filter(l => /^\d/.test(l))).toEqual([
      '7; 2615 16501 SCHEMA - app gitea',
      '216; 1259 16390 TABLE public repo gitea',
      '3939; 0 16390 TABLE DATA public repo gitea',
      '3946; 0 0 ACL public TABLE repo gitea',
    ]);
  });
});
