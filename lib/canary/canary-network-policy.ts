import { ApiObject } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { CiliumNetworkPolicy, CiliumNetworkPolicySpecIngressToPortsPortsProtocol } from '../../imports/cilium-cilium.io';
import { AllowedPeer } from '../network/cluster-network-policy';
import { ValidationError, checkDnsLabel, checkLabels } from '../validation';

/** Who may reach the canary's web port. */
export interface CanaryNetworkPolicyProps {
  /**
   * Pods allowed to open the canary's page (e.g. the ingress controller, `{ namespace: 'ingress-nginx',
   * podLabels: { 'app.kubernetes.io/name': 'ingress-nginx' } }`). Nobody else: `kubectl port-forward` still works,
   * it does not pass through the pod network.
   * @default - none: only a port-forward reaches the page
   */
  readonly allowFrom?: AllowedPeer[];
  /**
   * Render a CiliumNetworkPolicy (cilium.io/v2).
   * @default - as the cluster's `networkPolicy` does (false without one)
   */
  readonly cilium?: boolean;
  /**
   * Render a Kubernetes NetworkPolicy.
   * @default - as the cluster's `networkPolicy` does; true when the cluster renders none or `cilium` is off
   */
  readonly kubernetes?: boolean;
}

export interface CanaryPoliciesProps {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly selector: Record<string, string>;
  readonly port: number;
  readonly allowFrom: AllowedPeer[];
  readonly cilium: boolean;
  readonly kubernetes: boolean;
}

const NAMESPACE_LABEL_K8S = 'kubernetes.io/metadata.name';
const NAMESPACE_LABEL_CILIUM = 'io.kubernetes.pod.namespace';

/** Refuses peers that would open the canary to every pod, or are not valid labels/namespaces. */
export function checkCanaryPeers(prop: string, peers: AllowedPeer[]): void {
  peers.forEach((peer, i) => {
    const at = `${prop}[${i}]`;
    if (!peer?.podLabels || Object.keys(peer.podLabels).length === 0) {
      throw new ValidationError(
        `${at}.podLabels`,
        'is empty, which would allow every pod',
        'Name the labels of the client pods, e.g. { app: "ingress-nginx" }.',
      );
    }
    checkLabels(`${at}.podLabels`, peer.podLabels);
    if (peer.namespace !== undefined) checkDnsLabel(`${at}.namespace`, peer.namespace);
  });
}

/**
 * Ingress to the canary's pods on its web port from the named peers only (none: nothing reaches it through the pod
 * network). The same shapes as the cluster's policies (lib/network), selecting the canary's pods instead.
 */
export class CanaryNetworkPolicies extends Construct {
  readonly kubernetesPolicy?: ApiObject;
  readonly ciliumPolicy?: ApiObject;

  constructor(scope: Construct, id: string, props: CanaryPoliciesProps) {
    super(scope, id);
    const metadata = { name: props.name, labels: props.labels };
    if (props.kubernetes) {
      this.kubernetesPolicy = new k8s.KubeNetworkPolicy(this, 'Kubernetes', {
        metadata,
        spec: {
          podSelector: { matchLabels: props.selector },
          policyTypes: ['Ingress'],
          ingress: props.allowFrom.map(peer => ({
            from: [
              {
                podSelector: { matchLabels: peer.podLabels },
                ...(peer.namespace ? { namespaceSelector: { matchLabels: { [NAMESPACE_LABEL_K8S]: peer.namespace } } } : {}),
              },
            ],
            ports: [{ port: k8s.IntOrString.fromNumber(props.port), protocol: 'TCP' }],
          })),
        },
      });
    }
    if (props.cilium) {
      const ports = [{ ports: [{ port: String(props.port), protocol: CiliumNetworkPolicySpecIngressToPortsPortsProtocol.TCP }] }];
      this.ciliumPolicy = new CiliumNetworkPolicy(this, 'Cilium', {
        metadata,
        spec: {
          endpointSelector: { matchLabels: props.selector },
          // Without peers, one empty rule: Cilium's way to put the endpoint into default deny for ingress.
          ingress: props.allowFrom.length
            ? props.allowFrom.map(peer => ({
                fromEndpoints: [{ matchLabels: { ...peer.podLabels, ...(peer.namespace ? { [NAMESPACE_LABEL_CILIUM]: peer.namespace } : {}) } }],
                toPorts: ports,
              }))
            : [{}],
        },
      });
    }
  }
}
