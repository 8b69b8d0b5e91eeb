import { k8s } from 'cdk8s-plus-28';

/**
 * The right to record Kubernetes Events (events.k8s.io/v1) in the cluster's namespace: the agents record one per
 * failover, switchover, fencing, backup, retention run and restore drill. Create only: every event has a new name
 * and none is updated (no aggregation). RBAC cannot restrict create by name.
 */
export const EVENTS_RULE: k8s.PolicyRule = { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create'] };
