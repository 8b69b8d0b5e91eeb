/**
 * The prefix of our own label and annotation keys. Users may not set labels under it (props `labels`, inherited
 * chart labels): the Services, network policies and the agent select and set them.
 */
export const LABEL_PREFIX = 'postgres.cdk8s.io/';

/** Label keys shared by the constructs (selectors) and the agent (which sets the role label on its own pod). */
export const LABELS = {
  cluster: 'postgres.cdk8s.io/cluster',
  /** Which part of the cluster an object belongs to: instance, secrets, backup. */
  component: 'postgres.cdk8s.io/component',
  /** primary | replica, set at run time by the agent on its own pod. */
  role: 'postgres.cdk8s.io/role',
  /** `app.kubernetes.io/*` recommended labels. */
  name: 'app.kubernetes.io/name',
  instance: 'app.kubernetes.io/instance',
  managedBy: 'app.kubernetes.io/managed-by',
  /** Kubernetes' own: the StatefulSet controller's revision of the template a pod was made from (rollouts compare it). */
  revision: 'controller-revision-hash',
} as const;

/** Annotations the agents publish for each other (through the API, the one source of truth). */
export const ANNOTATIONS = {
  /** On a pod: `<lsn>@<iso time>`, the WAL position a replica has received, for choosing whom to promote. */
  receivedLsn: 'postgres.cdk8s.io/received-lsn',
  /** On the Lease: the primary's current WAL position at its last renewal, for the lag check before a failover. */
  primaryLsn: 'postgres.cdk8s.io/primary-lsn',
  /** On the Lease: a planned switchover target, set by `pg-agent switchover --to <pod>`. */
  switchoverTo: 'postgres.cdk8s.io/switchover-to',
  /**
   * On the Lease and on each instance's pod: the cluster's identity, the system identifier of its data (recorded by
   * the primary; published by every instance that holds data). An empty volume never starts a new cluster where
   * one of these exists.
   */
  systemIdentifier: 'postgres.cdk8s.io/system-identifier',
  /** On the Lease during a switchover: the old primary's final WAL position (its shutdown checkpoint). */
  switchoverFinalLsn: 'postgres.cdk8s.io/switchover-final-lsn',
  /** On the Lease: how the last switchover ended, `<target> done|refused: <reason>` (read by `pg-agent switchover`). */
  switchoverResult: 'postgres.cdk8s.io/switchover-result',
  /**
   * On the Lease while the cluster hibernates: the final WAL position (shutdown checkpoint) of the primary that
   * stopped keeping its Lease. On resume no replica that lacks it takes over; the holder clears it when it starts.
   */
  hibernatedLsn: 'postgres.cdk8s.io/hibernated-lsn',
} as const;

export type InstanceRole = 'primary' | 'replica';

export const COMPONENTS = { instance: 'instance', secrets: 'secrets', backup: 'backup', canary: 'canary', restoreDrill: 'restore-drill' } as const;
