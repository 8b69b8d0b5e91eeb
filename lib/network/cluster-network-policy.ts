import { k8s } from 'cdk8s-plus-28';
import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { CiliumNetworkPolicy, CiliumNetworkPolicySpecIngressToPortsPortsProtocol } from '../../imports/cilium-cilium.io';
import { checkLabels, checkDnsLabel, ValidationError } from '../validation';

/** A set of pods allowed to reach the cluster. */
export interface AllowedPeer {
  /** Labels the client pods carry, e.g. `{ app: 'keycloak' }`. */
  readonly podLabels: Record<string, string>;
  /**
   * Namespace of the client pods.
   * @default - the cluster's own namespace
   */
  readonly namespace?: string;
}

export interface NetworkPolicyProps {
  /**
   * Render a CiliumNetworkPolicy (cilium.io/v2), as the reference homelab uses.
   * @default false
   */
  readonly cilium?: boolean;
  /**
   * Render a Kubernetes NetworkPolicy (works with any CNI that enforces them, Cilium included).
   * @default true unless `cilium` is set
   */
  readonly kubernetes?: boolean;
  /**
   * Client pods allowed to connect on the PostgreSQL port. The cluster's own pods (instances, backup and secrets
   * Jobs, canary) are always allowed.
   * @default - none
   */
  readonly allowFrom?: AllowedPeer[];
  /**
   * The Prometheus that scrapes the instances' metrics port (8000, `/metrics`): its namespace, and optionally its
   * pods' labels. Only that port is opened to it, not PostgreSQL's.
   * @default - the metrics port is reachable from the cluster's own pods only
   */
  readonly metricsFrom?: MetricsScraper;
}

/** The pods allowed to scrape the metrics port. */
export interface MetricsScraper {
  /** Namespace of the Prometheus pods, e.g. `monitoring`. */
  readonly namespace: string;
  /**
   * Labels of the Prometheus pods, e.g. `{ 'app.kubernetes.io/name': 'prometheus' }`.
   * @default - every pod of the namespace
   */
  readonly podLabels?: Record<string, string>;
}

export interface ClusterNetworkPolicyProps extends NetworkPolicyProps {
  readonly name: string;
  /** Labels every pod of the cluster carries (instances and Jobs). */
  readonly clusterSelector: Record<string, string>;
  /** Labels of the instance pods (the ones protected). */
  readonly instanceSelector: Record<string, string>;
  readonly labels: Record<string, string>;
  readonly postgresPort: number;
  readonly httpPort: number;
}

const NAMESPACE_LABEL_K8S = 'kubernetes.io/metadata.name';
const NAMESPACE_LABEL_CILIUM = 'io.kubernetes.pod.namespace';

/** Ingress rules for the instance pods: the cluster's own pods and the named apps, nothing else. */
export class ClusterNetworkPolicy extends Construct {
  /** Escape hatches to the rendered policies (absent when not rendered). */
  readonly kubernetesPolicy?: ApiObject;
  readonly ciliumPolicy?: ApiObject;

  constructor(scope: Construct, id: string, props: ClusterNetworkPolicyProps) {
    super(scope, id);
    const allowFrom = props.allowFrom ?? [];
    allowFrom.forEach((peer, i) => {
      const prop = `networkPolicy.allowFrom[${i}]`;
      if (!peer.podLabels || Object.keys(peer.podLabels).length === 0) {
        throw new ValidationError(
          `${prop}.podLabels`,
          'is empty, which would allow every pod',
          'Name the labels of the client pods, e.g. { app: "keycloak" }.',
        );
      }
      checkLabels(`${prop}.podLabels`, peer.podLabels);
      if (peer.namespace !== undefined) checkDnsLabel(`${prop}.namespace`, peer.namespace);
    });
    const scraper = props.metricsFrom;
    if (scraper) {
      checkDnsLabel('networkPolicy.metricsFrom.namespace', scraper.namespace);
      if (scraper.podLabels) checkLabels('networkPolicy.metricsFrom.podLabels', scraper.podLabels);
    }
    const useCilium = props.cilium ?? false;
    const useKubernetes = props.kubernetes ?? !useCilium;
    if (!useCilium && !useKubernetes) {
      throw new ValidationError(
        'networkPolicy',
        'has both cilium and kubernetes turned off',
        'Leave networkPolicy out to render none, or turn one on.',
      );
    }
    const metadata = { name: props.name, labels: props.labels };

    if (useKubernetes) {
      const pg = { port: props.postgresPort, protocol: 'TCP' };
      this.kubernetesPolicy = new k8s.KubeNetworkPolicy(this, 'Kubernetes', {
        metadata,
        spec: {
          podSelector: { matchLabels: props.instanceSelector },
          policyTypes: ['Ingress'],
          ingress: [
            {
              from: [{ podSelector: { matchLabels: props.clusterSelector } }],
              ports: [pg, { port: props.httpPort, protocol: 'TCP' }].map(p => ({ port: k8s.IntOrString.fromNumber(p.port), protocol: p.protocol })),
            },
            ...allowFrom.map(peer => ({
              from: [
                {
                  podSelector: { matchLabels: peer.podLabels },
                  ...(peer.namespace ? { namespaceSelector: { matchLabels: { [NAMESPACE_LABEL_K8S]: peer.namespace } } } : {}),
                },
              ],
              ports: [{ port: k8s.IntOrString.fromNumber(pg.port), protocol: pg.protocol }],
            })),
            ...(scraper
              ? [
                  {
                    from: [
                      {
                        namespaceSelector: { matchLabels: { [NAMESPACE_LABEL_K8S]: scraper.namespace } },
                        ...(scraper.podLabels ? { podSelector: { matchLabels: scraper.podLabels } } : {}),
                      },
                    ],
                    ports: [{ port: k8s.IntOrString.fromNumber(props.httpPort), protocol: 'TCP' }],
                  },
                ]
              : []),
          ],
        },
      });
    }

    if (useCilium) {
      const tcp = (port: number) => ({ port: String(port), protocol: CiliumNetworkPolicySpecIngressToPortsPortsProtocol.TCP });
      this.ciliumPolicy = new CiliumNetworkPolicy(this, 'Cilium', {
        metadata,
        spec: {
          endpointSelector: { matchLabels: props.instanceSelector },
          ingress: [
            { fromEndpoints: [{ matchLabels: props.clusterSelector }], toPorts: [{ ports: [tcp(props.postgresPort), tcp(props.httpPort)] }] },
            ...allowFrom.map(peer => ({
              fromEndpoints: [{ matchLabels: { ...peer.podLabels, ...(peer.namespace ? { [NAMESPACE_LABEL_CILIUM]: peer.namespace } : {}) } }],
              toPorts: [{ ports: [tcp(props.postgresPort)] }],
            })),
            ...(scraper
              ? [
                  {
                    fromEndpoints: [{ matchLabels: { ...scraper.podLabels, [NAMESPACE_LABEL_CILIUM]: scraper.namespace } }],
                    toPorts: [{ ports: [tcp(props.httpPort)] }],
                  },
                ]
              : []),
          ],
        },
      });
    }
  }
}
