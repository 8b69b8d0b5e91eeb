import { k8s } from 'cdk8s-plus-28';
import { CloneSourceSpec } from '../contract';
import { ValidationError } from '../validation';

/** How the pods reach a running PostgreSQL server that is not ours: what pgBasebackup and import share. */
export interface SourceConnectionProps {
  readonly host: string;
  readonly port?: number;
  readonly user?: string;
  readonly passwordSecret: { readonly name: string; readonly key?: string };
  readonly sslmode?: CloneSourceSpec['sslmode'];
  readonly caCertificate?: { readonly secretName?: string; readonly configMapName?: string; readonly key?: string };
}

export interface ResolvedSourceConnection {
  readonly source: CloneSourceSpec;
  /** The password by reference only (secretKeyRef). */
  readonly password: k8s.EnvVarSource;
  readonly ca?: { volume: k8s.Volume; mount: k8s.VolumeMount };
}

const SSLMODES: CloneSourceSpec['sslmode'][] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];

/**
 * Checks a source connection at synth; `prefix` names the props in errors (`bootstrap.pgBasebackup`), the CA
 * certificate gets the volume `volumeName` mounted at `caMountPath`.
 */
export function resolveSourceConnection(
  p: SourceConnectionProps,
  o: { prefix: string; defaultUser: string; userHint: string; volumeName: string; caMountPath: string },
): ResolvedSourceConnection {
  const field = (f: string) => `${o.prefix}.${f}`;
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
  const user = p.user ?? o.defaultUser;
  if (!/^[A-Za-z_][A-Za-z0-9_$-]{0,62}$/.test(user)) throw new ValidationError(field('user'), `"${user}" is not a role name`, o.userHint);
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

  let ca: ResolvedSourceConnection['ca'];
  let sslRootCert: string | undefined;
  if (c) {
    const key = c.key ?? 'ca.crt';
    const items = [{ key, path: key }];
    const name = o.volumeName;
    ca = {
      volume: c.secretName ? { name, secret: { secretName: c.secretName, items } } : { name, configMap: { name: c.configMapName!, items } },
      mount: { name, mountPath: o.caMountPath, readOnly: true },
    };
    sslRootCert = `${o.caMountPath}/${key}`;
  }
  return {
    ca,
    source: { host: p.host, port, user, sslmode, ...(sslRootCert ? { sslRootCert } : {}) },
    password: { secretKeyRef: { name: p.passwordSecret.name, key: p.passwordSecret.key ?? 'password' } },
  };
}
