// The kinds the double serves and, for each, what the API server's decoder, strategy and validation do with a
// body (k8s.io/kubernetes/pkg/apis/*/validation, pkg/registry/*/strategy.go), reduced to the rules a client of
// these kinds can trip over.

import { isObject, deepEqual } from './patch';
import { FieldError, GroupResource, fieldForbidden, fieldInvalid, fieldRequired, fieldTooLong } from './status';

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [key: string]: any;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [key: string]: any;
}

export interface ResourceType extends GroupResource {
  version: string;
  apiVersion: string;
  listKind: string;
  /** fieldSelector fields besides metadata.name and metadata.namespace. */
  selectableFields: string[];
  /** DELETE answers with the deleted object (pods) rather than a Status. */
  returnsDeletedObject: boolean;
  /** Type checks of the JSON decoder: returns why the body cannot be decoded into the Go type. */
  decode(obj: KubeObject): string | undefined;
  /** Conversion and defaulting that every incoming body goes through (Secret.stringData is folded into data). */
  normalize(obj: KubeObject): void;
  prepareForCreate(obj: KubeObject): void;
  prepareForUpdate(obj: KubeObject, old: KubeObject): void;
  validate(obj: KubeObject, old?: KubeObject): FieldError[];
}

// ------------------------------------------------------------------------------------------ shared checks

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;
const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$/;
const MAX_DATA_BYTES = 1024 * 1024;

const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const NAME_PART_MSG =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const CONFIG_KEY_MSG =
  "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
const IMMUTABLE_MSG = 'field is immutable when `immutable` is set';

/** Go's name for the JSON type of a value, as its decoder errors spell it. */
function jsonType(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'boolean') return 'bool';
  return typeof v === 'object' ? 'object' : typeof v;
}

const cannotUnmarshal = (v: unknown, field: string, goType: string) =>
  `json: cannot unmarshal ${jsonType(v)} into Go struct field ${field} of type ${goType}`;

/** A map[string]T field: an object whose values are all strings (null values decode to ""). */
function checkStringMap(value: unknown, field: string, goType = 'string'): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) return cannotUnmarshal(value, field, `map[string]${goType}`);
  const bad = Object.values(value).find(v => v !== null && typeof v !== 'string');
  return bad === undefined ? undefined : cannotUnmarshal(bad, field, goType);
}

function decodeMeta(obj: KubeObject, kind: string): string | undefined {
  if (!isObject(obj)) return `json: cannot unmarshal ${jsonType(obj)} into Go value of type ${kind}`;
  if (obj.metadata === undefined || obj.metadata === null) return undefined;
  if (!isObject(obj.metadata)) return cannotUnmarshal(obj.metadata, `${kind}.metadata`, 'v1.ObjectMeta');
  for (const f of ['name', 'generateName', 'namespace', 'uid', 'resourceVersion']) {
    const v = obj.metadata[f];
    if (v !== undefined && v !== null && typeof v !== 'string') return cannotUnmarshal(v, `ObjectMeta.metadata.${f}`, 'string');
  }
  return (
    checkStringMap(obj.metadata.labels, 'ObjectMeta.metadata.labels') ?? checkStringMap(obj.metadata.annotations, 'ObjectMeta.metadata.annotations')
  );
}

/** Go decodes JSON null into a zero value: a null map disappears, a null string becomes "". */
function normalizeMeta(obj: KubeObject): void {
  obj.metadata = isObject(obj.metadata) ? obj.metadata : {};
  for (const f of ['labels', 'annotations'] as const) {
    const map = obj.metadata[f];
    if (map === null || (isObject(map) && Object.keys(map).length === 0)) delete obj.metadata[f];
    else if (map) for (const k of Object.keys(map)) if (map[k] === null) map[k] = '';
  }
}

/** Go's StdEncoding (padded); returns the offset of the first illegal byte, or -1. */
function illegalBase64At(text: string): number {
  const s = text.replace(/[\r\n]/g, '');
  const bad = s.search(/[^A-Za-z0-9+/=]/);
  if (bad >= 0) return bad;
  const pad = s.indexOf('=');
  if (pad >= 0 && !/^={1,2}$/.test(s.slice(pad))) return pad;
  if (s.length % 4 !== 0) return s.length - (s.length % 4);
  return -1;
}

function checkBase64Map(value: unknown, field: string): string | undefined {
  const typeError = checkStringMap(value, field, '[]uint8');
  if (typeError || !isObject(value)) return typeError;
  for (const v of Object.values(value)) {
    const at = illegalBase64At(String(v ?? ''));
    if (at >= 0) return `illegal base64 data at input byte ${at}`;
  }
  return undefined;
}

function qualifiedNameErrors(key: string, field: string): FieldError[] {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  const errors: FieldError[] = [];
  if (prefix !== undefined && (!DNS1123_SUBDOMAIN.test(prefix) || prefix.length > 253)) {
    errors.push(fieldInvalid(field, key, `prefix part ${SUBDOMAIN_MSG}`));
  }
  if (name.length > 63) errors.push(fieldInvalid(field, key, 'name part must be no more than 63 characters'));
  else if (!QUALIFIED_NAME_PART.test(name)) errors.push(fieldInvalid(field, key, NAME_PART_MSG));
  return errors;
}

function validateMeta(obj: KubeObject): FieldError[] {
  const errors: FieldError[] = [];
  const name = obj.metadata.name ?? '';
  if (name === '') errors.push(fieldRequired('metadata.name', 'name or generateName is required'));
  else if (name.length > 253) errors.push(fieldInvalid('metadata.name', name, 'must be no more than 253 characters'));
  else if (!DNS1123_SUBDOMAIN.test(name)) errors.push(fieldInvalid('metadata.name', name, SUBDOMAIN_MSG));
  for (const [key, value] of Object.entries(obj.metadata.labels ?? {})) {
    errors.push(...qualifiedNameErrors(key, 'metadata.labels'));
    if (value.length > 63) errors.push(fieldInvalid('metadata.labels', value, 'must be no more than 63 characters'));
    else if (!LABEL_VALUE.test(value)) errors.push(fieldInvalid('metadata.labels', value, LABEL_VALUE_MSG));
  }
  for (const key of Object.keys(obj.metadata.annotations ?? {})) errors.push(...qualifiedNameErrors(key, 'metadata.annotations'));
  return errors;
}

function dataKeyErrors(maps: Array<[string, Record<string, string> | undefined]>): FieldError[] {
  const errors: FieldError[] = [];
  let size = 0;
  for (const [field, map] of maps) {
    for (const [key, value] of Object.entries(map ?? {})) {
      if (!CONFIG_KEY.test(key)) errors.push(fieldInvalid(`${field}[${key}]`, key, CONFIG_KEY_MSG));
      size += key.length + value.length;
    }
  }
  if (size > MAX_DATA_BYTES) errors.push(fieldTooLong(maps[0][0], MAX_DATA_BYTES));
  return errors;
}

/** Secret and ConfigMap with `immutable: true` refuse changes to their content and to the flag itself. */
function immutabilityErrors(obj: KubeObject, old: KubeObject | undefined, contentFields: string[]): FieldError[] {
  if (old?.immutable !== true) return [];
  const errors: FieldError[] = [];
  if (obj.immutable !== true) errors.push(fieldForbidden('immutable', IMMUTABLE_MSG));
  for (const f of contentFields) if (!deepEqual(obj[f] ?? {}, old[f] ?? {})) errors.push(fieldForbidden(f, IMMUTABLE_MSG));
  return errors;
}

// ------------------------------------------------------------------------------------------------ kinds

type KindRules = Partial<
  Pick<ResourceType, 'decode' | 'normalize' | 'prepareForCreate' | 'prepareForUpdate' | 'validate' | 'selectableFields' | 'returnsDeletedObject'>
>;

function define(group: string, version: string, resource: string, kind: string, rules: KindRules): ResourceType {
  return {
    group,
    version,
    resource,
    kind,
    apiVersion: group ? `${group}/${version}` : version,
    listKind: `${kind}List`,
    selectableFields: rules.selectableFields ?? [],
    returnsDeletedObject: rules.returnsDeletedObject ?? false,
    decode: obj => decodeMeta(obj, kind) ?? rules.decode?.(obj),
    normalize: obj => {
      normalizeMeta(obj);
      rules.normalize?.(obj);
    },
    prepareForCreate: obj => rules.prepareForCreate?.(obj),
    prepareForUpdate: (obj, old) => rules.prepareForUpdate?.(obj, old),
    validate: (obj, old) => [...validateMeta(obj), ...(rules.validate?.(obj, old) ?? [])],
  };
}

/** Keys a typed Secret must carry (ValidateSecret). */
const REQUIRED_SECRET_KEYS: Record<string, string[][]> = {
  'kubernetes.io/basic-auth': [['username', 'password']], // at least one of them
  'kubernetes.io/ssh-auth': [['ssh-privatekey']],
  'kubernetes.io/tls': [['tls.crt'], ['tls.key']],
  'kubernetes.io/dockerconfigjson': [['.dockerconfigjson']],
  'kubernetes.io/dockercfg': [['.dockercfg']],
};

const secrets = define('', 'v1', 'secrets', 'Secret', {
  selectableFields: ['type'],
  decode: obj =>
    checkBase64Map(obj.data, 'Secret.data') ??
    checkStringMap(obj.stringData, 'Secret.stringData') ??
    (obj.type !== undefined && typeof obj.type !== 'string' ? cannotUnmarshal(obj.type, 'Secret.type', 'v1.SecretType') : undefined),
  // v1 → internal conversion: stringData wins over data for the same key and is never stored.
  normalize: obj => {
    if (isObject(obj.stringData)) {
      obj.data = { ...(obj.data ?? {}) };
      for (const [k, v] of Object.entries(obj.stringData)) obj.data[k] = Buffer.from(String(v ?? ''), 'utf8').toString('base64');
    }
    delete obj.stringData;
    if (obj.data === null) delete obj.data;
    if (!obj.type) obj.type = 'Opaque';
  },
  validate: (obj, old) => {
    const errors = dataKeyErrors([['data', obj.data]]);
    for (const anyOf of REQUIRED_SECRET_KEYS[obj.type] ?? []) {
      if (!anyOf.some(k => obj.data?.[k] !== undefined)) errors.push(...anyOf.map(k => fieldRequired(`data[${k}]`)));
    }
    if (old && obj.type !== old.type) errors.push(fieldInvalid('type', obj.type, 'field is immutable'));
    return [...errors, ...immutabilityErrors(obj, old, ['data'])];
  },
});

const configmaps = define('', 'v1', 'configmaps', 'ConfigMap', {
  decode: obj => checkStringMap(obj.data, 'ConfigMap.data') ?? checkBase64Map(obj.binaryData, 'ConfigMap.binaryData'),
  validate: (obj, old) => {
    const errors = dataKeyErrors([
      ['data', obj.data],
      ['binaryData', obj.binaryData],
    ]);
    for (const key of Object.keys(obj.data ?? {})) {
      if (obj.binaryData?.[key] !== undefined) errors.push(fieldInvalid(`data[${key}]`, key, 'duplicate of key present in binaryData'));
    }
    return [...errors, ...immutabilityErrors(obj, old, ['data', 'binaryData'])];
  },
});

/** The parts of a pod spec an update may change (ValidatePodUpdate). */
function mutablePartsBlanked(spec: any): unknown {
  const copy = JSON.parse(JSON.stringify(spec ?? {}));
  for (const list of ['containers', 'initContainers']) for (const c of copy[list] ?? []) delete c.image;
  delete copy.activeDeadlineSeconds;
  delete copy.tolerations;
  delete copy.terminationGracePeriodSeconds;
  return copy;
}

const pods = define('', 'v1', 'pods', 'Pod', {
  selectableFields: [
    'spec.nodeName',
    'spec.restartPolicy',
    'spec.schedulerName',
    'spec.serviceAccountName',
    'spec.hostNetwork',
    'status.phase',
    'status.podIP',
    'status.nominatedNodeName',
  ],
  returnsDeletedObject: true,
  decode: obj => (obj.spec !== undefined && !isObject(obj.spec) ? cannotUnmarshal(obj.spec, 'Pod.spec', 'v1.PodSpec') : undefined),
  // Status belongs to the kubelet: it is reset on create and ignored on update of the main resource.
  prepareForCreate: obj => {
    obj.status = { phase: 'Pending' };
  },
  prepareForUpdate: (obj, old) => {
    obj.status = JSON.parse(JSON.stringify(old.status ?? {}));
  },
  validate: (obj, old) => {
    if (old) {
      return deepEqual(mutablePartsBlanked(obj.spec), mutablePartsBlanked(old.spec))
        ? []
        : [
            fieldForbidden(
              'spec',
              'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
            ),
          ];
    }
    const containers = obj.spec?.containers;
    if (!Array.isArray(containers) || containers.length === 0) return [fieldRequired('spec.containers')];
    return containers.flatMap((c: any, i: number) => [
      ...(c?.name ? [] : [fieldRequired(`spec.containers[${i}].name`)]),
      ...(c?.image ? [] : [fieldRequired(`spec.containers[${i}].image`)]),
    ]);
  },
});

function decodeLeaseSpec(spec: any): string | undefined {
  if (spec === undefined || spec === null) return undefined;
  if (!isObject(spec)) return cannotUnmarshal(spec, 'Lease.spec', 'v1.LeaseSpec');
  for (const f of ['acquireTime', 'renewTime']) {
    const v = spec[f];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string') return cannotUnmarshal(v, `LeaseSpec.spec.${f}`, 'v1.MicroTime');
    // metav1.MicroTime parses with layout RFC3339Micro: exactly six fractional digits.
    if (!MICRO_TIME.test(v)) {
      const rest = v.match(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(.*)$/)?.[1] ?? v;
      return `parsing time "${v}" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "${rest}" as ".000000"`;
    }
  }
  for (const f of ['leaseDurationSeconds', 'leaseTransitions']) {
    const v = spec[f];
    if (v !== undefined && v !== null && !Number.isInteger(v)) return cannotUnmarshal(v, `LeaseSpec.spec.${f}`, 'int32');
  }
  const holder = spec.holderIdentity;
  return holder !== undefined && holder !== null && typeof holder !== 'string'
    ? cannotUnmarshal(holder, 'LeaseSpec.spec.holderIdentity', 'string')
    : undefined;
}

const leases = define('coordination.k8s.io', 'v1', 'leases', 'Lease', {
  decode: obj => decodeLeaseSpec(obj.spec),
  validate: obj => {
    const errors: FieldError[] = [];
    const { leaseDurationSeconds: duration, leaseTransitions: transitions } = obj.spec ?? {};
    if (typeof duration === 'number' && duration <= 0) errors.push(fieldInvalid('spec.leaseDurationSeconds', duration, 'must be greater than 0'));
    if (typeof transitions === 'number' && transitions < 0)
      errors.push(fieldInvalid('spec.leaseTransitions', transitions, 'must be greater than or equal to 0'));
    return errors;
  },
});

/**
 * StatefulSets, read by the agents (their revision and size). The spec is the user's (what GitOps applies); the
 * status belongs to the StatefulSet controller (the harness's simulation writes it with `seed`).
 */
const statefulsets = define('apps', 'v1', 'statefulsets', 'StatefulSet', {
  decode: obj => (obj.spec !== undefined && !isObject(obj.spec) ? cannotUnmarshal(obj.spec, 'StatefulSet.spec', 'v1.StatefulSetSpec') : undefined),
  prepareForCreate: obj => {
    obj.status = { replicas: 0, availableReplicas: 0 };
  },
  prepareForUpdate: (obj, old) => {
    obj.status = JSON.parse(JSON.stringify(old.status ?? {}));
  },
});

/** A MicroTime field: a string with exactly six fractional digits (RFC3339Micro), as for Lease times. */
function decodeMicroTime(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') return cannotUnmarshal(v, field, 'v1.MicroTime');
  if (MICRO_TIME.test(v)) return undefined;
  const rest = v.match(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(.*)$/)?.[1] ?? v;
  return `parsing time "${v}" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "${rest}" as ".000000"`;
}

/** events.k8s.io/v1 Event's fields a recorder may send, each one as the API's validation checks it. */
const EVENT_STRING_FIELDS = ['reportingController', 'reportingInstance', 'action', 'reason', 'type', 'note'];

/**
 * Events (events.k8s.io/v1, the same objects `kubectl get events` lists through core v1), as ValidateEventCreate
 * checks them for this API version: eventTime, type Normal or Warning, reportingController (a qualified name),
 * reportingInstance, action and reason required and at most 128 characters, note at most 1 kB, the regarding
 * object in the event's own namespace, no deprecated timestamps; an event is not changed after it was created.
 */
const events = define('events.k8s.io', 'v1', 'events', 'Event', {
  selectableFields: ['regarding.kind', 'regarding.name', 'regarding.namespace', 'regarding.uid', 'reason', 'type', 'reportingController'],
  decode: obj => {
    for (const f of EVENT_STRING_FIELDS) {
      if (obj[f] !== undefined && obj[f] !== null && typeof obj[f] !== 'string') return cannotUnmarshal(obj[f], `Event.${f}`, 'string');
    }
    if (obj.regarding !== undefined && obj.regarding !== null && !isObject(obj.regarding))
      return cannotUnmarshal(obj.regarding, 'Event.regarding', 'v1.ObjectReference');
    return decodeMicroTime(obj.eventTime, 'Event.eventTime');
  },
  validate: (obj, old) => {
    if (old)
      return deepEqual(
        { ...obj, metadata: undefined, series: undefined, reason: undefined, note: undefined },
        { ...old, metadata: undefined, series: undefined, reason: undefined, note: undefined },
      )
        ? []
        : [fieldForbidden('', 'updates to event are forbidden except for series, reason, note')];
    const errors: FieldError[] = [];
    if (!obj.eventTime) errors.push(fieldRequired('eventTime'));
    if (obj.type !== 'Normal' && obj.type !== 'Warning') errors.push(fieldInvalid('type', '', `has invalid value: ${obj.type ?? ''}`));
    for (const f of ['deprecatedFirstTimestamp', 'deprecatedLastTimestamp']) if (obj[f]) errors.push(fieldInvalid(f, '', 'needs to be unset'));
    if (!obj.reportingController) errors.push(fieldRequired('reportingController'));
    else errors.push(...qualifiedNameErrors(obj.reportingController, 'reportingController'));
    for (const f of ['reportingController', 'reportingInstance', 'action', 'reason']) {
      if (f !== 'reportingController' && !obj[f]) errors.push(fieldRequired(f));
      if ((obj[f] ?? '').length > 128) errors.push(fieldInvalid(f, '', 'can have at most 128 characters'));
    }
    if ((obj.note ?? '').length > 1024) errors.push(fieldTooLong('note', 1024));
    const ns = obj.regarding?.namespace;
    if (ns && ns !== obj.metadata.namespace) errors.push(fieldInvalid('regarding.namespace', ns, 'does not match event.namespace'));
    return errors;
  },
});

/**
 * CronJobs, read by `pg-agent status` (schedule, suspend, and the status the CronJob controller writes: the harness
 * seeds it with `seed`, as it does a StatefulSet's).
 */
const cronjobs = define('batch', 'v1', 'cronjobs', 'CronJob', {
  decode: obj => (obj.spec !== undefined && !isObject(obj.spec) ? cannotUnmarshal(obj.spec, 'CronJob.spec', 'v1.CronJobSpec') : undefined),
  prepareForCreate: obj => {
    obj.status = {};
  },
  prepareForUpdate: (obj, old) => {
    obj.status = JSON.parse(JSON.stringify(old.status ?? {}));
  },
});

export const RESOURCE_TYPES: ResourceType[] = [pods, secrets, configmaps, leases, statefulsets, events, cronjobs];

/** By URL segments: group ('' for core), version, plural resource name. */
export function resourceByPath(group: string, version: string, resource: string): ResourceType | undefined {
  return RESOURCE_TYPES.find(rt => rt.group === group && rt.version === version && rt.resource === resource);
}

/** By plural (`secrets`), Kind (`Secret`) or lower-case kind (`secret`), for the test helpers. */
export function resourceByName(kindOrResource: string): ResourceType {
  const wanted = kindOrResource.toLowerCase();
  const rt = RESOURCE_TYPES.find(r => r.resource === wanted || r.kind.toLowerCase() === wanted);
  if (!rt) throw new Error(`KubeApiDouble does not serve "${kindOrResource}" (it serves ${RESOURCE_TYPES.map(r => r.kind).join(', ')})`);
  return rt;
}
