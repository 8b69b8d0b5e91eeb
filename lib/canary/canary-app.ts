import { ApiObject, Chart } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import {
  CANARY_AUTH_ENV,
  CANARY_ENV,
  CANARY_HTTP_PORT,
  COMPONENTS,
  DEFAULT_PORTS,
  ENV,
  LABELS,
  PATHS,
  CA_MOUNT,
  canarySecretName,
  reservedRoleReason,
} from '../contract';
import { declareObjects } from '../unique-names';
import { CanaryNetworkPolicies, CanaryNetworkPolicyProps, checkCanaryPeers } from './canary-network-policy';
import { PostgresCluster } from '../cluster/postgres-cluster';
import { agentContainerSecurityContext, agentPodSecurityContext } from '../pod/pod-security';
import { ValidationError, checkDnsLabel } from '../validation';
import { caClientEnv, caClientMount, caClientVolume } from '../tls/cluster-tls';

export interface CanaryAppProps {
  /** The cluster to write test records into. */
  readonly cluster: PostgresCluster;
  /**
   * Database to use (one of the cluster's `databases`). The canary connects as its own role (named like the
   * canary, password in the Secret `<name>-db` that the cluster's secrets Job generates), which may only read and
   * insert into its table `pgc_canary` there; the primary's agent creates the role, the table and the grants.
   * @default - the cluster's first database
   */
  readonly database?: string;
  /**
   * Name of the Deployment and the Service (DNS-1035: lowercase letters, digits and "-", starting with a letter).
   * @default `<cluster>-canary`
   */
  readonly name?: string;
  /**
   * Write one record every this many seconds, so that after a point-in-time restore the newest record shows the
   * recovery point.
   * @default - no heartbeat: records are written only on a button press (or POST /api/records)
   */
  readonly heartbeatSeconds?: number;
  /**
   * Agent image (it carries the `canary` command); must carry a tag or digest.
   * @default - the cluster's image
   */
  readonly image?: string;
  /**
   * Pods of the Deployment. 0 stops the canary without removing it.
   * @default 1
   */
  readonly replicas?: number;
  /**
   * Who may reach the page. The canary always gets its own NetworkPolicy (and/or CiliumNetworkPolicy): ingress to
   * its web port only from these peers.
   * @default - no peer (a port-forward only), policy kinds as the cluster's `networkPolicy`
   */
  readonly networkPolicy?: CanaryNetworkPolicyProps;
  /**
   * HTTP basic auth for every page and API call (not `/healthz`, which the kubelet probes): a Secret you manage,
   * e.g. of type `kubernetes.io/basic-auth`, with the user name and the password.
   * @default - no login: keep the page to a port-forward or a protected Ingress
   */
  readonly basicAuth?: CanaryBasicAuth;
}

/** Where the canary's basic auth credentials are. */
export interface CanaryBasicAuth {
  /** Name of the Secret, in the canary's namespace. */
  readonly secretName: string;
  /** @default 'username' */
  readonly usernameKey?: string;
  /** @default 'password' */
  readonly passwordKey?: string;
}

/** Longest DNS-1035 label, the limit for a Service name. */
const MAX_NAME = 63;
const DNS1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/**
 * The restore canary: a small web app (the agent's `canary` command) that writes test records on a button press,
 * shows them back with a checksum verdict, the server's role, current LSN and time. Run it against a cluster,
 * restore the cluster, and look: are all records there, untouched, up to which point?
 *
 * Renders a Deployment, a ClusterIP Service (port 80) and network policies named `<cluster>-canary`. The pods carry
 * the cluster's labels (including `postgres.cdk8s.io/cluster`), so the cluster's network policies let them in.
 * Expose the Service yourself (Ingress, Gateway, `kubectl port-forward svc/<name> 8080:80`), with `basicAuth` or
 * behind an authenticating proxy. Writes are POST only and refused when a browser says they come from another site.
 */
export class CanaryApp extends Construct {
  readonly name: string;
  /** The database the canary writes to. */
  readonly database: string;
  /** Labels that select the canary's pods. */
  readonly selector: Record<string, string>;
  /** The canary's database role and the Secret with its password. */
  readonly role: string;
  readonly secretName: string;
  /** Escape hatches to the rendered objects. */
  readonly deployment: ApiObject;
  readonly service: ApiObject;
  readonly networkPolicies: CanaryNetworkPolicies;

  constructor(scope: Construct, id: string, props: CanaryAppProps) {
    super(scope, id);
    const cluster = props.cluster;
    if (!(cluster instanceof PostgresCluster)) {
      throw new ValidationError('cluster', 'is not a PostgresCluster', 'Pass the PostgresCluster construct the canary should write to.');
    }
    const db = props.database === undefined ? cluster.databases[0] : cluster.databases.find(d => d.name === props.database);
    if (!db) {
      throw new ValidationError(
        'database',
        `"${props.database}" is not a database of cluster ${cluster.name} (it has ${cluster.databases.map(d => `"${d.name}"`).join(', ')})`,
        "Name one of the cluster's databases, or leave the prop out for the first one.",
      );
    }
    const name = props.name ?? `${cluster.name}-canary`;
    if (!DNS1035.test(name)) {
      throw new ValidationError(
        'name',
        `"${name}" is not a DNS-1035 label`,
        'It names a Service: use lowercase letters, digits and "-", starting with a letter and ending with a letter or digit.',
      );
    }
    if (name.length > MAX_NAME) {
      throw new ValidationError('name', `"${name}" is ${name.length} characters long, the limit is ${MAX_NAME}`, 'Choose a shorter name.');
    }
    const heartbeat = props.heartbeatSeconds;
    if (heartbeat !== undefined && (!Number.isInteger(heartbeat) || heartbeat < 1 || heartbeat > 86400)) {
      throw new ValidationError(
        'heartbeatSeconds',
        `${heartbeat} is not a whole number of seconds between 1 and 86400`,
        'Use e.g. 60 for one record a minute, or leave it out to write only on a button press.',
      );
    }
    if (props.image !== undefined && !/^[^\s]+(:[\w.-]+|@sha256:[a-f0-9]{64})$/.test(props.image)) {
      throw new ValidationError('image', `"${props.image}" has no tag or digest`, 'Pin the image, e.g. "ghcr.io/cdk8s-postgres/agent:15".');
    }
    const replicas = props.replicas ?? 1;
    if (!Number.isInteger(replicas) || replicas < 0 || replicas > 3) {
      throw new ValidationError('replicas', `${replicas} is not a whole number between 0 and 3`, 'One canary is enough; 0 stops it.');
    }
    // The role is named like the canary: unique in the namespace, so per cluster.
    const role = name;
    const taken =
      reservedRoleReason(role) ?? (cluster.databases.some(d => d.owner === role) ? `it owns a database of cluster ${cluster.name}` : undefined);
    if (taken) {
      throw new ValidationError(
        'name',
        `"${name}" cannot name the canary's database role: ${taken}`,
        'Give the canary another name, e.g. "<cluster>-canary".',
      );
    }
    const policy = props.networkPolicy ?? {};
    const allowFrom = policy.allowFrom ?? [];
    checkCanaryPeers('networkPolicy.allowFrom', allowFrom);
    const cilium = policy.cilium ?? cluster.networkPolicy?.ciliumPolicy !== undefined;
    const kubernetes = policy.kubernetes ?? (!cilium || cluster.networkPolicy?.kubernetesPolicy !== undefined);
    if (!cilium && !kubernetes) {
      throw new ValidationError(
        'networkPolicy',
        'has both cilium and kubernetes turned off',
        'Turn one on: the canary is never left open to every pod.',
      );
    }
    const auth = props.basicAuth;
    if (auth) {
      checkDnsLabel('basicAuth.secretName', auth.secretName ?? '', 253);
      for (const key of ['usernameKey', 'passwordKey'] as const) {
        const v = auth[key];
        if (v !== undefined && !/^[-._a-zA-Z0-9]{1,253}$/.test(v)) {
          throw new ValidationError(`basicAuth.${key}`, `"${v}" is not a Secret key`, 'Use letters, digits, "-", "_" and "."; e.g. "password".');
        }
      }
    }
    this.name = name;
    this.role = role;
    this.secretName = canarySecretName(name);
    this.database = db.name;
    this.selector = { [LABELS.cluster]: cluster.name, [LABELS.component]: COMPONENTS.canary, [LABELS.instance]: name };
    // The cluster's labels carry the cluster label, which the cluster's network policies admit.
    const labels = { ...cluster.labels, [LABELS.component]: COMPONENTS.canary, [LABELS.name]: 'pgc-canary', [LABELS.instance]: name };

    const env: k8s.EnvVar[] = [
      { name: ENV.cluster, value: cluster.name },
      { name: CANARY_ENV.httpPort, value: String(CANARY_HTTP_PORT) },
      ...(heartbeat !== undefined ? [{ name: CANARY_ENV.heartbeatSeconds, value: String(heartbeat) }] : []),
      // The canary's own role (never the owner's): its Secret is generated in the app Secret format, so `uri` is
      // preferred; the parts below, which the construct knows, stay for a hand-made Secret without it.
      { name: CANARY_ENV.uri, valueFrom: { secretKeyRef: { name: this.secretName, key: 'uri', optional: true } } },
      { name: CANARY_ENV.host, value: cluster.rwServiceName },
      { name: CANARY_ENV.port, value: String(DEFAULT_PORTS.postgres) },
      { name: CANARY_ENV.dbname, value: db.name },
      { name: CANARY_ENV.user, value: role },
      { name: CANARY_ENV.password, valueFrom: { secretKeyRef: { name: this.secretName, key: 'password' } } },
      ...(auth
        ? [
            { name: CANARY_AUTH_ENV.username, valueFrom: { secretKeyRef: { name: auth.secretName, key: auth.usernameKey ?? 'username' } } },
            { name: CANARY_AUTH_ENV.password, valueFrom: { secretKeyRef: { name: auth.secretName, key: auth.passwordKey ?? 'password' } } },
          ]
        : []),
      // TLS is always on: verify the instances against <cluster>-ca (node's TLS reads NODE_EXTRA_CA_CERTS).
      ...caClientEnv,
      { name: 'NODE_EXTRA_CA_CERTS', value: CA_MOUNT.file },
    ];
    cluster.addCanaryRole({ role, database: db.name, secretName: this.secretName });
    declareObjects(this, [
      {
        apiVersion: 'v1',
        kind: 'Secret',
        namespace: Chart.of(this).namespace,
        name: this.secretName,
        path: this.node.path,
        what: `the Secret of canary "${name}"'s role, created by the secrets Job`,
      },
    ]);
    const probe = (failureThreshold: number): k8s.Probe => ({
      httpGet: { path: '/healthz', port: k8s.IntOrString.fromString('http') },
      periodSeconds: 10,
      timeoutSeconds: 3,
      failureThreshold,
    });

    this.deployment = new k8s.KubeDeployment(this, 'Deployment', {
      metadata: { name, labels },
      spec: {
        replicas,
        selector: { matchLabels: this.selector },
        template: {
          metadata: { labels },
          spec: {
            // The canary talks to PostgreSQL only: no Kubernetes API token, no Service variables.
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            securityContext: agentPodSecurityContext(),
            volumes: [caClientVolume(cluster.name)],
            containers: [
              {
                name: 'canary',
                image: props.image ?? cluster.image,
                command: [PATHS.agentBinary],
                args: ['canary'],
                env,
                ports: [{ name: 'http', containerPort: CANARY_HTTP_PORT, protocol: 'TCP' }],
                volumeMounts: [caClientMount],
                // /healthz answers while the web server runs, whatever the database's state: the page is what shows
                // a database that is down, so the pod must stay up and in the Service then.
                readinessProbe: probe(3),
                livenessProbe: probe(6),
                resources: {
                  requests: { cpu: k8s.Quantity.fromString('10m'), memory: k8s.Quantity.fromString('64Mi') },
                  limits: { memory: k8s.Quantity.fromString('128Mi') },
                },
                securityContext: agentContainerSecurityContext(),
              },
            ],
          },
        },
      },
    });

    this.service = new k8s.KubeService(this, 'Service', {
      metadata: { name, labels },
      spec: {
        type: 'ClusterIP',
        selector: this.selector,
        ports: [{ name: 'http', port: 80, targetPort: k8s.IntOrString.fromString('http'), protocol: 'TCP' }],
      },
    });

    this.networkPolicies = new CanaryNetworkPolicies(this, 'NetworkPolicy', {
      name,
      labels,
      selector: this.selector,
      port: CANARY_HTTP_PORT,
      allowFrom,
      cilium,
      kubernetes,
    });
  }
}
