import { k8s } from 'cdk8s-plus-28';

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
