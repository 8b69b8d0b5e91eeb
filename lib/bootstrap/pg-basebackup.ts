import { k8s } from 'cdk8s-plus-28';
import { CLONE_ENV, CloneSourceSpec } from '../contract';
import { resolveSourceConnection } from './source-connection';

/** Where the CA certificate of the clone source is mounted (for sslmode verify-ca / verify-full). */
export const CLONE_CA_MOUNT_PATH = '/etc/pg-agent/clone-source-ca';

/**
 * Bootstrap a new cluster by streaming a running PostgreSQL server (ours, CloudNativePG's, a VM's, the old Nomad
 * job's): the first instance clones it with pg_basebackup (its roles, databases and settings come along), then
 * either promotes at once or keeps following it as a standby until you set `follow: false` (a migration with
 * minutes of downtime: switch the applications over, then flip the flag in git).
 */
export interface PgBasebackupProps {
  /** Host name or address of the source server, as seen from the pods. */
  readonly host: string;
  /**
   * Port of the source server.
   * @default 5432
   */
  readonly port?: number;
  /**
   * A role of the source with the REPLICATION attribute, allowed by the source's pg_hba.conf for `replication`.
   * @default 'streaming_replica'
   */
  readonly user?: string;
  /** The Secret (in this namespace) with that role's password. Never written into the manifests. */
  readonly passwordSecret: {
    readonly name: string;
    /** @default 'password' */
    readonly key?: string;
  };
  /**
   * libpq sslmode towards the source. `verify-ca` and `verify-full` need `caCertificate`.
   * @default 'prefer'
   */
  readonly sslmode?: CloneSourceSpec['sslmode'];
  /** The CA certificate (PEM) that signed the source's server certificate, from a Secret or a ConfigMap. */
  readonly caCertificate?: { readonly secretName?: string; readonly configMapName?: string; /** @default 'ca.crt' */ readonly key?: string };
  /**
   * Keep following the source as a standby (read-only, streaming) after the clone. Set it to `false` and apply
   * to promote: the cluster gets a new timeline and becomes independent of the source. While following, the
   * cluster does not fail over (its replicas cascade from the first instance) and takes no backups.
   * @default false - promote as soon as the clone is consistent
   */
  readonly follow?: boolean;
}

export interface ResolvedPgBasebackup {
  readonly env: k8s.EnvVar[];
  readonly ca?: { volume: k8s.Volume; mount: k8s.VolumeMount };
}

/** Checks the props at synth and renders the agent's environment (the password by reference only). */
export function resolvePgBasebackup(p: PgBasebackupProps): ResolvedPgBasebackup {
  const { source, password, ca } = resolveSourceConnection(p, {
    prefix: 'bootstrap.pgBasebackup',
    defaultUser: 'streaming_replica',
    userHint: 'Give a role of the source that has the REPLICATION attribute.',
    volumeName: 'clone-source-ca',
    caMountPath: CLONE_CA_MOUNT_PATH,
  });
  return {
    ca,
    env: [
      { name: CLONE_ENV.source, value: JSON.stringify(source) },
      { name: CLONE_ENV.follow, value: String(p.follow ?? false) },
      { name: CLONE_ENV.password, valueFrom: password },
    ],
  };
}
