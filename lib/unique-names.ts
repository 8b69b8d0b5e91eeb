/**
 * Rendered object names never collide within an App (safety invariant 6, DESIGN.md). Two objects with the same API
 * group, kind, namespace and name would be one object in the cluster: the second apply takes over the first (a
 * cluster's RBAC, Job or Service then belongs to another), or a cluster reads another's password from "its" Secret.
 *
 * The check runs over the whole App at synth, as a validation on the App's root construct (cdk8s validates every
 * construct of the App on `app.synth()` and on `Testing.synth(chart)`/`chart.toJson()`). It covers every rendered
 * ApiObject of every chart, ours or not, and the objects our constructs make at run time under names fixed at
 * synth (the Secrets the secrets Job creates, the Lease, the pods and their volume claims).
 */
import { ApiObject } from 'cdk8s';
import { IConstruct } from 'constructs';

/** An object in the cluster that the App makes, rendered or at run time. */
export interface NamedObject {
  /** `v1`, `apps/v1`, `coordination.k8s.io/v1`… (only the group counts). */
  readonly apiVersion: string;
  readonly kind: string;
  /** Undefined: the chart has no namespace (the apply's default), or the kind is cluster-scoped. */
  readonly namespace?: string;
  readonly name: string;
  /** Path of the construct that makes it. */
  readonly path: string;
  /** What it is, for the message, e.g. `the app Secret of database "b_c", created by the secrets Job`. */
  readonly what: string;
}

/** Kinds without a namespace: their names are unique across the whole Kubernetes cluster. */
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'Node',
  'PersistentVolume',
  'PriorityClass',
  'StorageClass',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'CiliumClusterwideNetworkPolicy',
  'ValidatingWebhookConfiguration',
  'MutatingWebhookConfiguration',
  'APIService',
  'IngressClass',
  'RuntimeClass',
  'CSIDriver',
  'VolumeSnapshotClass',
]);

function group(apiVersion: string): string {
  return apiVersion.includes('/') ? apiVersion.split('/')[0] : '';
}

/** Group, kind, namespace and name: what makes two objects the same object in a Kubernetes cluster. */
export function objectKey(o: Pick<NamedObject, 'apiVersion' | 'kind' | 'namespace' | 'name'>): string {
  return [group(o.apiVersion), o.kind, CLUSTER_SCOPED.has(o.kind) ? '' : (o.namespace ?? ''), o.name].join('|');
}

/** `Secret "testsetup/a-b-c-app"`. */
export function describeObject(o: Pick<NamedObject, 'apiVersion' | 'kind' | 'namespace' | 'name'>): string {
  const g = group(o.apiVersion);
  const ns = CLUSTER_SCOPED.has(o.kind) || o.namespace === undefined ? '' : `${o.namespace}/`;
  return `${o.kind}${g ? ` (${g})` : ''} "${ns}${o.name}"`;
}

/** The ApiObjects below `scope`, as named objects. */
export function renderedObjects(scope: IConstruct): NamedObject[] {
  return scope.node
    .findAll()
    .filter((c): c is ApiObject => c instanceof ApiObject)
    .map(o => ({
      apiVersion: o.apiVersion,
      kind: o.kind,
      namespace: o.metadata.namespace,
      name: o.name,
      path: o.node.path,
      what: `rendered ${o.kind}`,
    }));
}

interface Registry {
  /** Objects made at run time, declared by our constructs. */
  readonly declared: NamedObject[];
}
const registries = new WeakMap<IConstruct, Registry>();

function registryOf(scope: IConstruct): Registry {
  const root = scope.node.root;
  let r = registries.get(root);
  if (!r) {
    const registry: Registry = { declared: [] };
    r = registry;
    registries.set(root, registry);
    root.node.addValidation({ validate: () => nameCollisions([...renderedObjects(root), ...registry.declared]) });
  }
  return r;
}

/**
 * Declares objects `scope` makes at run time (they are not in the manifests, but their names are fixed at synth),
 * and makes sure the App-wide check runs at synth. Our constructs call it even with nothing to declare.
 */
export function declareObjects(scope: IConstruct, objects: NamedObject[] = []): void {
  registryOf(scope).declared.push(...objects);
}

/** One message per object that shares group, kind, namespace and name with an earlier one. */
export function nameCollisions(objects: NamedObject[]): string[] {
  const seen = new Map<string, NamedObject>();
  const errors: string[] = [];
  for (const o of objects) {
    const key = objectKey(o);
    const first = seen.get(key);
    if (!first) {
      seen.set(key, o);
      continue;
    }
    errors.push(
      `${describeObject(o)}: made twice, by ${first.path} (${first.what}) and by ${o.path} (${o.what}); in the cluster they would be one object, ` +
        "taken over by whichever is applied last. Rename one of them: a PostgresCluster's objects are named from its `name` " +
        '(`<name>`, `<name>-secrets`, `<name>-backup`, `<name>-rw`…) and its databases (Secret `<name>-<database>-app`, "_" as "-"), so choose names that do not produce the other\'s.',
    );
  }
  return errors;
}
