import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { ENV } from '../contract';

/**
 * The right to record Kubernetes Events (events.k8s.io/v1) in the cluster's namespace: the agents record one per
 * failover, switchover, fencing, backup, retention run and restore drill. Create only: every event has a new name
 * and none is updated (no aggregation). RBAC cannot restrict create by name.
 */
export const EVENTS_RULE: k8s.PolicyRule = { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create'] };

/**
 * A Job's right to record Events on its own pod: a Role with {@link EVENTS_RULE} only, bound to the Job's
 * ServiceAccount `serviceAccountName` (both named after it).
 */
export function eventRecorderRole(scope: Construct, serviceAccountName: string, labels: Record<string, string>): void {
  const metadata = { name: serviceAccountName, labels };
  new k8s.KubeRole(scope, 'EventsRole', { metadata, rules: [EVENTS_RULE] });
  new k8s.KubeRoleBinding(scope, 'EventsRoleBinding', {
    metadata,
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: serviceAccountName },
    subjects: [{ kind: 'ServiceAccount', name: serviceAccountName }],
  });
}

/** The pod's own name (downward API), which the agent names in its Events. */
export const POD_NAME_ENV: k8s.EnvVar = { name: ENV.podName, valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } };
