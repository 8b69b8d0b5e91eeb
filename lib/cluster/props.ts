import { Size } from 'cdk8s';
import { PgTuneProps } from '../tuning/pgtune';
import { SynchronousSpec } from '../contract';
import { PriorityClass } from '../scheduling/priority-class';
import { NetworkPolicyProps } from '../network/cluster-network-policy';
import { BackupProps } from '../backup/cluster-backup';
import { BootstrapProps } from '../bootstrap/bootstrap';
import { TlsProps } from '../tls/cluster-tls';
import { ExtensionProps, PgHbaRuleProps, RoleProps, SchemaProps } from './managed-objects';
import { SchedulingProps } from '../scheduling/pod-scheduling';
import { ResourceProps } from '../pod/resources';

/** One application database and the role that owns it. */
export interface DatabaseProps {
  /** Database name: lowercase letters, digits and `_`, starting with a letter, at most 63 characters. */
  readonly name: string;
  /** Owner role, created with a generated password (or the one in `secretName`). Same rules as `name`. */
  readonly owner: string;
  /**
   * A Secret you manage (SealedSecrets, SOPS, External Secrets) holding the owner's password under the key
   * `password`. When set, nothing is generated for this database and no app Secret is written for it.
   * @default - the secrets Job generates `<cluster>-<name>-app` (and `<cluster>-app` for the first database)
   */
  readonly existingSecret?: string;
  /**
   * Extensions the primary's agent creates in this database when the image has them (a missing one is refused at
   * reconcile with one log line; the rest goes on). Never dropped.
   * @default - none
   */
  readonly extensions?: ExtensionProps[];
  /**
   * Schemas the primary's agent creates in this database (owner: the database's owner unless given). Never dropped.
   * @default - none
   */
  readonly schemas?: SchemaProps[];
}

export interface StorageProps {
  /**
   * Size of each instance's data volume, rendered as one PersistentVolumeClaim object per instance
   * (`pgdata-<name>-<ordinal>`). Raise it to grow the volumes (the StorageClass must allow expansion); the
   * StatefulSet does not change. Volumes cannot shrink: the API server refuses a smaller size.
   */
  readonly size: Size;
  /**
   * Size in the StatefulSet's `volumeClaimTemplates`, which Kubernetes never lets change. It is used only for a
   * claim that does not exist when its pod is created (the claim objects are applied first), so leave it alone; set
   * it to the size your existing StatefulSet already has when upgrading from a version that rendered
   * `storage.size` there.
   * @default 64Mi (the smallest accepted size, fixed whatever `size` is)
   */
  readonly claimTemplateSize?: Size;
  /**
   * StorageClass of the volume claims.
   * @default - the cluster's default StorageClass
   */
  readonly storageClass?: string;
}

export interface FailoverProps {
  /**
   * Seconds without renewal after which the primary's Lease expires and a replica may take over. The primary
   * stops accepting writes (fences itself) after two thirds of it without a renewal, before anyone can take over.
   * @default 15
   */
  readonly leaseDurationSeconds?: number;
  /**
   * A replica further behind the last known primary position is never promoted (no failover rather than losing
   * more than this).
   * @default 16777216 (16 MiB, one WAL segment)
   */
  readonly maxLagBytes?: number;
}

export interface PostgresClusterProps extends SchedulingProps {
  /**
   * Cluster name: prefix of every object (`<name>-rw`, `<name>-app`, pods `<name>-0`…) and the backup path.
   * A DNS-1123 label of at most 40 characters. Stable on purpose: renaming the construct never renames data.
   */
  readonly name: string;
  /**
   * Number of PostgreSQL pods: one primary, the rest streaming replicas.
   * @default 1
   */
  readonly instances?: number;
  /**
   * PostgreSQL major version; picks the default image.
   * @default 15
   */
  readonly postgresVersion?: number;
  /**
   * Agent image (the official postgres image plus the agent).
   * @default `ghcr.io/cdk8s-postgres/agent:<package version>-pg<postgresVersion>` (the image released with these constructs)
   */
  readonly image?: string;
  /**
   * Databases to create, each with its owner and app Secret.
   * @default [{ name: 'app', owner: 'app' }] as CloudNativePG does
   */
  readonly databases?: DatabaseProps[];
  /** Data volume of each instance. */
  readonly storage: StorageProps;
  /**
   * Container resources. Nothing is rendered that you do not set (no hidden defaults).
   * @default - none
   */
  readonly resources?: ResourceProps;
  /**
   * PostgreSQL parameters, as strings. Parameters the agent owns (archive_command, port, wal_level…) are refused.
   * @default - none beyond the agent's own
   */
  readonly parameters?: Record<string, string>;
  /**
   * A pgtune-style preset computed from `resources` (memory request, else limit; CPU likewise). `parameters` win.
   * @default - no preset
   */
  readonly tuning?: PgTuneProps;
  /**
   * Labels put on every object generated for the cluster, pod templates included.
   * @default - none
   */
  readonly labels?: Record<string, string>;
  /**
   * Chart labels to inherit onto every object and pod template, as glob patterns (`homelab/*`), like
   * CloudNativePG's INHERITED_LABELS.
   * @default - none (chart labels still reach top-level objects, as cdk8s does)
   */
  readonly inheritedLabels?: string[];
  /**
   * Priority class of the pods: a {@link PriorityClass} or the name of an existing one.
   * @default - none
   */
  readonly priorityClass?: PriorityClass | string;
  /**
   * Spread instances over nodes: `preferred` (a soft rule), `required` (a hard rule), or `none`.
   * @default 'preferred'
   */
  readonly antiAffinity?: 'preferred' | 'required' | 'none';
  /**
   * Who may reach the instances. Only ingress to the PostgreSQL pods is restricted.
   * @default - no network policy
   */
  readonly networkPolicy?: NetworkPolicyProps;
  /**
   * A Secret you manage with the `postgres` superuser password under `password`.
   * @default - generated as `<name>-superuser` by the secrets Job
   */
  readonly superuserSecret?: string;
  /**
   * The Kubernetes cluster domain, for the `fqdn-uri` and `fqdn-jdbc-uri` Secret keys.
   * @default 'cluster.local'
   */
  readonly clusterDomain?: string;
  /**
   * TLS on every connection (always on; a plaintext TCP connection is refused): where the server certificate
   * comes from. Clients verify with the CA in Secret `<name>-ca` (key `ca.crt`).
   * @default { mode: 'generated' } - a CA and a server certificate generated in-cluster, renewed automatically
   */
  readonly tls?: TlsProps;
  /**
   * How the first instance gets its data: `initdb` (an empty cluster with the declared databases), `recovery`
   * from another cluster's backups (to a point in time if you like), or `pgBasebackup` from a running server
   * (a migration by streaming replication). With recovery or pgBasebackup, declare the databases that come along
   * in `databases` so they get their app Secrets (their owners' passwords are reset to the new Secrets' values).
   * @default - initdb
   */
  readonly bootstrap?: BootstrapProps;
  /**
   * Automated failover: the agents elect the primary through a coordination.k8s.io Lease.
   * @default { leaseDurationSeconds: 15, maxLagBytes: 16 MiB }
   */
  readonly failover?: FailoverProps;
  /**
   * Synchronous replication: commits wait for `number` replicas. With `required` no acknowledged commit is lost on
   * failover, but writes stop when too few replicas are up; `preferred` keeps writing alone and may lose the last
   * commits on failover.
   * @default - asynchronous replication
   */
  readonly synchronous?: SynchronousSpec;
  /**
   * Continuous backup to S3: WAL archiving from the primary, scheduled base backups, retention.
   * @default - no backups (not recommended)
   */
  readonly backup?: BackupProps;
  /**
   * Hibernation: `true` scales the StatefulSet to 0 and suspends the backup CronJob; the volumes (and the primary
   * Lease) are kept. Back to `false`, the pods start on their volumes and the old primary is primary again.
   * @default false
   */
  readonly hibernate?: boolean;
  /**
   * Seconds a pod gets to stop: the agent asks for a fast shutdown, then an immediate one shortly before this.
   * @default 60
   */
  readonly terminationGracePeriodSeconds?: number;
  /**
   * Roles besides the database owners, reconciled by the primary's agent without a restart: created, altered to
   * match, dropped only when declared `absent` (and refused while they own objects). Each login role gets a
   * CloudNativePG-format Secret.
   * @default - none
   */
  readonly roles?: RoleProps[];
  /**
   * Extra pg_hba.conf rules for special cases (hostssl only, no trust), placed after the agent's own rules and
   * before the final catch-all rule, in the order given.
   * @default - none
   */
  readonly pgHba?: PgHbaRuleProps[];
}
