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
} as const;

export type InstanceRole = 'primary' | 'replica';

export const COMPONENTS = { instance: 'instance', secrets: 'secrets', backup: 'backup', canary: 'canary' } as const;
