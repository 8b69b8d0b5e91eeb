import { Lazy } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import { DatabaseSpec, ENV, SecretSpec } from '../contract';

/** Which Secrets carry the instances' passwords, and which of them the cluster generates (and so may recreate). */
export interface InstanceCredentialsProps {
  readonly superuserSecret: string;
  readonly replicationSecret: string;
  readonly databases: DatabaseSpec[];
  /** What the secrets Job generates; the instances recreate a deleted one the same way. */
  readonly generated: SecretSpec[];
}

/**
 * The instance's environment for its credentials: Secret names only, never a password. The agent reads the
 * passwords through the API and follows their changes (rotation without a restart; a missing Secret makes the agent
 * wait and say so instead of the kubelet refusing to start the container).
 */
export function instanceCredentialEnv(p: InstanceCredentialsProps): k8s.EnvVar[] {
  return [
    { name: ENV.superuserSecret, value: p.superuserSecret },
    { name: ENV.replicationSecret, value: p.replicationSecret },
    // Lazy: a CanaryApp adds its role's Secret to `generated` after the cluster is constructed.
    ...(p.generated.length ? [{ name: ENV.secrets, value: Lazy.any({ produce: () => JSON.stringify(p.generated) }) }] : []),
  ];
}

/**
 * RBAC for reading those Secrets: `get` limited by name to the cluster's own credential Secrets (the agent polls
 * them; `watch`/`list` are not needed), and `create` (which RBAC cannot limit by name) when some are generated, so a
 * deleted generated Secret is recreated by the instances as the secrets Job would.
 */
export function instanceCredentialRules(p: InstanceCredentialsProps): k8s.PolicyRule[] {
  const readable = () =>
    [...new Set([p.superuserSecret, p.replicationSecret, ...p.databases.map(d => d.secretName), ...p.generated.flatMap(s => s.names)])].sort();
  return [
    // Lazy, as above: the canary roles' Secrets are read by the primary too.
    { apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: Lazy.any({ produce: readable }) },
    ...(p.generated.length ? [{ apiGroups: [''], resources: ['secrets'], verbs: ['create'] }] : []),
  ];
}
