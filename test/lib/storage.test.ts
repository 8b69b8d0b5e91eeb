/**
 * Day-2 changes that must reach a running cluster without touching the StatefulSet (issue 13): volume growth from
 * git (PVC objects carry storage.size), scaling (the agents read spec.replicas, not the pod template) and hibernation.
 */
import { App, Chart, Size, Testing, YamlOutputType } from 'cdk8s';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { stringify } from 'yaml';
import { BackupStore, ClusterMonitoring, PostgresCluster, PostgresClusterProps } from '../../lib';
import { ENV } from '../../lib/contract';
import { byKind, synthCluster } from './helpers';

/** The cluster's objects as YAML documents, keyed by kind/name (what Flux or Argo CD would apply). */
function rendered(props: Partial<PostgresClusterProps>): Map<string, string> {
  const { objects } = synthCluster({ name: 'kc', instances: 2, storage: { size: Size.gibibytes(2), storageClass: 'rbd-fast' }, ...props });
  return new Map(objects.map(o => [`${o.kind}/${o.metadata.name}`, stringify(o)]));
}

/** Keys whose YAML differs between two renderings (or exist in only one). */
function changed(a: Map<string, string>, b: Map<string, string>): string[] {
  return [...new Set([...a.keys(), ...b.keys()])].filter(k => a.get(k) !== b.get(k)).sort();
}

describe('volume growth from git', () => {
  test('a bigger storage.size changes only the PersistentVolumeClaim objects; the StatefulSet is byte-identical', () => {
    const before = rendered({});
    const after = rendered({ storage: { size: Size.gibibytes(5), storageClass: 'rbd-fast' } });
    expect(changed(before, after)).toEqual(['PersistentVolumeClaim/pgdata-kc-0', 'PersistentVolumeClaim/pgdata-kc-1']);
    expect(after.get('StatefulSet/kc')).toBe(before.get('StatefulSet/kc'));
    expect(after.get('PersistentVolumeClaim/pgdata-kc-0')).toContain('storage: 5Gi');
  });

  test('the same holds for the whole file synth writes (kubectl apply -f / Flux / Argo read it)', () => {
    const synthFile = (size: Size) => {
      const out = fs.mkdtempSync(path.join(os.tmpdir(), 'pgc-storage-'));
      const app = new App({ outdir: out, yamlOutputType: YamlOutputType.FILE_PER_CHART });
      new PostgresCluster(new Chart(app, 'db', { namespace: 'apps' }), 'kc', { name: 'kc', instances: 2, storage: { size } });
      app.synth();
      const text = fs.readFileSync(path.join(out, 'db.k8s.yaml'), 'utf8');
      fs.rmSync(out, { recursive: true, force: true });
      return text.split(/^---$/m);
    };
    const before = synthFile(Size.gibibytes(2));
    const after = synthFile(Size.gibibytes(3));
    const differing = before
      .map((doc, i) => (doc === after[i] ? undefined : /kind: (\w+)\n/.exec(doc)![1] + ' ' + /name: ([\w-]+)\n/.exec(doc)![1]))
      .filter(Boolean);
    expect(differing).toEqual(['PersistentVolumeClaim pgdata-kc-0', 'PersistentVolumeClaim pgdata-kc-1']);
    // Claims are written before the StatefulSet: `kubectl apply -f` applies in file order, and pods need them first.
    const kinds = after.map(doc => /kind: (\w+)\n/.exec(doc)?.[1]);
    expect(kinds.lastIndexOf('PersistentVolumeClaim')).toBeLessThan(kinds.indexOf('StatefulSet'));
  });

  test("claims: the StatefulSet's names, the pod labels, never pruned by Flux or Argo CD, retained by the StatefulSet", () => {
    const { objects } = synthCluster({ name: 'kc', instances: 3, storage: { size: Size.mebibytes(1536), storageClass: 'rbd-fast' } });
    const sts = byKind(objects, 'StatefulSet', 'kc');
    const claims = objects.filter(o => o.kind === 'PersistentVolumeClaim');
    expect(claims.map(c => c.metadata.name)).toEqual(['pgdata-kc-0', 'pgdata-kc-1', 'pgdata-kc-2']);
    for (const c of claims) {
      // `<template name>-<sts>-<ordinal>`: the StatefulSet controller adopts an existing claim of that name.
      expect(c.metadata.name).toMatch(new RegExp(`^${sts.spec.volumeClaimTemplates[0].metadata.name}-${sts.metadata.name}-\\d$`));
      expect(c.metadata.labels).toEqual(sts.spec.template.metadata.labels);
      expect(c.metadata.annotations).toEqual({
        'kustomize.toolkit.fluxcd.io/prune': 'disabled',
        'argocd.argoproj.io/sync-options': 'Prune=false,Delete=false',
      });
      expect(c.spec).toEqual({ accessModes: ['ReadWriteOnce'], storageClassName: 'rbd-fast', resources: { requests: { storage: '1536Mi' } } });
    }
    expect(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe('64Mi');
    expect(sts.spec.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: 'Retain', whenScaled: 'Retain' });
  });

  test("claimTemplateSize keeps an existing StatefulSet's template (upgrade from a version that rendered storage.size there)", () => {
    const sts = byKind(synthCluster({ storage: { size: Size.gibibytes(4), claimTemplateSize: Size.gibibytes(2) } }).objects, 'StatefulSet');
    expect(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe('2Gi');
  });

  test.each([
    [
      'a template larger than the size',
      { size: Size.gibibytes(1), claimTemplateSize: Size.gibibytes(2) },
      /^storage\.claimTemplateSize: 2048 MiB is larger than storage\.size \(1024 MiB\).*keep claimTemplateSize at or below storage\.size/s,
    ],
    [
      'a template below the minimum',
      { size: Size.gibibytes(1), claimTemplateSize: Size.mebibytes(10) },
      /^storage\.claimTemplateSize: 10 MiB is not a whole number of MiB of at least 64/,
    ],
  ])('refuses %s at synth', (_, storage, message) => {
    expect(() => synthCluster({ storage })).toThrow(message);
  });
});

describe('scaling and hibernation change no pod template', () => {
  const podTemplate = (props: Partial<PostgresClusterProps>) =>
    stringify(byKind(synthCluster({ name: 'kc', ...props }).objects, 'StatefulSet').spec.template);

  test('instances 2 → 3: same pod template, one more claim, the Role names the new pod; no PGC_INSTANCES', () => {
    expect(podTemplate({ instances: 3 })).toBe(podTemplate({ instances: 2 }));
    expect(podTemplate({ instances: 2 })).not.toContain(ENV.instances);
    const { objects } = synthCluster({ name: 'kc', instances: 3 });
    expect(byKind(objects, 'StatefulSet').spec.replicas).toBe(3);
    expect(objects.filter(o => o.kind === 'PersistentVolumeClaim')).toHaveLength(3);
    expect(byKind(objects, 'Role', 'kc').rules[0].resourceNames).toEqual(['kc-0', 'kc-1', 'kc-2']);
  });

  test('hibernate: replicas 0, backup CronJob suspended, claims kept, same pod template', () => {
    const chart = new Chart(Testing.app(), 'h', { namespace: 'ns' });
    const store = new BackupStore(chart, 'store', { endpoint: 'http://s3:80', bucket: 'bkt', credentials: { secretName: 's3' } });
    const props = (hibernate: boolean) => ({ name: 'kc', instances: 2, storage: { size: Size.gibibytes(1) }, backup: { store }, hibernate });
    new PostgresCluster(chart, 'awake', { ...props(false), name: 'kc' });
    const chart2 = new Chart(Testing.app(), 'h', { namespace: 'ns' });
    const store2 = new BackupStore(chart2, 'store', { endpoint: 'http://s3:80', bucket: 'bkt', credentials: { secretName: 's3' } });
    new PostgresCluster(chart2, 'awake', { ...props(true), backup: { store: store2 } });
    const awake = Testing.synth(chart);
    const asleep = Testing.synth(chart2);
    expect(byKind(awake, 'StatefulSet').spec.replicas).toBe(2);
    expect(byKind(asleep, 'StatefulSet').spec.replicas).toBe(0);
    expect(byKind(awake, 'CronJob', 'kc-backup').spec.suspend).toBeUndefined();
    expect(byKind(asleep, 'CronJob', 'kc-backup').spec.suspend).toBe(true);
    expect(asleep.filter(o => o.kind === 'PersistentVolumeClaim').map(o => o.metadata.name)).toEqual(['pgdata-kc-0', 'pgdata-kc-1']);
    expect(stringify(byKind(asleep, 'StatefulSet').spec.template)).toBe(stringify(byKind(awake, 'StatefulSet').spec.template));
    const m = new Map(awake.map(o => [`${o.kind}/${o.metadata.name}`, stringify(o)]));
    const n = new Map(asleep.map(o => [`${o.kind}/${o.metadata.name}`, stringify(o)]));
    expect(changed(m, n)).toEqual(['CronJob/kc-backup', 'StatefulSet/kc']);
  });

  test('hibernate: no alert that a hibernating cluster would fire (no primary, no replica, no archiving, old backups)', () => {
    const alerts = (hibernate: boolean) => {
      const chart = new Chart(Testing.app(), 'm', { namespace: 'ns' });
      const store = new BackupStore(chart, 'store', { endpoint: 'http://s3:80', bucket: 'bkt', credentials: { secretName: 's3' } });
      const cluster = new PostgresCluster(chart, 'kc', {
        name: 'kc',
        instances: 2,
        storage: { size: Size.gibibytes(1) },
        backup: { store },
        hibernate,
      });
      return new ClusterMonitoring(chart, 'mon', { cluster }).alertRules.map(r => r.alert);
    };
    expect(alerts(false)).toEqual(
      expect.arrayContaining(['PostgresNoPrimary', 'PostgresReplicaNotStreaming', 'PostgresBaseBackupTooOld', 'PostgresDataVolumeFull']),
    );
    expect(alerts(true)).toEqual(['PostgresDataVolumeFull']);
  });

  test('hibernate must be a boolean', () => {
    expect(() => synthCluster({ hibernate: 'yes' as unknown as boolean })).toThrow(/^hibernate: "yes" is not true or false/);
  });
});

describe('examples/day-2-operations.ts', () => {
  test('grow, scale, hibernate: each changes only what docs/volumes-scaling-hibernation.md says', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { day2, day2Chart } = require('../../examples/day-2-operations') as typeof import('../../examples/day-2-operations');
    const render = (settings: typeof day2) =>
      new Map(Testing.synth(day2Chart(Testing.app(), settings)).map(o => [`${o.kind}/${o.metadata.name}`, stringify(o)]));
    const monday = render(day2);
    expect(changed(monday, render({ ...day2, size: Size.gibibytes(4) }))).toEqual([
      'PersistentVolumeClaim/pgdata-staging-pg-0',
      'PersistentVolumeClaim/pgdata-staging-pg-1',
    ]);
    expect(changed(monday, render({ ...day2, instances: 3 }))).toEqual([
      'PersistentVolumeClaim/pgdata-staging-pg-2',
      'Role/staging-pg',
      'StatefulSet/staging-pg',
    ]);
    expect(changed(monday, render({ ...day2, hibernate: true }))).toEqual(['StatefulSet/staging-pg']);
  });
});
