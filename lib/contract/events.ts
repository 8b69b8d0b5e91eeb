/**
 * Kubernetes Events the agents record (events.k8s.io/v1) on the cluster's pods: the reasons, spelled once here
 * for the agent, the docs and the tests. `kubectl get events` shows them (`REASON` column).
 */
export const EVENT_REASONS = {
  /** A replica was promoted because the primary's Lease expired (Warning: the primary was lost). */
  failover: 'Failover',
  /** A replica was promoted by a planned switchover or a hand-over (rollout, pod stop). */
  switchover: 'Switchover',
  /** The old primary handed the Lease over to the named replica. */
  handedOver: 'HandedOver',
  /** A primary could not renew its Lease in time and stopped PostgreSQL (Warning). */
  fenced: 'Fenced',
  backupStarted: 'BackupStarted',
  backupCompleted: 'BackupCompleted',
  /** Warning. */
  backupFailed: 'BackupFailed',
  /** Retention removed backups no rule keeps. */
  retentionDeleted: 'RetentionDeleted',
  drillSucceeded: 'DrillSucceeded',
  /** Warning. */
  drillFailed: 'DrillFailed',
} as const;

export type EventReason = (typeof EVENT_REASONS)[keyof typeof EVENT_REASONS];

/** `reportingController` of every Event the agents record. */
export const EVENT_REPORTING_CONTROLLER = 'postgres.cdk8s.io/pg-agent';
