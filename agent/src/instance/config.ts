import { DATA_DURABILITIES, DatabaseSpec, ENV, LEASE, SHUTDOWN_ENV, SynchronousSpec } from '../../../lib/contract';
import { intEnv, jsonEnv, optionalEnv, rangedIntEnv, requireEnv } from '../common/env';
import { AgentError } from '../common/errors';
import { StoreConfig, hasStore, readStoreConfig } from '../store/config';
import { RecoveryConfig, hasRecovery, readRecoveryConfig } from '../restore/recovery';
import { CloneConfig, readCloneConfig } from './clone-source';
import { ImportConfig, readImportConfig } from '../import/config';
import { Credentials, readCredentialSources } from './credentials';
import { readParametersFile } from './cluster-config';
import { TlsSpec } from '../../../lib/contract';
import { readTlsSpec } from './tls';

/** Everything `instance` needs, read once from the environment contract and checked. */
export interface InstanceConfig {
  readonly cluster: string;
  readonly namespace: string;
  readonly podName: string;
  readonly ordinal: number;
  /** The StatefulSet's spec.replicas, kept current by InstanceCount (scaling.ts); the environment's value until read. */
  instances: number;
  readonly pgdata: string;
  readonly port: number;
  readonly httpPort: number;
  readonly socketDir: string;
  /** Where the current primary is reached (the `-rw` Service). */
  readonly primary: { host: string; port: number };
  readonly databases: DatabaseSpec[];
  /** The user's parameters; replaced when the watched ConfigMap brings new ones that postgres accepts. */
  parameters: Record<string, string>;
  /** Where the cluster's ConfigMap is mounted (unset with manifests that still pass PGC_PARAMETERS). */
  readonly configDir?: string;
  /** The passwords, read from the cluster's Secrets through the API and kept current (credentials.ts). */
  readonly credentials: Credentials;
  readonly shutdownTimeoutSeconds: number;
  readonly leaseDurationSeconds: number;
  readonly failoverMaxLagBytes: number;
  readonly synchronous?: SynchronousSpec;
  /** Bootstrap by recovery from another cluster's backups, when the manifest says so. */
  readonly recovery?: RecoveryConfig;
  /** Bootstrap by streaming a running server (a migration), when the manifest says so. */
  readonly clone?: CloneConfig;
  /** Bootstrap by initdb and a logical import of a running server (bootstrap.import), when the manifest says so. */
  readonly import?: ImportConfig;
  /** The backup store, when the cluster has one: the primary archives WAL into it. */
  readonly archiving?: StoreConfig;
  /** TLS (every manifest of this version has it; older ones do not). */
  readonly tls?: TlsSpec;
  /** How this instance's libpq clients verify the primary now (instance/tls.ts probePrimaryTls). */
  replicationSslMode?: 'verify-full' | 'prefer';
}

export function readInstanceConfig(env: NodeJS.ProcessEnv = process.env): InstanceConfig {
  const podName = requireEnv(ENV.podName, env);
  const cluster = requireEnv(ENV.cluster, env);
  const m = /-(\d+)$/.exec(podName);
  if (!m || !podName.startsWith(`${cluster}-`)) {
    throw new AgentError(
      `pod name "${podName}" is not "<cluster>-<ordinal>" for cluster "${cluster}"`,
      "Run the instance command only in the pods of the cluster's StatefulSet.",
      { podName },
    );
  }
  const port = intEnv(ENV.port, env);
  const primaryRaw = requireEnv(ENV.primaryHost, env);
  const [primaryHost, primaryPort] = primaryRaw.split(':');
  const databases = jsonEnv<DatabaseSpec[]>(ENV.databases, env);
  if (!Array.isArray(databases) || databases.some(d => typeof d?.name !== 'string' || typeof d?.owner !== 'string')) {
    throw new AgentError(
      `environment variable ${ENV.databases} is not a list of {name, owner}`,
      'Re-synthesize the manifests; this variable is written by the constructs.',
    );
  }
  const configDir = optionalEnv(ENV.configDir, env);
  const parameters = configDir ? readParametersFile(configDir) : jsonEnv<Record<string, string>>(ENV.parameters, env);
  if (typeof parameters !== 'object' || parameters === null || Array.isArray(parameters)) {
    throw new AgentError(
      `environment variable ${ENV.parameters} is not an object of parameters`,
      'Re-synthesize the manifests; this variable is written by the constructs.',
    );
  }
  return {
    cluster,
    namespace: requireEnv(ENV.namespace, env),
    podName,
    ordinal: Number(m[1]),
    instances: intEnv(ENV.instances, env, 1),
    pgdata: requireEnv(ENV.pgdata, env),
    port,
    httpPort: intEnv(ENV.httpPort, env),
    socketDir: requireEnv(ENV.socketDir, env),
    primary: { host: primaryHost, port: primaryPort ? Number(primaryPort) : port },
    databases,
    parameters,
    credentials: new Credentials(readCredentialSources(databases, env)),
    configDir,
    // Written by every manifest: no default here, a missing one fails the start (the manifest is out of date).
    shutdownTimeoutSeconds: intEnv(SHUTDOWN_ENV, env),
    leaseDurationSeconds: rangedIntEnv(ENV.leaseDuration, { min: LEASE.minDurationSeconds, max: LEASE.maxDurationSeconds }, env),
    failoverMaxLagBytes: rangedIntEnv(ENV.failoverMaxLagBytes, { min: 0 }, env),
    synchronous: optionalEnv(ENV.synchronous, env) ? readSynchronous(env) : undefined,
    archiving: hasStore(env) ? readStoreConfig(env) : undefined,
    recovery: hasRecovery(env) ? readRecoveryConfig(env) : undefined,
    clone: readCloneConfig(env),
    import: readImportConfig(env),
    tls: readTlsSpec(env),
  };
}

/** The synchronous spec, checked as at synth: an unknown durability would silently promise neither. */
function readSynchronous(env: NodeJS.ProcessEnv): SynchronousSpec {
  const spec = jsonEnv<SynchronousSpec>(ENV.synchronous, env);
  if (!Number.isInteger(spec?.number) || spec.number < 1 || !DATA_DURABILITIES.includes(spec.dataDurability)) {
    throw new AgentError(
      `environment variable ${ENV.synchronous} is not {number >= 1, dataDurability: ${DATA_DURABILITIES.join(' | ')}}`,
      'Re-synthesize the manifests; this variable is written by the constructs.',
      { variable: ENV.synchronous },
    );
  }
  return spec;
}
