/**
 * ClusterMonitoring and networkPolicy.metricsFrom at synth: what Prometheus and Grafana get, strictly valid
 * against the imported CRDs, and bad input refused. (That every series the rules and the dashboard name is one a
 * running agent exports: test/agent/metrics-scrape.e2e.test.ts.)
 */
import { Chart, Size, Testing } from 'cdk8s';
import { BackupStore, ClusterMonitoring, ClusterMonitoringProps, PostgresCluster, PostgresClusterProps } from '../../lib';
import { DEFAULT_PORTS } from '../../lib/contract';
import { longestScheduleGapSeconds } from '../../lib/monitoring/alerts';
import { loadValidator } from '../support/schemas';
import { byKind } from './helpers';

function synth(cluster: Partial<PostgresClusterProps> = {}, monitoring: Partial<ClusterMonitoringProps> = {}, namespace: string | null = 'db') {
  const chart = new Chart(Testing.app(), 'test', { namespace: namespace ?? undefined });
  const store = new BackupStore(chart, 'store', { endpoint: 'http://rgw.rook.svc:80', bucket: 'backup-cnpg', credentials: { secretName: 's3' } });
  const c = new PostgresCluster(chart, 'pg', {
    name: 'pg',
    instances: 2,
    storage: { size: Size.gibibytes(1) },
    backup: { store, schedule: '30 3 * * *' },
    ...cluster,
  });
  const m = new ClusterMonitoring(chart, 'mon', { cluster: c, ...monitoring });
  return { objects: Testing.synth(chart) as any[], monitoring: m };
}

/** Every `name{` / `name[` series of a PromQL expression, without functions and keywords. */
const seriesOf = (expr: string) => [...expr.matchAll(/\b([a-z_:][a-z0-9_:]*)\s*\{/g)].map(m => m[1]);

describe('ClusterMonitoring', () => {
  const { objects, monitoring } = synth({}, { labels: { release: 'kube-prometheus-stack' } });

  test('renders objects the strict schemas (Kubernetes 1.28, prometheus-operator CRDs) accept', () => {
    const validator = loadValidator();
    for (const kind of ['PodMonitor', 'PrometheusRule', 'ConfigMap']) {
      const o = objects.find(x => x.kind === kind && x.metadata.name.startsWith('pg'));
      expect(validator.validate(o)).toEqual([]);
    }
  });

  test("the PodMonitor scrapes the instance pods' metrics port by its name, in the cluster's namespace", () => {
    const pm = byKind(objects, 'PodMonitor', 'pg');
    const sts = byKind(objects, 'StatefulSet', 'pg');
    expect(pm.metadata.labels.release).toBe('kube-prometheus-stack');
    expect(pm.spec.selector.matchLabels).toEqual(sts.spec.selector.matchLabels);
    expect(pm.spec.namespaceSelector).toEqual({ matchNames: ['db'] });
    const [endpoint] = pm.spec.podMetricsEndpoints;
    expect(endpoint).toEqual({ port: 'http', path: '/metrics', interval: '30s', honorLabels: true });
    const port = sts.spec.template.spec.containers[0].ports.find((p: any) => p.name === endpoint.port);
    expect(port.containerPort).toBe(DEFAULT_PORTS.http);
  });

  test('the PrometheusRule has the alerts an operator needs, each selecting this cluster', () => {
    const rule = byKind(objects, 'PrometheusRule', 'pg');
    expect(rule.metadata.labels.release).toBe('kube-prometheus-stack');
    const rules = rule.spec.groups[0].rules;
    expect(rules.map((r: any) => r.alert)).toEqual([
      'PostgresNoPrimary',
      'PostgresReplicaNotStreaming',
      'PostgresReplicationLagHigh',
      'PostgresWalArchivingFailing',
      'PostgresWalArchiveBacklog',
      'PostgresBaseBackupTooOld',
      'PostgresRestoreDrillFailed',
      'PostgresDataVolumeFull',
      'PostgresXidWraparoundNear',
    ]);
    for (const r of rules) {
      expect(r.expr).toContain('namespace="db",cluster="pg"');
      expect(['critical', 'warning']).toContain(r.labels.severity);
      expect(r.annotations.summary).toMatch(/^db\/pg: /);
      // Only the agent's series.
      for (const s of seriesOf(r.expr)) expect(s).toMatch(/^pgc_/);
    }
    expect(rules.find((r: any) => r.alert === 'PostgresWalArchivingFailing').for).toBe('10m');
    expect(rules.find((r: any) => r.alert === 'PostgresReplicaNotStreaming').expr).toContain('< 1');
    expect(rules.find((r: any) => r.alert === 'PostgresDataVolumeFull').expr).toMatch(
      /^max by \(namespace, pod\) \(100 \* pgc_volume_used_bytes\{.*\}\)\) > 85$/,
    );
    expect(rules.find((r: any) => r.alert === 'PostgresXidWraparoundNear').expr).toMatch(/> 1000000000$/);
    // Daily at 03:30 and a backup Job deadline of 6 h: 24 h + 6 h.
    expect(rules.find((r: any) => r.alert === 'PostgresBaseBackupTooOld').expr).toMatch(/> 108000$/);
    expect(monitoring.alertRules).toHaveLength(rules.length);
  });

  test("the dashboard is a ConfigMap for Grafana's sidecar; its JSON parses and every query names this cluster", () => {
    const cm = byKind(objects, 'ConfigMap', 'pg-dashboard');
    expect(cm.metadata.labels.grafana_dashboard).toBe('1');
    const dashboard = JSON.parse(cm.data['pg.json']);
    expect(dashboard.uid).toBe('pgc-db-pg');
    expect(dashboard.panels.length).toBeGreaterThanOrEqual(8);
    for (const panel of dashboard.panels) {
      expect(panel.targets.length).toBeGreaterThan(0);
      for (const t of panel.targets) {
        expect(t.expr).toContain('namespace="db",cluster="pg"');
        for (const s of seriesOf(t.expr)) expect(s).toMatch(/^pgc_/);
      }
    }
  });

  test('without backups no backup alerts; with one instance no replica alerts; alerts: false renders no rule', () => {
    const single = synth({ instances: 1, backup: undefined }).monitoring.alertRules.map(r => r.alert);
    expect(single).toEqual(['PostgresNoPrimary', 'PostgresDataVolumeFull', 'PostgresXidWraparoundNear']);
    const none = synth({}, { alerts: false, dashboard: false }).objects;
    // (the cluster's own ConfigMap pg-config, its parameters, is not the dashboard's)
    expect(
      none.filter(o => ['PrometheusRule', 'ConfigMap'].includes(o.kind) && o.metadata.name.startsWith('pg') && o.metadata.name !== 'pg-config'),
    ).toEqual([]);
    expect(none.filter(o => o.kind === 'PodMonitor')).toHaveLength(1);
  });

  test('thresholds and severities come from the props', () => {
    const rules = synth({}, { alerts: { replicationLagSeconds: 30, dataVolumePercent: 70, xidAge: 500000000, criticalSeverity: 'page' } }).monitoring
      .alertRules;
    expect(rules.find(r => r.alert === 'PostgresReplicationLagHigh')!.expr).toContain('> 30 or');
    expect(rules.find(r => r.alert === 'PostgresDataVolumeFull')!.expr).toMatch(/> 70$/);
    expect(rules.find(r => r.alert === 'PostgresXidWraparoundNear')!.labels.severity).toBe('page');
  });

  test('a chart without a namespace matches on the cluster label only', () => {
    const rules = synth({}, {}, null).monitoring.alertRules;
    for (const r of rules) expect(r.expr).not.toContain('namespace=');
  });

  test('the longest gap between scheduled runs', () => {
    expect(longestScheduleGapSeconds('0 0 * * *')).toBe(86400);
    expect(longestScheduleGapSeconds('0 */6 * * *')).toBe(6 * 3600);
    expect(longestScheduleGapSeconds('0 3 * * 0')).toBe(7 * 86400);
    // Monday to Friday: the weekend gap counts.
    expect(longestScheduleGapSeconds('0 2 * * 1-5')).toBe(3 * 86400);
  });

  test.each([
    [{ interval: 'often' }, /^ClusterMonitoringProps\.interval: "often" is not a Prometheus duration/],
    [{ alerts: { dataVolumePercent: 100 } }, /^ClusterMonitoringProps\.alerts\.dataVolumePercent: 100 is not below 100/],
    [{ alerts: { replicationLagSeconds: 0 } }, /^ClusterMonitoringProps\.alerts\.replicationLagSeconds: 0 is not a positive number/],
    [{ alerts: { xidAge: 3e9 } }, /^ClusterMonitoringProps\.alerts\.xidAge: 3000000000 is past wraparound/],
    [{ labels: { 'bad key!': 'x' } }, /^ClusterMonitoringProps\.labels/],
  ])('refuses %j', (props, message) => {
    expect(() => synth({}, props as Partial<ClusterMonitoringProps>)).toThrow(message);
  });
});

describe('networkPolicy.metricsFrom', () => {
  const policies = (metricsFrom: any) => {
    const { objects } = synth({ networkPolicy: { cilium: true, kubernetes: true, metricsFrom } }, { dashboard: false, alerts: false });
    return { k8s: byKind(objects, 'NetworkPolicy', 'pg'), cilium: byKind(objects, 'CiliumNetworkPolicy', 'pg') };
  };

  test('opens the metrics port, and only that port, to the named namespace (and pods)', () => {
    const { k8s, cilium } = policies({ namespace: 'monitoring', podLabels: { 'app.kubernetes.io/name': 'prometheus' } });
    const rule = k8s.spec.ingress.at(-1);
    expect(rule).toEqual({
      from: [
        {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
          podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } },
        },
      ],
      ports: [{ port: DEFAULT_PORTS.http, protocol: 'TCP' }],
    });
    expect(cilium.spec.ingress.at(-1)).toEqual({
      fromEndpoints: [{ matchLabels: { 'app.kubernetes.io/name': 'prometheus', 'io.kubernetes.pod.namespace': 'monitoring' } }],
      toPorts: [{ ports: [{ port: String(DEFAULT_PORTS.http), protocol: 'TCP' }] }],
    });
    const validator = loadValidator();
    expect([...validator.validate(k8s), ...validator.validate(cilium)]).toEqual([]);
  });

  test('without it the metrics port stays closed to other namespaces', () => {
    const { k8s } = policies(undefined);
    expect(k8s.spec.ingress.filter((r: any) => r.ports.some((p: any) => p.port === DEFAULT_PORTS.http))).toHaveLength(1);
    expect(k8s.spec.ingress.flatMap((r: any) => r.from).some((f: any) => f.namespaceSelector)).toBe(false);
  });

  test('refuses a namespace that is not a DNS label', () => {
    expect(() => policies({ namespace: 'Monitoring_NS' })).toThrow(/^networkPolicy\.metricsFrom\.namespace/);
  });
});
