import { ApiObject } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { CA_MOUNT, DEFAULT_SERVER_CERTIFICATE_DAYS, TLS_ENV, TLS_KEYS, TLS_MODES, TlsMode, TlsSpec, serverSans, tlsNames } from '../contract';
import { ValidationError, checkDnsLabel } from '../validation';

/** A cert-manager issuer. */
export interface CertManagerIssuerRef {
  /** Name of the Issuer or ClusterIssuer. */
  readonly name: string;
  /** @default 'Issuer' */
  readonly kind?: 'Issuer' | 'ClusterIssuer';
  /** @default 'cert-manager.io' */
  readonly group?: string;
}

/**
 * TLS for every connection to the instances (always on: a plaintext TCP connection is refused).
 */
export interface TlsProps {
  /**
   * Where the server certificate comes from:
   * - `generated`: a CA and a server certificate created in-cluster by the secrets Job (never in git), renewed by
   *   the primary at two thirds of its lifetime;
   * - `secret`: a Secret you manage (`secretName`) with `tls.crt`, `tls.key` and `ca.crt`;
   * - `certManager`: a cert-manager Certificate the construct renders (`issuerRef`), written to `<name>-server`.
   * @default 'generated'
   */
  readonly mode?: TlsMode;
  /**
   * Mode `secret`: the Secret with `tls.crt`, `tls.key` and `ca.crt` (its names must cover the Services
   * `<name>-rw`, `-ro`, `-r` and the pods `<name>-<n>`).
   * @default - `<name>-server` (required with mode `secret`)
   */
  readonly secretName?: string;
  /** Mode `certManager`: the issuer that signs the certificate (its CA must end up in `ca.crt`, as a CA issuer does). */
  readonly issuerRef?: CertManagerIssuerRef;
  /**
   * Mode `generated` (and `certManager`): the server certificate's lifetime in days; renewed at two thirds of it.
   * @default 90
   */
  readonly serverCertificateDays?: number;
  /**
   * More DNS names or IP addresses for the certificate, e.g. a LoadBalancer's name (modes `generated`, `certManager`).
   * @default - the Services and pods only
   */
  readonly extraSans?: string[];
}

const SAN = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$|^[0-9.]+$|^[0-9a-fA-F:]+$/;

/** Refuses wrong TLS props at synth, naming the prop and the fix. */
export function validateTlsProps(tls: TlsProps | undefined): void {
  if (tls === undefined) return;
  const mode = tls.mode ?? 'generated';
  if (!TLS_MODES.includes(mode))
    throw new ValidationError('tls.mode', `"${mode}" is not a TLS mode`, `Use one of ${TLS_MODES.join(', ')} (or leave it out for "generated").`);
  if (mode === 'secret' && !tls.secretName)
    throw new ValidationError(
      'tls.secretName',
      'is missing for mode "secret"',
      'Name the Secret with tls.crt, tls.key and ca.crt, or use mode "generated".',
    );
  if (tls.secretName !== undefined) {
    if (mode === 'generated')
      throw new ValidationError(
        'tls.secretName',
        'is set with mode "generated"',
        'Leave it out (the agent creates <name>-server), or use mode "secret" for your own Secret.',
      );
    checkDnsLabel('tls.secretName', tls.secretName, 253);
  }
  if (mode === 'certManager' && !tls.issuerRef?.name)
    throw new ValidationError(
      'tls.issuerRef',
      'is missing for mode "certManager"',
      'Give the Issuer or ClusterIssuer that signs the certificate, e.g. { name: "homelab-ca", kind: "ClusterIssuer" }.',
    );
  if (tls.issuerRef && mode !== 'certManager')
    throw new ValidationError('tls.issuerRef', `is set with mode "${mode}"`, 'Use mode "certManager", or leave issuerRef out.');
  if (tls.issuerRef?.kind !== undefined && !['Issuer', 'ClusterIssuer'].includes(tls.issuerRef.kind))
    throw new ValidationError('tls.issuerRef.kind', `"${tls.issuerRef.kind}" is not Issuer or ClusterIssuer`, 'Use "Issuer" or "ClusterIssuer".');
  const days = tls.serverCertificateDays;
  if (days !== undefined) {
    if (mode === 'secret')
      throw new ValidationError('tls.serverCertificateDays', 'is set with mode "secret"', 'Your Secret carries its own certificate: leave it out.');
    if (!Number.isInteger(days) || days < 2 || days > 397)
      throw new ValidationError('tls.serverCertificateDays', `${days} is not a whole number of days from 2 to 397`, 'Use e.g. 90 (the default).');
  }
  for (const [i, san] of (tls.extraSans ?? []).entries()) {
    if (mode === 'secret')
      throw new ValidationError('tls.extraSans', 'is set with mode "secret"', 'Put the names into your own certificate: leave extraSans out.');
    if (typeof san !== 'string' || san.length > 253 || !SAN.test(san))
      throw new ValidationError(
        `tls.extraSans[${i}]`,
        `"${san}" is not a DNS name or IP address`,
        'Use lower-case DNS names such as "pg.example.org" or an IP address.',
      );
  }
}

/** What the agent gets in TLS_ENV. */
export function resolveTls(cluster: string, tls: TlsProps | undefined, clusterDomain: string, labels: Record<string, string>): TlsSpec {
  const mode = tls?.mode ?? 'generated';
  const serverSecret = mode === 'secret' ? tls!.secretName! : (tls?.secretName ?? tlsNames.serverSecret(cluster));
  return {
    mode,
    serverSecret,
    caSecret: tlsNames.caSecret(cluster),
    ...(mode === 'generated'
      ? {
          generate: {
            caKeySecret: tlsNames.caKeySecret(cluster),
            clusterDomain,
            extraSans: [...(tls?.extraSans ?? [])],
            serverCertificateDays: tls?.serverCertificateDays ?? DEFAULT_SERVER_CERTIFICATE_DAYS,
            labels,
          },
        }
      : {}),
  };
}

export function tlsEnv(spec: TlsSpec): k8s.EnvVar {
  return { name: TLS_ENV, value: JSON.stringify(spec) };
}

/**
 * RBAC of whoever keeps the TLS Secrets (the instances, the secrets Job): read them by name, replace the generated
 * server certificate (renewal) and the public CA copy. `create` (not limitable by name) both already have for the
 * generated replication Secret, which every cluster has.
 */
export function tlsSecretRules(spec: TlsSpec): k8s.PolicyRule[] {
  const read = [spec.serverSecret, spec.caSecret, ...(spec.generate ? [spec.generate.caKeySecret] : [])].sort();
  const update = [spec.caSecret, ...(spec.mode === 'generated' ? [spec.serverSecret] : [])].sort();
  return [
    { apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: read },
    { apiGroups: [''], resources: ['secrets'], verbs: ['update'], resourceNames: update },
  ];
}

/** Mode `certManager`: the Certificate cert-manager turns into the server Secret. */
export function renderCertificate(
  scope: Construct,
  cluster: string,
  namespace: string | undefined,
  clusterDomain: string,
  tls: TlsProps,
  spec: TlsSpec,
  labels: Record<string, string>,
): ApiObject {
  const sans = serverSans(cluster, namespace ?? 'default', clusterDomain, 0, tls.extraSans ?? []);
  // Without a namespace in the chart only the short names are certain.
  const names = namespace ? sans : sans.filter(s => !s.includes('.default'));
  const isIp = (s: string) => /^[0-9.]+$|:/.test(s);
  const days = tls.serverCertificateDays ?? DEFAULT_SERVER_CERTIFICATE_DAYS;
  return new ApiObject(scope, 'Certificate', {
    apiVersion: 'cert-manager.io/v1',
    kind: 'Certificate',
    metadata: { name: tlsNames.certificate(cluster), labels },
    spec: {
      secretName: spec.serverSecret,
      commonName: `${cluster}-rw`,
      dnsNames: names.filter(s => !isIp(s)),
      ...(names.some(isIp) ? { ipAddresses: names.filter(isIp) } : {}),
      duration: `${days * 24}h`,
      renewBefore: `${Math.floor((days * 24) / 3)}h`,
      privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' },
      usages: ['server auth', 'digital signature', 'key encipherment'],
      issuerRef: { name: tls.issuerRef!.name, kind: tls.issuerRef!.kind ?? 'Issuer', group: tls.issuerRef!.group ?? 'cert-manager.io' },
    },
  });
}

/**
 * For our own clients in other pods (backup Jobs, restore drill, canary): `<cluster>-ca` mounted, libpq told to
 * verify-full against it, and node's TLS trusting it.
 */
export function caClientVolume(cluster: string): k8s.Volume {
  return { name: CA_MOUNT.volumeName, secret: { secretName: tlsNames.caSecret(cluster), items: [{ key: TLS_KEYS.ca, path: 'ca.crt' }] } };
}
export const caClientMount: k8s.VolumeMount = { name: CA_MOUNT.volumeName, mountPath: CA_MOUNT.mountPath, readOnly: true };
export const caClientEnv: k8s.EnvVar[] = [
  { name: 'PGSSLMODE', value: 'verify-full' },
  { name: 'PGSSLROOTCERT', value: CA_MOUNT.file },
];
