import { k8s } from 'cdk8s-plus-28';
import { CLONE_ENV, CloneSourceSpec } from '../contract';
import { ValidationError } from '../validation';

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

const SSLMODES: CloneSourceSpec['sslmode'][] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];

/** Checks the props at synth and renders the agent's environment (the password by reference only). */
export function resolvePgBasebackup(p: PgBasebackupProps): ResolvedPgBasebackup {
  const field = (f: string) => `bootstrap.pgBasebackup.${f}`;
  if (!p.host || /[\s/:@]/.test(p.host)) {
    throw new ValidationError(
      field('host'),
      `"${p.host ?? ''}" is not a host name`,
      'Give the host name or IP address of the source server only, e.g. "postgres.nomad.home.arpa"; the port goes in `port`.',
    );
  }
  const port = p.port ?? 5432;
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new ValidationError(field('port'), `${port} is not a TCP port`, "Give the source server's port, e.g. 5432.");
  const user = p.user ?? 'streaming_replica';
  if (!/^[A-Za-z_][A-Za-z0-9_$-]{0,62}$/.test(user))
    throw new ValidationError(field('user'), `"${user}" is not a role name`, 'Give a role of the source that has the REPLICATION attribute.');
  if (!p.passwordSecret?.name)
    throw new ValidationError(
      field('passwordSecret.name'),
      'is missing',
      "Name the Secret in this namespace that holds the source role's password (SealedSecrets, SOPS or External Secrets keep it out of git).",
    );
  const sslmode = p.sslmode ?? 'prefer';
  if (!SSLMODES.includes(sslmode))
    throw new ValidationError(field('sslmode'), `"${sslmode}" is not a libpq sslmode`, `Use one of ${SSLMODES.join(', ')}.`);
  const verifies = sslmode === 'verify-ca' || sslmode === 'verify-full';
  const c = p.caCertificate;
  if (verifies && !c)
    throw new ValidationError(
      field('caCertificate'),
      `is needed for sslmode ${sslmode}`,
      'Name the Secret or ConfigMap holding the CA certificate that signed the source\'s server certificate, or use sslmode "require".',
    );
  if (c && !!c.secretName === !!c.configMapName)
    throw new ValidationError(
      field('caCertificate'),
      'needs exactly one of secretName and configMapName',
      'Name the Secret or the ConfigMap that holds the PEM certificate.',
    );

  let ca: ResolvedPgBasebackup['ca'];
  let sslRootCert: string | undefined;
  if (c) {
    const key = c.key ?? 'ca.crt';
    const items = [{ key, path: key }];
    const name = 'clone-source-ca';
    ca = {
      volume: c.secretName ? { name, secret: { secretName: c.secretName, items } } : { name, configMap: { name: c.configMapName!, items } },
      mount: { name, mountPath: CLONE_CA_MOUNT_PATH, readOnly: true },
    };
    sslRootCert = `${CLONE_CA_MOUNT_PATH}/${key}`;
  }
  const source: CloneSourceSpec = { host: p.host, port, user, sslmode, ...(sslRootCert ? { sslRootCert } : {}) };
  return {
    ca,
    env: [
      { name: CLONE_ENV.source, value: JSON.stringify(source) },
      { name: CLONE_ENV.follow, value: String(p.follow ?? false) },
      { name: CLONE_ENV.password, valueFrom: { secretKeyRef: { name: p.passwordSecret.name, key: p.passwordSecret.key ?? 'password' } } },
    ],
  };
}
