// The three PATCH formats the API server accepts besides server-side apply:
//  - JSON merge patch (RFC 7386),
//  - strategic merge patch: merge patch, except that the lists Kubernetes declares with a merge key (containers by
//    name, env by name, ownerReferences by uid, ...) are merged element by element and `finalizers` is merged as a
//    set; the `$patch`, `$deleteFromPrimitiveList/…` directives are understood, `$retainKeys`/`$setElementOrder` ignored,
//  - JSON patch (RFC 6902): add, remove, replace, move, copy, test.

/** The patch body itself is malformed (the API server answers 400). */
export class PatchDecodeError extends Error {}
/** The patch is well formed but cannot be applied to the object, e.g. a failed `test` (the API server answers 422). */
export class PatchApplyError extends Error {}

type JsonObject = Record<string, unknown>;

export const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
export const clone = <T>(v: T): T => (v === undefined ? v : JSON.parse(JSON.stringify(v)));

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => deepEqual(v, b[i]));
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a).filter(k => a[k] !== undefined);
    return keys.length === Object.keys(b).filter(k => b[k] !== undefined).length && keys.every(k => deepEqual(a[k], b[k]));
  }
  return false;
}

// ---------------------------------------------------------------------------------------------- merge patch

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const result: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

// ------------------------------------------------------------------------------------ strategic merge patch

/** patchMergeKey of the list fields our kinds have (k8s.io/api struct tags), keyed by field name. */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  volumes: 'name',
  env: 'name',
  ports: 'containerPort',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  imagePullSecrets: 'name',
  ownerReferences: 'uid',
  conditions: 'type',
  hostAliases: 'ip',
  resourceClaims: 'name',
  topologySpreadConstraints: 'topologyKey',
};
/** Lists of scalars with patchStrategy "merge": merged as sets. */
const MERGED_SCALAR_LISTS = new Set(['finalizers']);
const DELETE_FROM_PRIMITIVE_LIST = '$deleteFromPrimitiveList/';

export function strategicMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return stripDirectives(patch);
  if (patch.$patch === 'replace') return stripDirectives(patch);
  const result: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith(DELETE_FROM_PRIMITIVE_LIST)) {
      const field = key.slice(DELETE_FROM_PRIMITIVE_LIST.length);
      const drop = Array.isArray(value) ? value : [];
      if (Array.isArray(result[field])) result[field] = (result[field] as unknown[]).filter(v => !drop.includes(v));
    } else if (key.startsWith('$')) {
      continue; // $patch (handled above), $retainKeys, $setElementOrder/…: order and pruning hints only
    } else if (value === null || (isObject(value) && value.$patch === 'delete')) {
      delete result[key];
    } else if (Array.isArray(value) && Array.isArray(result[key])) {
      result[key] = mergeList(key, result[key] as unknown[], value);
    } else {
      result[key] = strategicMergePatch(result[key], value);
    }
  }
  return result;
}

function mergeList(field: string, current: unknown[], patch: unknown[]): unknown[] {
  if (MERGED_SCALAR_LISTS.has(field)) return [...current, ...patch.filter(v => !current.includes(v))];
  const mergeKey = MERGE_KEYS[field];
  if (!mergeKey) return stripDirectives(patch) as unknown[]; // patchStrategy "replace", the default
  const result = clone(current);
  for (const item of patch) {
    if (!isObject(item)) throw new PatchDecodeError(`${field}: expected an object in a list merged by ${mergeKey}`);
    const at = result.findIndex(c => isObject(c) && c[mergeKey] === item[mergeKey]);
    if (item.$patch === 'delete') {
      if (at >= 0) result.splice(at, 1);
    } else if (at >= 0) {
      result[at] = strategicMergePatch(result[at], item);
    } else {
      result.push(stripDirectives(item));
    }
  }
  return result;
}

function stripDirectives(value: unknown): unknown {
  if (Array.isArray(value)) {
    return value.filter(v => !(isObject(v) && v.$patch === 'delete')).map(stripDirectives);
  }
  if (!isObject(value)) return clone(value);
  return Object.fromEntries(
    Object.entries(value)
      .filter(([k]) => !k.startsWith('$'))
      .map(([k, v]) => [k, stripDirectives(v)]),
  );
}

// ----------------------------------------------------------------------------------------------- JSON patch

interface Operation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  from?: string;
  value?: unknown;
}

/** Checks the shape of a JSON patch document before anything is applied. */
export function decodeJsonPatch(body: unknown): Operation[] {
  if (!Array.isArray(body)) throw new PatchDecodeError('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  for (const op of body) {
    if (!isObject(op) || typeof op.op !== 'string') throw new PatchDecodeError('Unexpected kind: unknown');
    if (!['add', 'remove', 'replace', 'move', 'copy', 'test'].includes(op.op)) throw new PatchDecodeError(`Unexpected kind: ${op.op}`);
    if (typeof op.path !== 'string') throw new PatchDecodeError(`${op.op} operation missing path`);
    if ((op.op === 'move' || op.op === 'copy') && typeof op.from !== 'string') throw new PatchDecodeError(`${op.op} operation missing from`);
    if (['add', 'replace', 'test'].includes(op.op) && !('value' in op)) throw new PatchDecodeError(`${op.op} operation missing value`);
  }
  return body as Operation[];
}

export function jsonPatch(doc: unknown, operations: Operation[]): unknown {
  // The document hangs under a holder so that the root ("") is addressed like any other location.
  const holder: JsonObject = { root: clone(doc) };
  for (const op of operations) applyOperation(holder, op);
  return holder.root;
}

function applyOperation(holder: JsonObject, op: Operation): void {
  switch (op.op) {
    case 'add':
      return add(holder, op.path, clone(op.value));
    case 'remove':
      return void remove(holder, op.path);
    case 'replace':
      remove(holder, op.path);
      return add(holder, op.path, clone(op.value));
    case 'move': {
      if (op.path.startsWith(op.from! + '/')) throw new PatchApplyError(`move: "${op.from}" is a prefix of "${op.path}"`);
      return add(holder, op.path, remove(holder, op.from!));
    }
    case 'copy':
      return add(holder, op.path, clone(read(holder, op.from!)));
    case 'test':
      if (!deepEqual(read(holder, op.path), op.value)) throw new PatchApplyError(`testing value ${op.path} failed: test failed`);
  }
}

function tokens(pointer: string): string[] {
  if (pointer !== '' && !pointer.startsWith('/')) throw new PatchApplyError(`invalid JSON pointer "${pointer}"`);
  return [
    'root',
    ...pointer
      .split('/')
      .slice(1)
      .map(t => t.replace(/~1/g, '/').replace(/~0/g, '~')),
  ];
}

/** The container that holds the last token of a pointer, and that token. */
function locate(holder: JsonObject, pointer: string): { parent: unknown; key: string } {
  const path = tokens(pointer);
  let parent: unknown = holder;
  for (const token of path.slice(0, -1)) {
    parent = child(parent, token);
    if (parent === undefined) throw new PatchApplyError(`doc is missing path: "${pointer}"`);
  }
  return { parent, key: path[path.length - 1] };
}

function child(container: unknown, key: string): unknown {
  if (Array.isArray(container)) return /^(0|[1-9][0-9]*)$/.test(key) ? container[Number(key)] : undefined;
  return isObject(container) && Object.prototype.hasOwnProperty.call(container, key) ? container[key] : undefined;
}

function read(holder: JsonObject, pointer: string): unknown {
  const { parent, key } = locate(holder, pointer);
  const value = child(parent, key);
  if (value === undefined) throw new PatchApplyError(`doc is missing key: "${pointer}"`);
  return value;
}

function add(holder: JsonObject, pointer: string, value: unknown): void {
  const { parent, key } = locate(holder, pointer);
  if (Array.isArray(parent)) {
    const index = key === '-' ? parent.length : /^(0|[1-9][0-9]*)$/.test(key) ? Number(key) : NaN;
    if (!(index >= 0 && index <= parent.length)) throw new PatchApplyError(`add: index out of bounds at "${pointer}"`);
    parent.splice(index, 0, value);
  } else if (isObject(parent)) {
    parent[key] = value;
  } else {
    throw new PatchApplyError(`add: "${pointer}" has no container`);
  }
}

function remove(holder: JsonObject, pointer: string): unknown {
  const { parent, key } = locate(holder, pointer);
  const value = child(parent, key);
  if (value === undefined) throw new PatchApplyError(`remove: doc is missing key: "${pointer}"`);
  if (Array.isArray(parent)) parent.splice(Number(key), 1);
  else delete (parent as JsonObject)[key];
  return value;
}
