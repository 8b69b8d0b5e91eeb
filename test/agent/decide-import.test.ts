/**
 * decide/import.ts: what bootstrap.import may take (a newer major and databases without a declared owner are refused
 * before anything is dumped) and what a failure tells the user.
 */
import { ImportSourceFacts, classifyImportFailure, majorOf, planImport } from '../../agent/src/decide/import';
import { INVARIANTS } from '../../agent/src/decide/invariants';

describe('planImport', () => {
  const base: ImportSourceFacts = {
    source: 'postgres@gitea-pg-rw:5432',
    sourceVersionNum: 150010,
    clusterMajor: 17,
    sourceDatabases: ['gitea', 'postgres'],
    declared: [{ name: 'gitea', owner: 'gitea_owner' }],
  };
  test.each<[string, Partial<ImportSourceFacts>, string, RegExp, Array<{ name: string; owner: string }>?]>([
    [
      '15 into 17, all databases (postgres left out)',
      {},
      'import',
      /runs PostgreSQL 15, this cluster 17: importing gitea \(owner gitea_owner\)/,
      [{ name: 'gitea', owner: 'gitea_owner' }],
    ],
    ['the same major', { sourceVersionNum: 170002 }, 'import', /runs PostgreSQL 17, this cluster 17/, [{ name: 'gitea', owner: 'gitea_owner' }]],
    ['9.6 into 17', { sourceVersionNum: 90624 }, 'import', /runs PostgreSQL 9, this cluster 17/, [{ name: 'gitea', owner: 'gitea_owner' }]],
    [
      'a newer major',
      { sourceVersionNum: 170002, clusterMajor: 15 },
      'wait',
      /runs PostgreSQL 17 \(server_version_num 170002\), newer than this cluster's 15: .*nothing was dumped/,
    ],
    [
      'a newer major, even with nothing to take',
      { sourceVersionNum: 180000, sourceDatabases: [] },
      'wait',
      /runs PostgreSQL 18 .*newer than this cluster's 17/,
    ],
    [
      'postgres listed: owned by the superuser',
      { requested: ['postgres', 'gitea'] },
      'import',
      /importing postgres \(owner postgres\), gitea \(owner gitea_owner\)/,
      [
        { name: 'postgres', owner: 'postgres' },
        { name: 'gitea', owner: 'gitea_owner' },
      ],
    ],
    [
      'a requested database the source lacks',
      { requested: ['wiki'] },
      'wait',
      /lists wiki, which the source postgres@gitea-pg-rw:5432 does not have \(it has gitea, postgres\)/,
    ],
    [
      'an undeclared source database, all taken',
      { sourceDatabases: ['gitea', 'wiki', 'postgres'] },
      'wait',
      /has database\(s\) wiki that this cluster does not declare/,
    ],
    [
      'an undeclared source database, left out by the list',
      { sourceDatabases: ['gitea', 'wiki'], requested: ['gitea'] },
      'import',
      /importing gitea/,
      [{ name: 'gitea', owner: 'gitea_owner' }],
    ],
    ['a source with no database but postgres: roles only', { sourceDatabases: ['postgres'] }, 'import', /roles only/, []],
  ])('%s', (_name, change, action, why, ...databases) => {
    // (a rest parameter: jest would take a fifth named one for a done callback on the rows without it)
    const d = planImport({ ...base, ...change });
    expect(d.action).toBe(action);
    expect(d.why).toMatch(why);
    if (d.action === 'wait') {
      expect(d.invariant).toBe(INVARIANTS.VERIFY_BEFORE_DESTROY);
      expect(d.fix.length).toBeGreaterThan(20);
    } else expect(d.databases).toEqual(databases[0]);
  });

  test('the fixes say what to change', () => {
    const newer = planImport({ ...base, sourceVersionNum: 170002, clusterMajor: 15 });
    expect(newer.action === 'wait' && newer.fix).toMatch(/Set postgresVersion to 17 or later/);
    const undeclared = planImport({ ...base, sourceDatabases: ['wiki'] });
    expect(undeclared.action === 'wait' && undeclared.fix).toMatch(/\{ name: 'wiki', owner: 'wiki' \}.*bootstrap\.import\.databases/);
  });

  test('majorOf', () => {
    expect([majorOf(150010), majorOf(170000), majorOf(100023), majorOf(90624)]).toEqual([15, 17, 10, 9]);
  });
});

describe('classifyImportFailure', () => {
  test.each<[string, string]>([
    ['connect ECONNREFUSED 127.0.0.1:5432', 'unreachable'],
    ['getaddrinfo ENOTFOUND gitea-pg-rw', 'unreachable'],
    ['timeout expired', 'unreachable'],
    ['pg_dumpall failed (exit 1): pg_dumpall: error: connection to server at "10.0.0.1", port 5432 failed: Connection refused', 'unreachable'],
    ['password authentication failed for user "postgres"', 'refused'],
    ['pg_dump failed (exit 1): no pg_hba.conf entry for host "10.1.2.3", user "postgres", database "gitea", SSL encryption', 'refused'],
    ['pg_dumpall failed (exit 1): pg_dumpall: error: query failed: ERROR:  permission denied for table pg_authid', 'privileges'],
    ['pg_dump failed (exit 1): pg_dump: error: query failed: ERROR:  permission denied for table secrets', 'privileges'],
    ['the source runs PostgreSQL 17 (server_version_num 170002), newer than this cluster', 'other'],
  ])('%s → %s', (message, kind) => {
    const c = classifyImportFailure(message);
    expect(c.kind).toBe(kind);
    expect(c.fix).not.toBe('');
  });
});
