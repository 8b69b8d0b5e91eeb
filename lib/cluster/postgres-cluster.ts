import { ApiObject, Chart, Lazy, Size } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import {
  CANARY_ROLES_KEY,
  CLUSTER_CONFIG,
  COMPONENTS,
  CanaryRoleSpec,
  DEFAULT_PORTS,
  DatabaseSpec,
  ENV,
  INSTANCE_CONTAINER,
  LABELS,
  MANAGED_OBJECTS_KEY,
  PATHS,
  SHUTDOWN_ENV,
  SUPERUSER,
  REPLICATION_USER,
  SecretSpec,
  TlsSpec,
  names,
} from '../contract';
import { ClusterBackup, ResolvedBackup, backupEnv, resolveBackup } from '../backup/cluster-backup';
import { ClusterNetworkPolicy } from '../network/cluster-network-policy';
import { ResolvedBootstrap, resolveBootstrap } from '../bootstrap/bootstrap';
import { renderResources } from '../pod/resources';
import { PriorityClass } from '../scheduling/priority-class';
import { jobPlacement, mergeAffinity, renderSpread, renderTolerations, validateScheduling } from '../scheduling/pod-scheduling';
import { ClusterSecrets } from '../secrets/cluster-secrets';
import { instanceCredentialEnv, instanceCredentialRules } from '../secrets/instance-credentials';
import { renderCertificate, resolveTls, tlsEnv, tlsSecretRules } from '../tls/cluster-tls';
import { pgtune } from '../tuning/pgtune';
import { ValidationError, parseQuantity } from '../validation';
import { inheritedLabels } from './labels';
import { agentContainer, agentPodSecurityContext } from '../pod/pod-security';
import { DatabaseProps, PostgresClusterProps } from './props';
import { NamedObject, declareObjects, describeObject, objectKey, renderedObjects } from '../unique-names';
import { validateClusterProps } from './validate';
import { claimTemplateSize, renderVolumeClaims } from './volumes';
import { PACKAGE_VERSION } from '../version';
import { EVENTS_RULE } from '../pod/event-rules';
import { resolveManagedObjects } from './managed-objects';
import { DEFAULT_DATA_DURABILITY, DEFAULT_FAILOVER_MAX_LAG_BYTES, LEASE, SHUTDOWN, shutdownTimeoutSeconds } from '../contract/defaults';

/** The clusters of each App (by root construct) and the objects their names give, for the construct-level name check. */
const clustersByRoot = new WeakMap<Construct, Array<{ name: string; path: string; objects: Map<string, NamedObject> }>>();

/** Default agent image repository; the tag is this package's version and the PostgreSQL major (`defaultImage`). */
export const DEFAULT_IMAGE_REPOSITORY = 'ghcr.io/cdk8s-postgres/agent';
export const DEFAULT_POSTGRES_VERSION = 15;

/** The agent image released with this version of the constructs for a PostgreSQL major: `<repo>:<version>-pg<major>`. */
export function defaultImage(postgresVersion: number = DEFAULT_POSTGRES_VERSION): string {
  return `${DEFAULT_IMAGE_REPOSITORY}:${PACKAGE_VERSION}-pg${postgresVersion}`;
}

/**
 * A PostgreSQL cluster without an operator: a StatefulSet of agent pods (one primary, streaming replicas), the
 * `-rw`/`-ro`/`-r` Services, app Secrets generated in-cluster per database, RBAC, a PodDisruptionBudget and
 * optional network policies. Object names derive from `name` only, never from the construct path.
 */
export class PostgresCluster extends Construct {
  readonly name: string;
  readonly instances: number;
  readonly image: string;
  /** Databases with the Secret that carries each owner's password. */
  readonly databases: DatabaseSpec[];
  /** Labels on every object and pod template of this cluster. */
  readonly labels: Record<string, string>;
  /** Size of each instance's data volume. */
  readonly storageSize: Size;
  /** `hibernate: true`: the StatefulSet runs no pods, the backup CronJob is suspended, the volumes are kept. */
  readonly hibernated: boolean;
  /** The instances' data volume claims (`pgdata-<name>-<ordinal>`), which carry `storage.size`. */
  readonly volumeClaims: ApiObject[];
  /** Labels that select this cluster's instance pods. */
  readonly selector: Record<string, string>;
  /** The parameters written into postgresql.conf besides the agent's own (preset merged with user values). */
  readonly parameters: Record<string, string>;
  /** Host name of the read-write Service. */
  readonly rwServiceName: string;
  /** The Secret with the `postgres` superuser's password (`password` key): `superuserSecret`, or the generated one. */
  readonly superuserSecretName: string;
  /** Escape hatches to the rendered objects. */
  readonly statefulSet: ApiObject;
  readonly services: { rw: ApiObject; ro: ApiObject; r: ApiObject; headless: ApiObject };
  readonly secretsJob?: ApiObject;
  /** The ConfigMap `<name>-config` the instances watch (parameters): changing it restarts no pod. */
  readonly configMap: ApiObject;
  readonly networkPolicy?: ClusterNetworkPolicy;
  readonly backup?: ClusterBackup;
  /** What the secrets Job generates; a CanaryApp adds its role's Secret (read lazily by the rendered objects). */
  private readonly secretSpecs: SecretSpec[] = [];
  /** What the secrets Job creates: the cluster's credentials, managed roles' and canaries' (a live list, see addCanaryRole). */
  private readonly secretsJobSpecs: SecretSpec[] = [];
  private readonly secretBase: Omit<SecretSpec, 'names' | 'username' | 'dbname'>;
  private readonly canaryRoles: CanaryRoleSpec[] = [];
  /** The declared managed role names: a CanaryApp's role must not be one of them. */
  private readonly managedRoleNames: ReadonlySet<string>;
  /** Tolerations and node selector for the cluster's Jobs (secrets, backups, restore drill). */
  readonly jobPlacement: Pick<k8s.PodSpec, 'tolerations' | 'nodeSelector'>;

  constructor(scope: Construct, id: string, props: PostgresClusterProps) {
    super(scope, id);
    validateClusterProps(props);
    validateScheduling(props);
    this.jobPlacement = jobPlacement(props);
    const name = props.name;
    this.name = name;
    this.instances = props.instances ?? 1;
    this.hibernated = props.hibernate ?? false;
    const version = props.postgresVersion ?? DEFAULT_POSTGRES_VERSION;
    this.image = props.image ?? defaultImage(version);
    this.rwServiceName = names.rwService(name);
    this.storageSize = props.storage.size;
    const clusterLabel = { [LABELS.cluster]: name };
    this.labels = { ...inheritedLabels(this, props.inheritedLabels, props.labels), ...clusterLabel, [LABELS.managedBy]: 'cdk8s-postgres' };
    this.selector = { ...clusterLabel, [LABELS.component]: COMPONENTS.instance };
    const clusterDomain = props.clusterDomain ?? 'cluster.local';
    const ctx: RenderContext = {
      props,
      name,
      version,
      clusterDomain,
      priorityClassName: props.priorityClass instanceof PriorityClass ? props.priorityClass.name : props.priorityClass,
      labelsFor: component => ({ ...this.labels, [LABELS.component]: component }),
      tls: resolveTls(name, props.tls, clusterDomain, { ...this.labels, [LABELS.component]: COMPONENTS.secrets }),
      backup: props.backup ? resolveBackup(props.backup, name) : undefined,
      bootstrap: resolveBootstrap(props.bootstrap, props.databases ?? [{ name: 'app', owner: 'app' }]),
    };
    checkRecoveryFolder(ctx);

    // Databases, their Secrets and the other credentials; managed roles, extensions, schemas and pg_hba rules.
    const dbProps = props.databases ?? [{ name: 'app', owner: 'app' }];
    this.databases = dbProps.map(db => ({
      name: db.name,
      owner: db.owner,
      secretName: db.existingSecret ?? names.dbAppSecret(name, db.name.replace(/_/g, '-')),
    }));
    this.secretBase = { host: this.rwServiceName, port: DEFAULT_PORTS.postgres, clusterDomain, labels: ctx.labelsFor(COMPONENTS.secrets) };
    const credentials = this.resolveCredentials(ctx, dbProps);
    this.superuserSecretName = credentials.superuserSecret;
    this.managedRoleNames = new Set((props.roles ?? []).map(r => r.name));
    const managed = resolveManagedObjects(
      { cluster: name, postgresVersion: version, databases: dbProps, secretBase: this.secretBase },
      props.roles,
      props.pgHba,
    );

    // Parameters: preset first, the user's win.
    const preset = props.tuning ? pgtune({ ...props.tuning, ...this.tuningInputs(props) }) : {};
    this.parameters = sortKeys({ ...preset, ...(props.parameters ?? {}) });

    // The objects, in the order kubectl applies them (the claims before the StatefulSet).
    if (ctx.tls.mode === 'certManager')
      renderCertificate(this, name, Chart.of(this).namespace, clusterDomain, props.tls!, ctx.tls, ctx.labelsFor(COMPONENTS.instance));
    this.renderInstanceRbac(ctx, credentials, managed.secretNames);
    this.secretsJobSpecs.push(...this.secretSpecs, ...managed.generated);
    if (this.secretSpecs.length > 0) this.secretsJob = this.renderSecretsJob(ctx);
    this.services = this.renderServices(ctx.labelsFor(COMPONENTS.instance));
    this.configMap = this.renderConfigMap(ctx, managed.spec);
    this.volumeClaims = renderVolumeClaims(this, {
      cluster: name,
      instances: this.instances,
      storage: props.storage,
      labels: ctx.labelsFor(COMPONENTS.instance),
    });
    this.statefulSet = this.renderStatefulSet(ctx, this.instanceEnv(ctx, credentials));
    if (props.backup) this.backup = this.renderBackup(ctx, credentials.replicationSecret);
    if (this.instances > 1) {
      new k8s.KubePodDisruptionBudget(this, 'PodDisruptionBudget', {
        metadata: { name: names.pdb(name), labels: ctx.labelsFor(COMPONENTS.instance) },
        spec: { maxUnavailable: k8s.IntOrString.fromNumber(1), selector: { matchLabels: this.selector } },
      });
    }
    if (props.networkPolicy) {
      this.networkPolicy = new ClusterNetworkPolicy(this, 'NetworkPolicy', {
        ...props.networkPolicy,
        name: names.networkPolicy(name),
        clusterSelector: clusterLabel,
        instanceSelector: this.selector,
        labels: ctx.labelsFor(COMPONENTS.instance),
        postgresPort: DEFAULT_PORTS.postgres,
        httpPort: DEFAULT_PORTS.http,
      });
    }

    this.claimNames(dbProps, [...this.secretSpecs, ...managed.generated]);
  }

  /** The Secrets the secrets Job generates (app, superuser, replication), and what the instances read. */
  private resolveCredentials(ctx: RenderContext, dbProps: DatabaseProps[]): InstanceCredentials {
    const { props, name } = ctx;
    const secretSpecs = this.secretSpecs;
    dbProps.forEach((db, i) => {
      if (db.existingSecret) return;
      const secretNames = [this.databases[i].secretName];
      if (i === 0) secretNames.push(names.appSecret(name));
      secretSpecs.push({ ...this.secretBase, names: secretNames, username: db.owner, dbname: db.name });
    });
    const superuserSecret = props.superuserSecret ?? names.superuserSecret(name);
    if (!props.superuserSecret) secretSpecs.push({ ...this.secretBase, names: [superuserSecret], username: SUPERUSER, dbname: '*' });
    const replicationSecret = names.replicationSecret(name);
    secretSpecs.push({ ...this.secretBase, names: [replicationSecret], username: REPLICATION_USER, dbname: 'replication' });
    return { superuserSecret, replicationSecret, databases: this.databases, generated: secretSpecs };
  }

  /** The instances' rights: their own pods, the StatefulSet, the Lease, Events, their Secrets; nothing else. */
  private renderInstanceRbac(ctx: RenderContext, credentials: InstanceCredentials, managedSecretNames: string[]): void {
    const { props, name } = ctx;
    const saName = names.serviceAccount(name);
    const instanceMeta = { name: saName, labels: ctx.labelsFor(COMPONENTS.instance) };
    new k8s.KubeServiceAccount(this, 'ServiceAccount', { metadata: instanceMeta, automountServiceAccountToken: true });
    new k8s.KubeRole(this, 'Role', {
      metadata: instanceMeta,
      rules: [
        // Label and annotate their own pods, read their peers'; replace their own pod in a rollout (delete).
        {
          apiGroups: [''],
          resources: ['pods'],
          verbs: ['get', 'patch', 'delete'],
          resourceNames: Array.from({ length: this.instances }, (_, i) => names.pod(name, i)),
        },
        // Rollouts: the StatefulSet's update revision; and its spec.replicas, the instance count (scaling and
        // hibernation must not change the pod template).
        { apiGroups: ['apps'], resources: ['statefulsets'], verbs: ['get'], resourceNames: [names.statefulSet(name)] },
        // Elect the primary: the one Lease of this cluster (create cannot be limited by name in RBAC).
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'update'], resourceNames: [names.lease(name)] },
        // Events on their pods (failover, switchover, fencing, backups after a failover): kubectl get events.
        EVENTS_RULE,
        // `pg-agent status`: the schedules and last runs of the backup and restore-drill CronJobs.
        ...(props.backup
          ? [
              {
                apiGroups: ['batch'],
                resources: ['cronjobs'],
                verbs: ['get'],
                resourceNames: [names.backupCronJob(name), names.restoreDrillCronJob(name)],
              },
            ]
          : []),
        ...instanceCredentialRules(credentials),
        ...(managedSecretNames.length
          ? [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: [...managedSecretNames].sort() }]
          : []),
        ...tlsSecretRules(ctx.tls),
      ],
    });
    new k8s.KubeRoleBinding(this, 'RoleBinding', {
      metadata: instanceMeta,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: saName },
      subjects: [{ kind: 'ServiceAccount', name: saName }],
    });
  }

  private renderSecretsJob(ctx: RenderContext): ApiObject {
    return new ClusterSecrets(this, 'Secrets', {
      cluster: ctx.name,
      image: this.image,
      specs: this.secretsJobSpecs,
      labels: ctx.labelsFor(COMPONENTS.secrets),
      podLabels: ctx.labelsFor(COMPONENTS.secrets),
      priorityClassName: ctx.priorityClassName,
      placement: this.jobPlacement,
      tls: ctx.tls,
    }).job;
  }

  /** The ConfigMap the instances watch: parameters, managed objects and canary roles, all applied without a restart. */
  private renderConfigMap(ctx: RenderContext, managedSpec: unknown): ApiObject {
    return new k8s.KubeConfigMap(this, 'ConfigMap', {
      metadata: { name: names.configMap(ctx.name), labels: ctx.labelsFor(COMPONENTS.instance) },
      data: Lazy.any({
        produce: () => ({
          [CLUSTER_CONFIG.parametersKey]: JSON.stringify(this.parameters),
          ...(managedSpec ? { [MANAGED_OBJECTS_KEY]: JSON.stringify(managedSpec) } : {}),
          ...(this.canaryRoles.length ? { [CANARY_ROLES_KEY]: JSON.stringify(this.canaryRoles) } : {}),
        }),
      }),
    });
  }

  /** The instance container's environment: names, ports and settings only, never a password. */
  private instanceEnv(ctx: RenderContext, credentials: InstanceCredentials): k8s.EnvVar[] {
    const { props, backup, bootstrap } = ctx;
    return [
      { name: ENV.podName, valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: ENV.pgdata, value: PATHS.pgdata },
      { name: ENV.port, value: String(DEFAULT_PORTS.postgres) },
      { name: ENV.httpPort, value: String(DEFAULT_PORTS.http) },
      { name: ENV.socketDir, value: PATHS.socketDir },
      { name: ENV.primaryHost, value: this.rwServiceName },
      { name: ENV.leaseDuration, value: String(props.failover?.leaseDurationSeconds ?? LEASE.defaultDurationSeconds) },
      { name: ENV.failoverMaxLagBytes, value: String(props.failover?.maxLagBytes ?? DEFAULT_FAILOVER_MAX_LAG_BYTES) },
      ...(props.synchronous
        ? [
            {
              name: ENV.synchronous,
              value: JSON.stringify({
                number: props.synchronous.number,
                dataDurability: props.synchronous.dataDurability ?? DEFAULT_DATA_DURABILITY,
              }),
            },
          ]
        : []),
      { name: ENV.databases, value: JSON.stringify(this.databases) },
      // Parameters come from the mounted ConfigMap, so a change reloads them instead of rolling the pods.
      { name: ENV.configDir, value: CLUSTER_CONFIG.mountPath },
      // Leave a margin so the agent's immediate shutdown happens before the kubelet's SIGKILL.
      { name: SHUTDOWN_ENV, value: String(shutdownTimeoutSeconds(gracePeriod(props))) },
      // Secret names only: the agent reads the passwords through the API and follows their rotation.
      ...instanceCredentialEnv(credentials),
      tlsEnv(ctx.tls),
      // With a store, the primary archives WAL there (postgres inherits this environment for archive_command).
      ...(backup ? backupEnv(backup) : []),
      ...bootstrap.env,
    ];
  }

  private renderStatefulSet(ctx: RenderContext, env: k8s.EnvVar[]): ApiObject {
    const { props, name, bootstrap } = ctx;
    const ca = ctx.backup?.store.caVolume();
    const podLabels = ctx.labelsFor(COMPONENTS.instance);
    return new k8s.KubeStatefulSet(this, 'StatefulSet', {
      metadata: { name: names.statefulSet(name), labels: podLabels },
      spec: {
        serviceName: names.headlessService(name),
        // The agents read this number (not the pod template): scaling and hibernation restart no running pod.
        replicas: this.hibernated ? 0 : this.instances,
        // Parallel: a replica pod must be recreated even while the primary pod is down (failover needs it).
        podManagementPolicy: 'Parallel',
        // The agents replace their own pods in CloudNativePG's order (replicas, then the primary with one hand-over):
        // RollingUpdate would start from the highest ordinal, often the primary (agent/src/decide/rollout.ts).
        updateStrategy: { type: 'OnDelete' },
        persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Retain' },
        selector: { matchLabels: this.selector },
        template: {
          metadata: { labels: podLabels },
          spec: {
            serviceAccountName: names.serviceAccount(name),
            priorityClassName: ctx.priorityClassName,
            terminationGracePeriodSeconds: gracePeriod(props),
            securityContext: agentPodSecurityContext(),
            affinity: instanceAffinity(props, this.selector),
            tolerations: renderTolerations(props),
            nodeSelector: props.nodeSelector,
            topologySpreadConstraints: renderSpread(props, this.selector),
            containers: [
              agentContainer({
                name: INSTANCE_CONTAINER,
                image: this.image,
                command: 'instance',
                cluster: name,
                env,
                ports: [
                  { name: 'postgresql', containerPort: DEFAULT_PORTS.postgres, protocol: 'TCP' },
                  { name: 'http', containerPort: DEFAULT_PORTS.http, protocol: 'TCP' },
                ],
                resources: renderResources(props.resources),
                // Liveness asks the agent, which stays up through crash recovery: no kill during a long replay.
                livenessProbe: {
                  httpGet: { path: '/healthz', port: k8s.IntOrString.fromString('http') },
                  periodSeconds: 10,
                  timeoutSeconds: 5,
                  failureThreshold: 6,
                },
                readinessProbe: {
                  httpGet: { path: '/readyz', port: k8s.IntOrString.fromString('http') },
                  periodSeconds: 5,
                  timeoutSeconds: 5,
                  failureThreshold: 3,
                },
                volumeMounts: [
                  { name: 'pgdata', mountPath: PATHS.dataMount },
                  { name: 'run', mountPath: PATHS.socketDir },
                  { name: 'tmp', mountPath: PATHS.tmpDir },
                  { name: 'shm', mountPath: '/dev/shm' },
                  { name: CLUSTER_CONFIG.volumeName, mountPath: CLUSTER_CONFIG.mountPath, readOnly: true },
                  ...(ca ? [ca.mount] : []),
                  ...bootstrap.mounts,
                ],
              }),
            ],
            volumes: [
              { name: 'run', emptyDir: {} },
              { name: 'tmp', emptyDir: {} },
              // The container default of 64 MiB shared memory is too small for parallel queries.
              { name: 'shm', emptyDir: { medium: 'Memory' } },
              { name: CLUSTER_CONFIG.volumeName, configMap: { name: names.configMap(name) } },
              ...(ca ? [ca.volume] : []),
              ...bootstrap.volumes,
            ],
          },
        },
        // Never changes (the API server refuses it): storage.size lives in the claim objects (lib/cluster/volumes.ts).
        volumeClaimTemplates: [
          {
            metadata: { name: 'pgdata', labels: podLabels },
            spec: {
              accessModes: ['ReadWriteOnce'],
              storageClassName: props.storage.storageClass,
              resources: { requests: { storage: k8s.Quantity.fromString(claimTemplateSize(props.storage)) } },
            },
          },
        ],
      },
    });
  }

  private renderBackup(ctx: RenderContext, replicationSecret: string): ClusterBackup {
    return new ClusterBackup(this, 'Backup', {
      ...ctx.props.backup!,
      cluster: ctx.name,
      image: this.image,
      instances: this.instances,
      priorityClassName: ctx.priorityClassName,
      suspend: this.hibernated,
      labels: ctx.labelsFor(COMPONENTS.backup),
      podLabels: ctx.labelsFor(COMPONENTS.backup),
      replicationSecret,
      placement: this.jobPlacement,
    });
  }

  /**
   * Gives a canary its own role (the CanaryApp construct calls this): the secrets Job generates its Secret, the
   * instances may read it, and the primary creates the role with rights on the canary's table only.
   */
  addCanaryRole(spec: CanaryRoleSpec): void {
    if (this.managedRoleNames.has(spec.role))
      throw new ValidationError(
        `CanaryApp ${spec.role}`,
        `its database role "${spec.role}" is also declared in roles[] of this cluster`,
        'Give the CanaryApp another name, or rename the managed role: the canary role may only insert into and read its own table.',
      );
    this.canaryRoles.push(spec);
    const secret = { ...this.secretBase, names: [spec.secretName], username: spec.role, dbname: spec.database };
    this.secretSpecs.push(secret);
    this.secretsJobSpecs.push(secret);
  }

  /**
   * The objects this cluster makes at run time (declared for the App-wide check at synth), and the refusal of a
   * name whose derived objects are another cluster's: e.g. cluster "x-secrets" renders ServiceAccount "x-secrets",
   * which cluster "x" renders for its secrets Job. Collisions through database names, other constructs or escape
   * hatches are caught by the App-wide check (lib/unique-names.ts).
   */
  private claimNames(dbProps: DatabaseProps[], secretSpecs: SecretSpec[]): void {
    const namespace = Chart.of(this).namespace;
    const path = this.node.path;
    const made = (apiVersion: string, kind: string, name: string, what: string) => ({ apiVersion, kind, namespace, name, path, what });
    const dbSecret = new Map(this.databases.map((d, i) => [d.secretName, i]));
    const runtime: Array<NamedObject & { prop: string }> = [];
    for (const spec of secretSpecs) {
      for (const secret of spec.names) {
        const i = dbSecret.get(secret);
        const what =
          i !== undefined
            ? `the app Secret of database "${dbProps[i].name}"`
            : spec.username === SUPERUSER && spec.dbname === '*'
              ? 'the superuser Secret'
              : spec.username === REPLICATION_USER
                ? 'the replication Secret'
                : secret === names.roleSecret(this.name, spec.username)
                  ? `the Secret of role "${spec.username}"`
                  : `the app Secret of the first database "${spec.dbname}"`;
        runtime.push({
          ...made('v1', 'Secret', secret, `${what}, created by the secrets Job`),
          prop: i !== undefined ? `databases[${i}].name` : secret === names.roleSecret(this.name, spec.username) ? 'roles' : 'name',
        });
      }
    }
    runtime.push({ ...made('coordination.k8s.io/v1', 'Lease', names.lease(this.name), 'the primary Lease, created by the instances'), prop: 'name' });
    for (let i = 0; i < this.instances; i++) {
      runtime.push({ ...made('v1', 'Pod', names.pod(this.name, i), 'an instance pod of the StatefulSet'), prop: 'name' });
    }
    const mine = [...renderedObjects(this).map(o => ({ ...o, what: `rendered by ${o.path}` })), ...runtime.filter(o => o.prop === 'name')];
    const registry = clustersByRoot.get(this.node.root) ?? [];
    clustersByRoot.set(this.node.root, registry);
    for (const other of registry) {
      for (const o of mine) {
        const theirs = other.objects.get(objectKey(o));
        if (!theirs) continue;
        throw new ValidationError(
          'name',
          `"${this.name}" gives ${describeObject(o)} (${o.what}), which PostgresCluster "${other.name}" (${other.path}) makes too (${theirs.what})`,
          `Rename "${this.name}" or "${other.name}": a cluster's objects are named "<name>", "<name>-secrets", "<name>-backup", "<name>-rw"…, so within a namespace one cluster's name must not be another's plus one of those suffixes.`,
        );
      }
    }
    registry.push({ name: this.name, path, objects: new Map(mine.map(o => [objectKey(o), o])) });
    declareObjects(this, runtime);
  }

  private tuningInputs(props: PostgresClusterProps): { memoryBytes: number; cpus?: number } {
    const memory = props.resources?.requests?.memory ?? props.resources?.limits?.memory;
    if (!memory) {
      throw new ValidationError(
        'tuning',
        'needs a memory figure to compute from',
        'Set resources.requests.memory (or resources.limits.memory), or drop tuning.',
      );
    }
    const cpu = props.resources?.requests?.cpu ?? props.resources?.limits?.cpu;
    return { memoryBytes: parseQuantity('resources.memory', memory), cpus: cpu ? parseQuantity('resources.cpu', cpu) : undefined };
  }

  private renderServices(labels: Record<string, string>) {
    const cluster = { [LABELS.cluster]: this.name };
    const port = [{ name: 'postgresql', port: DEFAULT_PORTS.postgres, targetPort: k8s.IntOrString.fromString('postgresql'), protocol: 'TCP' }];
    const svc = (id: string, svcName: string, selector: Record<string, string>, extra: Partial<k8s.ServiceSpec> = {}) =>
      new k8s.KubeService(this, id, { metadata: { name: svcName, labels }, spec: { type: 'ClusterIP', selector, ports: port, ...extra } });
    return {
      rw: svc('ServiceRw', names.rwService(this.name), { ...cluster, [LABELS.role]: 'primary' }),
      ro: svc('ServiceRo', names.roService(this.name), { ...cluster, [LABELS.role]: 'replica' }),
      r: svc('ServiceR', names.rService(this.name), this.selector),
      // Stable DNS per pod; not-ready pods resolve too, so a replica can find a primary that is still starting.
      headless: svc('ServiceHeadless', names.headlessService(this.name), this.selector, { clusterIp: 'None', publishNotReadyAddresses: true }),
    };
  }
}

function sortKeys(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.keys(o)
      .sort()
      .map(k => [k, o[k]]),
  );
}

/** What the render steps of a PostgresCluster share, resolved once in the constructor. */
interface RenderContext {
  readonly props: PostgresClusterProps;
  readonly name: string;
  readonly version: number;
  readonly clusterDomain: string;
  readonly priorityClassName?: string;
  readonly labelsFor: (component: string) => Record<string, string>;
  readonly tls: TlsSpec;
  readonly backup?: ResolvedBackup;
  readonly bootstrap: ResolvedBootstrap;
}

type InstanceCredentials = Parameters<typeof instanceCredentialRules>[0];

const gracePeriod = (props: PostgresClusterProps): number => props.terminationGracePeriodSeconds ?? SHUTDOWN.defaultGracePeriodSeconds;

/** One instance per node by default (`antiAffinity`), combined with the user's `affinity`. */
function instanceAffinity(props: PostgresClusterProps, selector: Record<string, string>): k8s.Affinity | undefined {
  const antiAffinity = props.antiAffinity ?? 'preferred';
  const podAffinityTerm = { labelSelector: { matchLabels: selector }, topologyKey: 'kubernetes.io/hostname' };
  const defaultAffinity: k8s.Affinity | undefined =
    antiAffinity === 'none'
      ? undefined
      : {
          podAntiAffinity:
            antiAffinity === 'required'
              ? { requiredDuringSchedulingIgnoredDuringExecution: [podAffinityTerm] }
              : { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm }] },
        };
  return mergeAffinity(defaultAffinity, props.affinity);
}

/** A restored cluster shares its source's system identifier: it must never archive into the folder it recovers from. */
function checkRecoveryFolder({ backup, bootstrap }: RenderContext): void {
  const recovery = bootstrap.recovery;
  if (
    recovery &&
    backup &&
    recovery.source.endpoint === backup.store.endpoint &&
    recovery.source.bucket === backup.store.bucket &&
    recovery.source.prefix === backup.store.prefix &&
    recovery.source.serverName === backup.serverName
  ) {
    throw new ValidationError(
      'backup.serverName',
      `"${backup.serverName}" is the folder this cluster recovers from`,
      "A restored cluster must archive into its own folder (it shares the source's system identifier): give backup.serverName or the cluster another name.",
    );
  }
}
