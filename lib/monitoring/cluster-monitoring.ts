import { ApiObject, Chart } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { PodMonitor } from '../../imports/podmonitor-monitoring.coreos.com';
import { PrometheusRule, PrometheusRuleSpecGroupsRulesExpr } from '../../imports/prometheusrule-monitoring.coreos.com';
import { PostgresCluster } from '../cluster/postgres-cluster';
import { names } from '../contract';
import { ValidationError, checkLabels } from '../validation';
import { AlertRule, AlertThresholds, clusterAlerts } from './alerts';
import { clusterDashboard } from './dashboard';

/** Alert thresholds and routing of the PrometheusRule. */
export interface AlertsProps {
  /**
   * A replica whose replay is further behind than this many seconds, for 5 minutes, fires PostgresReplicationLagHigh.
   * @default 60
   */
  readonly replicationLagSeconds?: number;
  /**
   * …or further behind than this many bytes.
   * @default 16777216 (16 MiB, the default failover.maxLagBytes)
   */
  readonly replicationLagBytes?: number;
  /**
   * Transaction ID age that fires PostgresXidWraparoundNear (PostgreSQL stops writes at about 2 billion).
   * @default 1000000000
   */
  readonly xidAge?: number;
  /**
   * Data volume use in percent that fires PostgresDataVolumeFull.
   * @default 85
   */
  readonly dataVolumePercent?: number;
  /**
   * The `severity` label of alerts that need action now (no primary, archiving failing, wraparound).
   * @default 'critical'
   */
  readonly criticalSeverity?: string;
  /**
   * The `severity` label of the other alerts.
   * @default 'warning'
   */
  readonly warningSeverity?: string;
}

export interface ClusterMonitoringProps {
  /** The cluster to monitor. Open its metrics port to Prometheus with `networkPolicy.metricsFrom`. */
  readonly cluster: PostgresCluster;
  /**
   * Labels on the PodMonitor and the PrometheusRule, for the Prometheus that selects them (e.g. kube-prometheus-stack's
   * `{ release: 'kube-prometheus-stack' }`).
   * @default - none
   */
  readonly labels?: Record<string, string>;
  /**
   * Scrape interval of the PodMonitor.
   * @default '30s'
   */
  readonly interval?: string;
  /**
   * The PrometheusRule with the cluster's alerts; `false` renders none.
   * @default - rendered with the defaults of AlertsProps
   */
  readonly alerts?: AlertsProps | false;
  /**
   * Render the Grafana dashboard as a ConfigMap for Grafana's dashboard sidecar.
   * @default true
   */
  readonly dashboard?: boolean;
  /**
   * The label Grafana's sidecar looks for (kube-prometheus-stack: `grafana_dashboard: "1"`).
   * @default { grafana_dashboard: '1' }
   */
  readonly dashboardLabels?: Record<string, string>;
}

/**
 * Prometheus and Grafana objects for a PostgresCluster: a PodMonitor (prometheus-operator) that scrapes every
 * instance's `/metrics`, a PrometheusRule with the alerts an operator needs (no primary, replicas missing or
 * lagging, WAL archiving failing, base backup older than the schedule allows, restore drill failed, data volume
 * nearly full, transaction ID wraparound near) and a Grafana dashboard. The series are described in docs/monitoring.md.
 */
export class ClusterMonitoring extends Construct {
  readonly podMonitor: ApiObject;
  readonly prometheusRule?: ApiObject;
  readonly dashboardConfigMap?: ApiObject;
  /** The alerts as rendered (for tests and for people reading the synth output). */
  readonly alertRules: AlertRule[];

  constructor(scope: Construct, id: string, props: ClusterMonitoringProps) {
    super(scope, id);
    const cluster = props.cluster;
    if (!(cluster instanceof PostgresCluster))
      throw new ValidationError('ClusterMonitoringProps.cluster', 'is not a PostgresCluster', 'Pass the PostgresCluster construct to monitor.');
    const extraLabels = props.labels ?? {};
    checkLabels('ClusterMonitoringProps.labels', extraLabels);
    const interval = props.interval ?? '30s';
    if (!/^([0-9]+(ms|s|m|h))+$/.test(interval))
      throw new ValidationError('ClusterMonitoringProps.interval', `"${interval}" is not a Prometheus duration`, 'Write e.g. "30s" or "1m".');
    const namespace = Chart.of(cluster).namespace;
    const labels = { ...cluster.labels, ...extraLabels };

    this.podMonitor = new PodMonitor(this, 'PodMonitor', {
      metadata: { name: names.podMonitor(cluster.name), labels },
      spec: {
        selector: { matchLabels: cluster.selector },
        ...(namespace ? { namespaceSelector: { matchNames: [namespace] } } : {}),
        podMetricsEndpoints: [
          {
            port: 'http',
            path: '/metrics',
            interval,
            // The agent labels its series with `cluster` and `pod` itself; they equal the target's.
            honorLabels: true,
          },
        ],
      },
    });

    const alertProps = props.alerts === false ? undefined : (props.alerts ?? {});
    const thresholds: AlertThresholds = {
      replicationLagSeconds: positive('alerts.replicationLagSeconds', alertProps?.replicationLagSeconds ?? 60),
      replicationLagBytes: positive('alerts.replicationLagBytes', alertProps?.replicationLagBytes ?? 16 * 1024 * 1024),
      xidAge: positive('alerts.xidAge', alertProps?.xidAge ?? 1_000_000_000),
      dataVolumePercent: positive('alerts.dataVolumePercent', alertProps?.dataVolumePercent ?? 85),
    };
    if (thresholds.dataVolumePercent >= 100)
      throw new ValidationError(
        'ClusterMonitoringProps.alerts.dataVolumePercent',
        `${thresholds.dataVolumePercent} is not below 100`,
        'Give a percentage such as 85.',
      );
    if (thresholds.xidAge >= 2 ** 31)
      throw new ValidationError(
        'ClusterMonitoringProps.alerts.xidAge',
        `${thresholds.xidAge} is past wraparound (2^31)`,
        'Give an age such as 1000000000.',
      );
    const backup = cluster.backup?.settings;
    this.alertRules = clusterAlerts({
      cluster: cluster.name,
      namespace,
      instances: cluster.instances,
      hibernated: cluster.hibernated,
      backup: backup ? { schedule: backup.schedule, deadlineSeconds: backup.deadline } : undefined,
      thresholds,
      severity: { critical: alertProps?.criticalSeverity ?? 'critical', warning: alertProps?.warningSeverity ?? 'warning' },
    });
    if (alertProps) {
      this.prometheusRule = new PrometheusRule(this, 'PrometheusRule', {
        metadata: { name: names.prometheusRule(cluster.name), labels },
        spec: {
          groups: [
            {
              name: `cdk8s-postgres.${namespace ? `${namespace}.` : ''}${cluster.name}`,
              rules: this.alertRules.map(r => ({
                alert: r.alert,
                expr: PrometheusRuleSpecGroupsRulesExpr.fromString(r.expr),
                for: r.for,
                labels: r.labels,
                annotations: r.annotations,
              })),
            },
          ],
        },
      });
    }

    if (props.dashboard ?? true) {
      const dashboardLabels = props.dashboardLabels ?? { grafana_dashboard: '1' };
      checkLabels('ClusterMonitoringProps.dashboardLabels', dashboardLabels);
      this.dashboardConfigMap = new k8s.KubeConfigMap(this, 'Dashboard', {
        metadata: { name: names.dashboardConfigMap(cluster.name), labels: { ...cluster.labels, ...dashboardLabels } },
        data: { [`${cluster.name}.json`]: `${JSON.stringify(clusterDashboard(cluster.name, namespace), null, 2)}\n` },
      });
    }
  }
}

function positive(prop: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0)
    throw new ValidationError(`ClusterMonitoringProps.${prop}`, `${value} is not a positive number`, 'Give a number above 0.');
  return value;
}
