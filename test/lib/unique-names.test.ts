/**
 * Safety invariant 6 (issue 12 item 6): no two objects of an App share API group, kind, namespace and name, whether
 * rendered (every chart's ApiObjects) or made at run time under names fixed at synth (the secrets Job's Secrets,
 * the Lease, pods, volume claims). Predictable collisions between two cluster names are refused when the second
 * cluster is constructed; the App-wide check at synth (app.synth() and Testing.synth(chart)) catches the rest.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ApiObject, App, Chart, Size, Testing } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import { BackupStore, CanaryApp, PostgresCluster, PostgresClusterProps, PriorityClass } from '../../lib';
import { nameCollisions, objectKey } from '../../lib/unique-names';

const storage = { size: Size.gibibytes(1) };
const cluster = (scope: Chart, name: string, props: Partial<PostgresClusterProps> = {}) =>
  new PostgresCluster(scope, name, { name, storage, ...props });

/** The a/b_c and a-b/c clusters: both make Secret `a-b-c-app` (one would read the other's password). */
function secretCollisionApp(app: App, oneChart: boolean): Chart[] {
  const first = new Chart(app, 'team1', { namespace: 'apps' });
  const second = oneChart ? first : new Chart(app, 'team2', { namespace: 'apps' });
  cluster(first, 'a', { databases: [{ name: 'b_c', owner: 'bc' }] });
  cluster(second, 'a-b', { databases: [{ name: 'c', owner: 'c' }] });
  return [first, second];
}
const SECRET_COLLISION = new RegExp(
  [
    'Secret "apps/a-b-c-app": made twice, by team1/a \\(the app Secret of database "b_c", created by the secrets Job\\) ',
    'and by team[12]/a-b \\(the app Secret of database "c", created by the secrets Job\\); in the cluster they would be one object, ',
    'taken over by whichever is applied last\\. Rename one of them: .*its databases \\(Secret `<name>-<database>-app`',
  ].join(''),
);

describe('App-wide: no two objects share group, kind, namespace and name', () => {
  test('cluster a (database b_c) and cluster a-b (database c): Testing.synth(chart) fails naming both paths and the fix', () => {
    const [chart] = secretCollisionApp(Testing.app(), true);
    expect(() => Testing.synth(chart)).toThrow(SECRET_COLLISION);
  });

  test('the same in two charts of one namespace: app.synth() fails, and so does Testing.synth of either chart', () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgc-names-'));
    try {
      const app = new App({ outdir });
      const [one, two] = secretCollisionApp(app, false);
      expect(() => app.synth()).toThrow(SECRET_COLLISION);
      expect(fs.readdirSync(outdir)).toEqual([]);
      expect(() => Testing.synth(one)).toThrow(SECRET_COLLISION);
      expect(() => Testing.synth(two)).toThrow(SECRET_COLLISION);
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });

  test('in different namespaces the same names are fine; existingSecret avoids the collision too', () => {
    const app = Testing.app();
    cluster(new Chart(app, 'n1', { namespace: 'n1' }), 'a', { databases: [{ name: 'b_c', owner: 'bc' }] });
    const n2 = new Chart(app, 'n2', { namespace: 'n2' });
    cluster(n2, 'a-b', { databases: [{ name: 'c', owner: 'c' }] });
    expect(() => Testing.synth(n2)).not.toThrow();
    const same = Testing.app();
    const chart = new Chart(same, 'c', { namespace: 'apps' });
    cluster(chart, 'a', { databases: [{ name: 'b_c', owner: 'bc', existingSecret: 'a-bc-credentials' }] });
    cluster(chart, 'a-b', { databases: [{ name: 'c', owner: 'c' }] });
    expect(() => Testing.synth(chart)).not.toThrow();
  });

  test("any rendered object counts: a ServiceAccount of the user's named like a cluster's, a second PriorityClass in another chart", () => {
    const app = Testing.app();
    const chart = new Chart(app, 'c', { namespace: 'apps' });
    cluster(chart, 'pg');
    new k8s.KubeServiceAccount(chart, 'mine', { metadata: { name: 'pg-secrets' } });
    expect(() => Testing.synth(chart)).toThrow(
      /ServiceAccount "apps\/pg-secrets": made twice, by c\/pg\/Secrets\/ServiceAccount \(rendered ServiceAccount\) and by c\/mine \(rendered ServiceAccount\)/,
    );

    const app2 = Testing.app();
    new PriorityClass(new Chart(app2, 'p1'), 'hl', { name: 'hl-critical', value: 1 });
    const p2 = new Chart(app2, 'p2', { namespace: 'elsewhere' });
    new PriorityClass(p2, 'hl', { name: 'hl-critical', value: 2 });
    // Cluster-scoped: the chart's namespace does not separate them.
    expect(() => Testing.synth(p2)).toThrow(
      /PriorityClass \(scheduling\.k8s\.io\) "hl-critical": made twice, by p1\/hl\/Resource .* and by p2\/hl\/Resource/,
    );
  });

  test("a CanaryApp named like another cluster's object is caught at synth", () => {
    const chart = new Chart(Testing.app(), 'c', { namespace: 'apps' });
    const kc = cluster(chart, 'kc');
    new CanaryApp(chart, 'canary', { cluster: kc, name: 'kc-rw' });
    expect(() => Testing.synth(chart)).toThrow(
      /Service "apps\/kc-rw": made twice, by c\/kc\/ServiceRw \(rendered Service\) and by c\/canary\/Service/,
    );
  });

  test('group, kind, namespace and name make the key (the version does not)', () => {
    const o = { apiVersion: 'batch/v1', kind: 'Job', namespace: 'n', name: 'j' };
    expect(objectKey(o)).toBe(objectKey({ ...o, apiVersion: 'batch/v2' }));
    expect(objectKey(o)).not.toBe(objectKey({ ...o, kind: 'CronJob' }));
    expect(objectKey(o)).not.toBe(objectKey({ ...o, namespace: 'm' }));
    expect(
      nameCollisions([
        { ...o, path: 'x', what: 'a' },
        { ...o, path: 'y', what: 'b' },
        { ...o, name: 'k', path: 'z', what: 'c' },
      ]),
    ).toHaveLength(1);
  });

  test('a cluster with backups alone passes; an object named like its backup CronJob fails', () => {
    // dist.test.ts proves synth is byte-identical; here, that the check ran: a deliberately colliding object fails it.
    const app = Testing.app();
    const chart = new Chart(app, 'keycloak', { namespace: 'testsetup' });
    const store = new BackupStore(chart, 'store', { endpoint: 'http://s3:80', bucket: 'backups', credentials: { secretName: 's' } });
    cluster(chart, 'keycloak-pg-cluster', { backup: { store } });
    expect(() => Testing.synth(chart)).not.toThrow();
    new ApiObject(chart, 'dup', { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'keycloak-pg-cluster-backup' } });
    expect(() => Testing.synth(chart)).toThrow(/CronJob \(batch\) "testsetup\/keycloak-pg-cluster-backup": made twice/);
  });
});

describe("construct level: a cluster name that gives another cluster's objects", () => {
  test.each([
    [
      'x then x-secrets',
      ['x', 'x-secrets'],
      {},
      /^name: "x-secrets" gives ServiceAccount "apps\/x-secrets" \(rendered by c\/x-secrets\/ServiceAccount\), which PostgresCluster "x" \(c\/x\) makes too \(rendered by c\/x\/Secrets\/ServiceAccount\)\. Rename "x-secrets" or "x": /,
    ],
    [
      'x-secrets then x',
      ['x-secrets', 'x'],
      {},
      /^name: "x" gives ServiceAccount "apps\/x-secrets" \(rendered by c\/x\/Secrets\/ServiceAccount\), which PostgresCluster "x-secrets" \(c\/x-secrets\) makes too/,
    ],
    [
      'x (with backup) then x-backup',
      ['x', 'x-backup'],
      { backup: true },
      /^name: "x-backup" gives ServiceAccount "apps\/x-backup" .*which PostgresCluster "x" \(c\/x\) makes too \(rendered by c\/x\/Backup\/ServiceAccount\)/,
    ],
  ])('%s: refused with both paths and the fix', (_what, [first, second], opts, message) => {
    const chart = new Chart(Testing.app(), 'c', { namespace: 'apps' });
    const store = new BackupStore(chart, 'store', { endpoint: 'http://s3:80', bucket: 'backups', credentials: { secretName: 's' } });
    const props = (opts as { backup?: boolean }).backup ? { backup: { store } } : {};
    cluster(chart, first, props);
    let error: Error | undefined;
    try {
      cluster(chart, second, props);
    } catch (e) {
      error = e as Error;
    }
    expect(error?.message).toMatch(message);
    expect(error?.message).toMatch(
      /a cluster's objects are named "<name>", "<name>-secrets", "<name>-backup", "<name>-rw"…, so within a namespace one cluster's name must not be another's plus one of those suffixes\.$/,
    );
  });

  test('x and x-secrets in different namespaces, or x-backup without x having backups: fine', () => {
    const app = Testing.app();
    cluster(new Chart(app, 'a', { namespace: 'a' }), 'x');
    expect(() => cluster(new Chart(app, 'b', { namespace: 'b' }), 'x-secrets')).not.toThrow();
    const chart = new Chart(Testing.app(), 'c', { namespace: 'apps' });
    cluster(chart, 'x');
    expect(() => cluster(chart, 'x-backup')).not.toThrow();
    expect(() => Testing.synth(chart)).not.toThrow();
  });
});
