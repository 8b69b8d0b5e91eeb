// Storage and write semantics: what k8s.io/apiserver's generic registry store and its etcd3 storage do.
// The order of checks follows the real request path, so that a request with several faults gets the same error:
// decode (400) → name/namespace match (400) → existence (404) → preconditions and resourceVersion (409) →
// strategy and validation (422) → storage (409 AlreadyExists on create).

import { randomBytes, randomUUID } from 'crypto';
import { PatchApplyError, PatchDecodeError, clone, decodeJsonPatch, deepEqual, jsonPatch, mergePatch, strategicMergePatch } from './patch';
import { KubeObject, ResourceType } from './resources';
import { parseFieldSelector, parseLabelSelector } from './selectors';
import { alreadyExists, badRequest, conflict, fieldInvalid, internalError, invalid, notFound, patchNotApplicable, undecodable } from './status';

export interface WriteOptions {
  /** `?dryRun=All`: every check runs, nothing is stored. */
  dryRun?: boolean;
}

export interface DeleteOptions {
  preconditions?: { uid?: string; resourceVersion?: string };
  gracePeriodSeconds?: number;
}

export const PATCH_TYPES = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json'] as const;
export type PatchType = (typeof PATCH_TYPES)[number];

/** creationTimestamp has second precision, like metav1.Time. */
const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

/** The suffix generateName gets (5 characters from the apiserver's alphabet without vowels and look-alikes). */
function randomSuffix(): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return [...randomBytes(5)].map(b => alphabet[b % alphabet.length]).join('');
}

export class Registry {
  private objects = new Map<string, KubeObject>();
  /** The etcd revision: every write takes the next one, and it becomes the object's resourceVersion. */
  private revision = 100;

  get resourceVersion(): string {
    return String(this.revision);
  }

  find(rt: ResourceType, namespace: string, name: string): KubeObject | undefined {
    const stored = this.objects.get(key(rt, namespace, name));
    return stored && clone(stored);
  }

  get(rt: ResourceType, namespace: string, name: string): KubeObject {
    const found = this.find(rt, namespace, name);
    if (!found) throw notFound(rt, name);
    return found;
  }

  /** Items come sorted by namespace and name (etcd key order) and, as from the real API, without kind/apiVersion. */
  list(rt: ResourceType, namespace: string | undefined, labelSelector?: string | null, fieldSelector?: string | null): object {
    return {
      kind: rt.listKind,
      apiVersion: rt.apiVersion,
      metadata: { resourceVersion: this.resourceVersion },
      items: this.select(rt, namespace, labelSelector, fieldSelector).map(withoutTypeMeta),
    };
  }

  create(rt: ResourceType, namespace: string, body: unknown, opts: WriteOptions = {}): KubeObject {
    const obj = decode(rt, body);
    checkNamespace(obj, namespace);
    rt.normalize(obj);
    const meta = obj.metadata;
    if (!meta.name && meta.generateName) meta.name = meta.generateName + randomSuffix();
    const requestedVersion = meta.resourceVersion;
    Object.assign(meta, { namespace, uid: randomUUID(), creationTimestamp: now() });
    delete meta.resourceVersion;
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    rt.prepareForCreate(obj);
    const errors = rt.validate(obj);
    if (errors.length) throw invalid(rt, meta.name ?? '', errors);
    // etcd3 storage refuses a create that names a version, e.g. an object copied from a GET.
    if (requestedVersion) throw internalError('resourceVersion should not be set on objects to be created');
    if (this.objects.has(key(rt, namespace, meta.name!))) throw alreadyExists(rt, meta.name!);
    return this.store(rt, obj, opts);
  }

  update(rt: ResourceType, namespace: string, name: string, body: unknown, opts: WriteOptions = {}): KubeObject {
    const obj = decode(rt, body);
    checkName(obj, name, namespace);
    rt.normalize(obj);
    return this.replace(rt, this.get(rt, namespace, name), obj, opts);
  }

  patch(rt: ResourceType, namespace: string, name: string, type: PatchType, rawBody: string, opts: WriteOptions = {}): KubeObject {
    const current = this.get(rt, namespace, name);
    const patched = applyPatch(type, current, rawBody);
    // The patched JSON is decoded into the Go type; a failure there is reported as an invalid "patch" field.
    const why = rt.decode(patched as KubeObject);
    if (why) throw invalid(undefined, '', [fieldInvalid('patch', JSON.stringify(patched), why)]);
    const obj = patched as KubeObject;
    checkName(obj, name, namespace);
    rt.normalize(obj);
    return this.replace(rt, current, obj, opts);
  }

  delete(rt: ResourceType, namespace: string, name: string, options: DeleteOptions = {}, opts: WriteOptions = {}): object {
    const current = this.get(rt, namespace, name);
    checkDeletePreconditions(rt, current, options);
    if (!opts.dryRun) {
      this.objects.delete(key(rt, namespace, name));
      this.revision++;
    }
    if (rt.returnsDeletedObject) return current;
    const details = { name, group: rt.group || undefined, kind: rt.resource, uid: current.metadata.uid };
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details };
  }

  /**
   * A graceful delete, as the API server does for a pod on a node: the object stays with `deletionTimestamp` and
   * `deletionGracePeriodSeconds` until the kubelet reports its containers gone (the test then calls `remove`).
   * Deleting a pod that is already terminating answers it unchanged.
   */
  markDeleting(rt: ResourceType, namespace: string, name: string, options: DeleteOptions = {}, opts: WriteOptions = {}): KubeObject {
    const current = this.get(rt, namespace, name);
    checkDeletePreconditions(rt, current, options);
    if (current.metadata.deletionTimestamp || opts.dryRun) return current;
    const grace = options.gracePeriodSeconds ?? (current as any).spec?.terminationGracePeriodSeconds ?? 30;
    const marked = clone(current);
    Object.assign(marked.metadata, { deletionTimestamp: now(), deletionGracePeriodSeconds: grace });
    return this.store(rt, marked, {});
  }

  deleteCollection(
    rt: ResourceType,
    namespace: string,
    labelSelector?: string | null,
    fieldSelector?: string | null,
    opts: WriteOptions = {},
  ): object {
    const doomed = this.select(rt, namespace, labelSelector, fieldSelector);
    for (const obj of doomed) this.delete(rt, namespace, obj.metadata.name!, {}, opts);
    return { kind: rt.listKind, apiVersion: rt.apiVersion, metadata: { resourceVersion: this.resourceVersion }, items: doomed.map(withoutTypeMeta) };
  }

  /**
   * Test setup: create or overwrite an object as a controller or the kubelet would, without validation and without
   * the create-time status reset. System fields are still filled and the version still moves.
   */
  seed(rt: ResourceType, body: KubeObject): KubeObject {
    const obj = clone(body);
    rt.normalize(obj);
    const namespace = obj.metadata.namespace ?? 'default';
    if (!obj.metadata.name) throw new Error('seed: metadata.name is required');
    const existing = this.find(rt, namespace, obj.metadata.name);
    Object.assign(obj.metadata, {
      namespace,
      uid: existing?.metadata.uid ?? obj.metadata.uid ?? randomUUID(),
      creationTimestamp: existing?.metadata.creationTimestamp ?? obj.metadata.creationTimestamp ?? now(),
    });
    return this.store(rt, obj, {});
  }

  /** Test helper: deletes without preconditions; true when there was something to delete. */
  remove(rt: ResourceType, namespace: string, name: string): boolean {
    const existed = this.objects.delete(key(rt, namespace, name));
    if (existed) this.revision++;
    return existed;
  }

  // -------------------------------------------------------------------------------------------- internals

  private select(rt: ResourceType, namespace: string | undefined, labelSelector?: string | null, fieldSelector?: string | null): KubeObject[] {
    const labels = parseLabelSelector(labelSelector ?? null);
    const fields = parseFieldSelector(fieldSelector ?? null, rt.selectableFields);
    const prefix = namespace === undefined ? `${rt.group}/${rt.resource}/` : `${rt.group}/${rt.resource}/${namespace}/`;
    return [...this.objects.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, obj]) => clone(obj))
      .filter(obj => labels(k => obj.metadata.labels?.[k]) && fields(path => fieldValue(obj, path)));
  }

  /** The shared tail of PUT and PATCH: GuaranteedUpdate's preconditions, the strategy, validation, the write. */
  private replace(rt: ResourceType, old: KubeObject, obj: KubeObject, opts: WriteOptions): KubeObject {
    const name = old.metadata.name!;
    const { uid, resourceVersion } = obj.metadata;
    if (uid && uid !== old.metadata.uid) {
      throw conflict(rt, name, `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${old.metadata.uid}`);
    }
    // Without a resourceVersion the update is unconditional (these kinds allow unconditional update).
    if (resourceVersion && resourceVersion !== old.metadata.resourceVersion) throw conflict(rt, name);
    for (const f of ['uid', 'creationTimestamp', 'namespace', 'deletionTimestamp', 'deletionGracePeriodSeconds']) {
      if (old.metadata[f] === undefined) delete obj.metadata[f];
      else obj.metadata[f] = old.metadata[f];
    }
    rt.prepareForUpdate(obj, old);
    const errors = rt.validate(obj, old);
    if (errors.length) throw invalid(rt, name, errors);
    // etcd3 skips a write whose bytes equal the stored ones: no new resourceVersion for a no-op update.
    obj.metadata.resourceVersion = old.metadata.resourceVersion;
    if (deepEqual(withTypeMeta(rt, obj), old)) return old;
    return this.store(rt, obj, opts);
  }

  private store(rt: ResourceType, obj: KubeObject, opts: WriteOptions): KubeObject {
    const typed = withTypeMeta(rt, obj);
    if (opts.dryRun) {
      delete typed.metadata.resourceVersion;
      return typed;
    }
    typed.metadata.resourceVersion = String(++this.revision);
    this.objects.set(key(rt, typed.metadata.namespace!, typed.metadata.name!), clone(typed));
    return typed;
  }
}

function key(rt: ResourceType, namespace: string, name: string): string {
  return `${rt.group}/${rt.resource}/${namespace}/${name}`;
}

/** kind and apiVersion first, as the API server serializes them. */
function withTypeMeta(rt: ResourceType, obj: KubeObject): KubeObject {
  const { apiVersion: _a, kind: _k, ...rest } = obj;
  return { apiVersion: rt.apiVersion, kind: rt.kind, ...clone(rest) } as KubeObject;
}

function withoutTypeMeta(obj: KubeObject): KubeObject {
  const { apiVersion: _a, kind: _k, ...rest } = obj;
  return rest as KubeObject;
}

function decode(rt: ResourceType, body: unknown): KubeObject {
  const why = rt.decode(body as KubeObject);
  if (why) throw undecodable(rt, rt.version, why);
  const obj = clone(body) as KubeObject;
  if ((obj.kind && obj.kind !== rt.kind) || (obj.apiVersion && obj.apiVersion !== rt.apiVersion)) {
    throw badRequest(
      `the API version in the data (${obj.apiVersion ?? ''}) does not match the expected API version (${rt.apiVersion})` +
        (obj.kind && obj.kind !== rt.kind ? `, or the kind (${obj.kind}) is not ${rt.kind}` : ''),
    );
  }
  return obj;
}

function checkNamespace(obj: KubeObject, namespace: string): void {
  const given = obj.metadata?.namespace;
  if (given && given !== namespace) {
    throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
  }
}

/** rest.go checkName: the body must name the object of the URL. */
function checkName(obj: KubeObject, name: string, namespace: string): void {
  const objName = obj.metadata?.name ?? '';
  if (objName !== name) throw badRequest(`the name of the object (${objName}) does not match the name on the URL (${name})`);
  const objNamespace = obj.metadata?.namespace;
  if (objNamespace && objNamespace !== namespace) {
    throw badRequest(`the namespace of the object (${objNamespace}) does not match the namespace on the request (${namespace})`);
  }
}

function checkDeletePreconditions(rt: ResourceType, current: KubeObject, options: DeleteOptions): void {
  const { uid, resourceVersion } = options.preconditions ?? {};
  const storageError = (why: string) =>
    conflict(
      rt,
      current.metadata.name!,
      `StorageError: invalid object, Code: 4, Key: /registry/${rt.resource}/${current.metadata.namespace}/${current.metadata.name}, ` +
        `ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: ${why}`,
    );
  if (uid && uid !== current.metadata.uid) {
    throw storageError(`UID in precondition: ${uid}, UID in object meta: ${current.metadata.uid}`);
  }
  if (resourceVersion && resourceVersion !== current.metadata.resourceVersion) {
    throw storageError(`ResourceVersion in precondition: ${resourceVersion}, ResourceVersion in object meta: ${current.metadata.resourceVersion}`);
  }
}

function applyPatch(type: PatchType, current: KubeObject, rawBody: string): unknown {
  let patch: unknown;
  try {
    patch = JSON.parse(rawBody);
  } catch (e) {
    throw badRequest(`error decoding patch: ${(e as Error).message}`);
  }
  try {
    if (type === 'application/json-patch+json') return jsonPatch(current, decodeJsonPatch(patch));
    if (type === 'application/merge-patch+json') return mergePatch(current, patch);
    if (!isPatchObject(patch)) throw badRequest('json: cannot unmarshal array into Go value of type map[string]interface {}');
    return strategicMergePatch(current, patch);
  } catch (e) {
    if (e instanceof PatchDecodeError) throw badRequest(e.message);
    if (e instanceof PatchApplyError) throw patchNotApplicable();
    throw e;
  }
}

const isPatchObject = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);

/** fieldSelector values: absent fields compare as the empty string, as in the real field sets. */
function fieldValue(obj: KubeObject, path: string): string {
  const value = path.split('.').reduce<any>((o, k) => (o === undefined || o === null ? undefined : o[k]), obj);
  return value === undefined || value === null ? '' : String(value);
}
