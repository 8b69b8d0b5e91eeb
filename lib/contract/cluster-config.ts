/**
 * The cluster's ConfigMap `<cluster>-config` (names.configMap): what reaches the running agents without a pod
 * restart. The kubelet refreshes a mounted ConfigMap in place (about 60-90 s after an apply) by swapping the
 * `..data` symlink of the volume, so the pod template never changes when these values do.
 */
export const CLUSTER_CONFIG = {
  /** The volume and where it is mounted in the instance container (never with subPath: that never updates). */
  volumeName: 'config',
  mountPath: '/etc/pg-agent/config',
  /** Key: JSON object of the user's PostgreSQL parameters (preset merged with `parameters`), keys sorted. */
  parametersKey: 'parameters.json',
} as const;

/** Annotations an instance publishes on its own pod about the parameters it runs with (read by its peers). */
export const CONFIG_ANNOTATIONS = {
  /** Hash of the parameters this instance's postgres has applied (reloaded or restarted with). */
  appliedHash: 'postgres.cdk8s.io/config-applied',
  /** Hash of the parameters this instance waits to restart for (`pending_restart`), absent when none. */
  pendingRestart: 'postgres.cdk8s.io/config-pending-restart',
} as const;
