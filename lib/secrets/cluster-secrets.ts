import { ApiObject, Lazy } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { ENV, SecretSpec, TlsSpec, names, COMPONENTS } from '../contract';
import { tlsEnv, tlsSecretRules } from '../tls/cluster-tls';
import { agentContainer, agentPodSecurityContext } from '../pod/pod-security';

export interface ClusterSecretsProps {
  readonly cluster: string;
  readonly image: string;
  /** The Secrets to make sure exist. */
  readonly specs: SecretSpec[];
  /** Labels for the Job, its pod and RBAC objects. */
  readonly labels: Record<string, string>;
  readonly podLabels: Record<string, string>;
  readonly priorityClassName?: string;
  /** The cluster's TLS: the Job creates the generated CA and certificate and the public `<cluster>-ca`. */
  readonly tls?: TlsSpec;
  /** Tolerations and node selector of the cluster's scheduling props. */
  readonly placement?: Pick<k8s.PodSpec, 'tolerations' | 'nodeSelector'>;
}

/**
 * The `<cluster>-secrets` Job: runs `agent secrets`, which creates the missing credentials Secrets in-cluster and
 * never overwrites one. Its ServiceAccount may create Secrets and read only the ones it manages.
 */
export class ClusterSecrets extends Construct {
  readonly job: ApiObject;

  constructor(scope: Construct, id: string, props: ClusterSecretsProps) {
    super(scope, id);
    const name = names.secretsJob(props.cluster);
    const metadata = { name, labels: props.labels };
    // Lazy: a CanaryApp adds its role's Secret to the specs after the cluster is constructed.
    const managed = Lazy.any({ produce: () => props.specs.flatMap(s => s.names) });

    new k8s.KubeServiceAccount(this, 'ServiceAccount', { metadata, automountServiceAccountToken: true });
    new k8s.KubeRole(this, 'Role', {
      metadata,
      rules: [
        // `create` cannot be limited by name in Kubernetes RBAC; reading is limited to the managed Secrets.
        { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
        { apiGroups: [''], resources: ['secrets'], resourceNames: managed, verbs: ['get'] },
        ...(props.tls ? tlsSecretRules(props.tls) : []),
      ],
    });
    new k8s.KubeRoleBinding(this, 'RoleBinding', {
      metadata,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name }],
    });

    this.job = new k8s.KubeJob(this, 'Job', {
      metadata: {
        ...metadata,
        annotations: {
          // A Job's pod template is immutable: let GitOps tools replace it when the spec changes.
          'kustomize.toolkit.fluxcd.io/force': 'enabled',
          'argocd.argoproj.io/sync-options': 'Force=true,Replace=true',
        },
      },
      spec: {
        backoffLimit: 6,
        activeDeadlineSeconds: 600,
        template: {
          metadata: { labels: { ...props.podLabels } },
          spec: {
            serviceAccountName: name,
            restartPolicy: 'OnFailure',
            priorityClassName: props.priorityClassName,
            ...props.placement,
            securityContext: agentPodSecurityContext(),
            containers: [
              agentContainer({
                name: COMPONENTS.secrets,
                image: props.image,
                command: 'secrets',
                cluster: props.cluster,
                env: [
                  { name: ENV.secrets, value: Lazy.any({ produce: () => JSON.stringify(props.specs) }) },
                  ...(props.tls ? [tlsEnv(props.tls)] : []),
                ],
                resources: {
                  requests: { cpu: k8s.Quantity.fromString('10m'), memory: k8s.Quantity.fromString('64Mi') },
                  limits: { memory: k8s.Quantity.fromString('256Mi') },
                },
              }),
            ],
          },
        },
      },
    });
  }
}
