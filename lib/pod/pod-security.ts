import { k8s } from 'cdk8s-plus-28';
import { AgentCommand, ENV, MALLOC_MMAP_THRESHOLD_ENV, PATHS } from '../contract';

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
 * Memory settings of the agent's Node.js process, by command. glibc's malloc raises its mmap threshold each time a
 * large block is freed, after which the agent's 0.25-1.5 MiB stream buffers come from the heap, which fragments and
 * never shrinks: a fixed 128 KiB threshold (glibc's own starting value) returns them to the system once freed. The
 * instance, idle most of its life, gets 1 MiB young-generation semispaces instead of up to 16 MiB each, and may
 * collect its garbage once a burst of work is over (agent/src/common/idle-gc.ts), and runs without V8's JIT
 * compilers (`--jitless`): 7 MiB less RSS idle, no measurable CPU under a WAL load (its heavy work, hashing and
 * compression, is native; `npm run bench:memory`, bench/memory.md). The agent removes MALLOC_MMAP_THRESHOLD_ and
 * NODE_OPTIONS from its own environment at start, so PostgreSQL and the agent commands it runs keep the defaults.
 */
function memoryEnv(command: AgentCommand): k8s.EnvVar[] {
  const env: k8s.EnvVar[] = [{ name: MALLOC_MMAP_THRESHOLD_ENV, value: '131072' }];
  if (command === 'instance') env.push({ name: 'NODE_OPTIONS', value: '--max-semi-space-size=1 --expose-gc --jitless' });
  return env;
}

/**
 * A container that runs one agent command (`pg-agent <command>`) with the security context every agent pod uses
 * and the two variables every command reads (cluster name, namespace from the downward API) first in its env.
 */
export function agentContainer(
  props: { name: string; image: string; command: AgentCommand; cluster: string; env?: k8s.EnvVar[] } & Omit<
    k8s.Container,
    'name' | 'image' | 'command' | 'args' | 'env'
  >,
): k8s.Container {
  const { name, image, command, cluster, env, ...rest } = props;
  return {
    name,
    image,
    command: [PATHS.agentBinary],
    args: [command],
    env: [
      { name: ENV.cluster, value: cluster },
      { name: ENV.namespace, valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      ...memoryEnv(command),
      ...(env ?? []),
    ],
    securityContext: agentContainerSecurityContext(),
    ...rest,
  };
}
