/**
 * TLS between every client and the instances: the names, environment and file paths the constructs and the agent
 * share. Per cluster one server certificate (Secret `<cluster>-server`, type kubernetes.io/tls: tls.crt, tls.key,
 * ca.crt) and one public CA Secret `<cluster>-ca` (only `ca.crt`) for applications and our own Jobs to verify with.
 * Generated in-cluster (the CA key then lives in `<cluster>-ca-key`, read only by the secrets Job and the
 * instances), or a user's Secret, or a cert-manager Certificate rendered by the constructs.
 */

/** Where the certificate comes from. */
export type TlsMode = 'generated' | 'secret' | 'certManager';
export const TLS_MODES: readonly TlsMode[] = ['generated', 'secret', 'certManager'];

export const tlsNames = {
  /** The server certificate, key and CA (kubernetes.io/tls); with mode `secret` the user names it. */
  serverSecret: (c: string) => `${c}-server`,
  /** Only `ca.crt`: what a client needs to verify the server (CloudNativePG's `<cluster>-ca` name, without the key). */
  caSecret: (c: string) => `${c}-ca`,
  /** The generated CA's key (`ca.crt`, `ca.key`): only the secrets Job and the instances read it. */
  caKeySecret: (c: string) => `${c}-ca-key`,
  /** The cert-manager Certificate (mode `certManager`). */
  certificate: (c: string) => `${c}-server`,
} as const;

/** Keys of the Secrets (the kubernetes.io/tls convention, which cert-manager writes too). */
export const TLS_KEYS = { cert: 'tls.crt', key: 'tls.key', ca: 'ca.crt', caKey: 'ca.key' } as const;

/** JSON {@link TlsSpec}: the instances, the secrets Job. */
export const TLS_ENV = 'PGC_TLS';

/** What the agent needs to know about the cluster's TLS. */
export interface TlsSpec {
  readonly mode: TlsMode;
  /** The Secret with tls.crt, tls.key and ca.crt the instances serve. */
  readonly serverSecret: string;
  /** The public CA Secret the agent keeps equal to the server Secret's ca.crt. */
  readonly caSecret: string;
  /** Mode `generated`: the CA key Secret, the names to put in the certificate and its lifetime. */
  readonly generate?: {
    readonly caKeySecret: string;
    /** For the FQDN names in the certificate, e.g. `cluster.local`. */
    readonly clusterDomain: string;
    /** More names (or IP addresses) for the certificate, e.g. a LoadBalancer's DNS name. */
    readonly extraSans: string[];
    readonly serverCertificateDays: number;
    /** Labels for the Secrets the agent creates. */
    readonly labels: Record<string, string>;
  };
}

/** Renew a certificate when this fraction of its lifetime has passed (so two thirds of it is always covered). */
export const TLS_RENEW_AT_FRACTION = 2 / 3;
export const DEFAULT_SERVER_CERTIFICATE_DAYS = 90;
export const CA_CERTIFICATE_DAYS = 3650;

/** Where the Jobs and the canary mount `<cluster>-ca` (key ca.crt): libpq's PGSSLROOTCERT and node's extra CAs point here. */
export const CA_MOUNT = { volumeName: 'cluster-ca', mountPath: '/etc/pg-agent/ca', file: '/etc/pg-agent/ca/ca.crt' } as const;

/** The files the instance writes in its socket directory (an emptyDir: never in the data volume, so never in a backup). */
export const TLS_FILES = { dir: 'tls', cert: 'server.crt', key: 'server.key', ca: 'ca.crt' } as const;

/** Pod names the certificate covers at least (a scale-up past it gets the new names at the next renewal). */
export const TLS_MIN_POD_SANS = 16;

/** The SANs of the server certificate: the Services and the pods, short, namespaced and FQDN, then the extra ones. */
export function serverSans(cluster: string, namespace: string, clusterDomain: string, pods: number, extra: readonly string[] = []): string[] {
  const forms = (h: string) => [h, `${h}.${namespace}`, `${h}.${namespace}.svc`, `${h}.${namespace}.svc.${clusterDomain}`];
  const services = [`${cluster}-rw`, `${cluster}-ro`, `${cluster}-r`, `${cluster}-pods`].flatMap(forms);
  const podNames = Array.from({ length: Math.max(pods, TLS_MIN_POD_SANS) }, (_, i) => `${cluster}-${i}`);
  // A pod is reached by its own short name (the agents' own connections) or through the headless Service.
  const podForms = podNames.flatMap(p => [p, ...forms(`${p}.${cluster}-pods`)]);
  return [...new Set([...services, ...podForms, ...extra])];
}
