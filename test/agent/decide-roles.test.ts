/**
 * Issue 15: the managed-role drop and the extension statements as pure decisions, every case of the table; and the
 * user's pg_hba rules merged into the agent's pg_hba.conf (placement before the catch-all, replaced not repeated).
 */
import { INVARIANTS } from '../../agent/src/decide/invariants';
import { decideExtension, decideRoleDrop, ExtensionFacts, RoleDropFacts } from '../../agent/src/decide/roles';
import { withManagedHbaRules } from '../../agent/src/instance/managed-spec';
import { PG_HBA } from '../../agent/src/instance/config-files';

describe('decideRoleDrop: an absent role is dropped only when nothing depends on it', () => {
  const base: RoleDropFacts = { role: 'old_app', exists: true, dependencies: [] };
  test.each<[string, RoleDropFacts, string, RegExp | null]>([
    ['does not exist', { ...base, exists: false }, 'none', null],
    ['owns nothing', base, 'drop', null],
    ['rows of zeros count as nothing', { ...base, dependencies: [{ database: 'app', owned: 0, privileges: 0 }] }, 'drop', null],
    ['owns tables in app', { ...base, dependencies: [{ database: 'app', owned: 3, privileges: 0 }] }, 'wait', /owns 3 object\(s\) in database app/],
    [
      'holds privileges in wiki',
      { ...base, dependencies: [{ database: 'wiki', owned: 0, privileges: 2 }] },
      'wait',
      /holds 2 privilege\(s\) in database wiki/,
    ],
    ['owns a database (cluster-wide)', { ...base, dependencies: [{ owned: 1, privileges: 0 }] }, 'wait', /cluster-wide/],
  ])('%s → %s', (_n, facts, action, why) => {
    const d = decideRoleDrop(facts);
    expect(d.action).toBe(action);
    if (why) expect(d.why).toMatch(why);
    if (d.action === 'wait') {
      expect(d.invariant).toBe(INVARIANTS.VERIFY_BEFORE_DESTROY);
      expect(d.fix).toMatch(/REASSIGN OWNED BY old_app TO <new owner>; DROP OWNED BY old_app/);
      expect(d.fix).toMatch(/ensure: 'present'/);
    }
  });
  test('the fix names every database', () => {
    const d = decideRoleDrop({
      ...base,
      dependencies: [
        { database: 'app', owned: 1, privileges: 0 },
        { database: 'wiki', owned: 0, privileges: 1 },
      ],
    });
    expect(d.action === 'wait' && d.fix).toMatch(/in each of app, wiki run/);
  });
});

describe('decideExtension: create, update or refuse; never drop or move', () => {
  const base: ExtensionFacts = { database: 'app', name: 'postgis', available: { defaultVersion: '3.3.2', versions: ['3.3.1', '3.3.2'] } };
  test.each<[string, ExtensionFacts, string, RegExp | null]>([
    ['not in the image', { ...base, name: 'vector', available: undefined }, 'refuse', /extension vector in database app: the image does not have it/],
    ['new, default version', base, 'create', null],
    ['new, declared version', { ...base, version: '3.3.1' }, 'create', null],
    ['declared version not in the image', { ...base, version: '9.9' }, 'refuse', /version 9\.9 is not in the image \(it has 3\.3\.1, 3\.3\.2\)/],
    ['installed at the declared version', { ...base, version: '3.3.1', installed: { version: '3.3.1', schema: 'public' } }, 'none', null],
    ['installed, no version declared', { ...base, installed: { version: '3.3.1', schema: 'public' } }, 'none', null],
    ['installed, another version declared', { ...base, version: '3.3.2', installed: { version: '3.3.1', schema: 'public' } }, 'update', null],
    [
      'installed in another schema',
      { ...base, schema: 'gis', installed: { version: '3.3.2', schema: 'public' } },
      'refuse',
      /installed in schema public, declared gis: not moved/,
    ],
    ['installed but gone from the image', { ...base, available: undefined, installed: { version: '3.3.2', schema: 'public' } }, 'none', null],
  ])('%s → %s', (_n, facts, action, why) => {
    const d = decideExtension(facts);
    expect(d.action).toBe(action);
    if (why) expect(d.why).toMatch(why);
  });
  test('the refusal of a missing extension says what to do', () => {
    const d = decideExtension({ ...base, name: 'vector', available: undefined });
    expect(d.action === 'refuse' && d.fix).toMatch(/remove it from databases\[\]\.extensions; the rest is reconciled/);
  });
});

describe("the pgHba rules in the agent's pg_hba.conf", () => {
  const rules = ['hostssl app reporting 10.42.0.0/16 scram-sha-256', 'hostssl all all 192.168.0.0/16 reject'];
  const lines = (s: string) => s.split('\n').filter(l => l && !l.startsWith('#'));

  test('after the agent rules, before the final catch-all (first match wins, so after it they would never apply)', () => {
    const out = lines(withManagedHbaRules(PG_HBA, rules));
    const builtIn = lines(PG_HBA);
    expect(out.slice(0, builtIn.length - 1)).toEqual(builtIn.slice(0, -1));
    expect(out.slice(builtIn.length - 1, -1)).toEqual(['hostssl all             postgres,streaming_replica all     scram-sha-256', ...rules]);
    expect(out[out.length - 1]).toBe(builtIn[builtIn.length - 1]);
  });

  test('idempotent, replaced when the rules change, gone when none are left; also with a hostssl catch-all', () => {
    const once = withManagedHbaRules(PG_HBA, rules);
    expect(withManagedHbaRules(once, rules)).toBe(once);
    expect(lines(withManagedHbaRules(once, [rules[1]]))).not.toContain(rules[0]);
    expect(withManagedHbaRules(once, [])).toBe(PG_HBA);
    const tls = PG_HBA.replace(/^host {4}all /m, 'hostssl all ');
    const out = lines(withManagedHbaRules(tls, rules));
    expect(out[out.length - 1]).toMatch(/^hostssl all\s+all\s+all\s+scram-sha-256$/);
  });

  test('a line that is not hostssl is never written', () => {
    expect(withManagedHbaRules(PG_HBA, ['host all all 0.0.0.0/0 trust'])).toBe(PG_HBA);
  });
});
