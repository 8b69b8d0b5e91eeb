import { k8s } from 'cdk8s-plus-28';
import { AgentCommand, ENV, PATHS } from '../contract';

/** uid/gid of the `postgres` user in the official postgres images (Debian variants). */
export const POSTGRES_UID = 999;

/** Pod security context every agent pod runs with: the postgres user, files group-owned by it. */
export function agentPodSecurityContext(): k8s.PodSecurityContext {
  return {
    runAsUser: POSTGRES_UID,
    runAsGroup: POSTGRES_UID,
    fsGroup: POSTGRES_UID,
    // Only chown the volume when its root has the wrong owner: a recursive chown of a large PGDATA takes minutes.
    fsGroupChangePolicy: 'OnRootMismatch',
    runAsNonRoot: true,
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

export function agentContainerSecurityContext(): k8s.SecurityContext {
  return {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    capabilities: { drop: ['ALL'] },
  };
}

/**
 * A container that runs one agent command (`pg-agent <command>`) with the security context every agent pod uses
 * and the two variables every command reads (cluster name, namespace from the downward API) first in its env.
 */
export function agentContainer(props: { name: string; image: string; command: AgentCommand; cluster: string; env?: k8s.EnvVar[] } & Omit<k8s.Container, 'name' | 'image' | 'command' | 'args' | 'env'>): k8s.Container {
  const { name, image, command, cluster, env, ...rest } = props;
  return {
    name,
    image,
    command: [PATHS.agentBinary],
    args: [command],
    env: [
      { name: ENV.cluster, value: cluster },
      { name: ENV.namespace, valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      ...(env ?? []),
    ],
    securityContext: agentContainerSecurityContext(),
    ...rest,
  };
}
