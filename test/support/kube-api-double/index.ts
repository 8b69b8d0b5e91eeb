/**
 * KubeApiDouble: a Kubernetes API server for tests, on 127.0.0.1, serving the kinds the agent uses —
 * core/v1 pods, secrets, configmaps, coordination.k8s.io/v1 leases and apps/v1 statefulsets, all namespaced.
 *
 * Reproduced from the real API server (as Kubernetes 1.28 and later behave):
 *  - verbs get, list (labelSelector with the full selector grammar; fieldSelector on metadata.name/namespace and the
 *    kind's selectable fields), create, update (PUT), patch (merge, strategic merge, JSON patch), delete (with
 *    uid/resourceVersion preconditions), deletecollection; `?dryRun=All`;
 *  - one global, monotonically increasing resourceVersion (the etcd revision) taken by every write; a no-op update
 *    writes nothing and keeps the version, as etcd3 storage does; LIST carries the current version;
 *  - uid, creationTimestamp (second precision) and namespace filled on create, generateName, system fields kept on
 *    update; POST with metadata.resourceVersion set → 500 as etcd3 storage answers;
 *  - optimistic concurrency: PUT or PATCH naming a stale resourceVersion → 409 Conflict, PUT without one is
 *    unconditional; PUT/PATCH/DELETE/GET of a missing object → 404, POST of an existing name → 409 AlreadyExists;
 *  - Status bodies as k8s.io/apimachinery/pkg/api/errors builds them (message, reason, details, code);
 *  - decoding: a body whose types do not fit the Go structs → 400 "… cannot be handled as a …" (e.g. a number as a
 *    label value, Secret data that is not base64, a Lease renewTime without exactly six fractional digits — what
 *    client-node sends for a plain Date); for PATCH the same failure is a 422 on field "patch";
 *  - validation (422 Invalid): object names (DNS-1123 subdomain), label keys/values, annotation keys, Secret and
 *    ConfigMap keys and 1 MiB limit, typed Secret required keys, Secret type immutable, `immutable: true`, pod
 *    containers required, pod spec immutable on update except images/tolerations/activeDeadlineSeconds, Lease
 *    durations, Event required fields (eventTime with microseconds, type, reportingController, action, reason);
 *  - Secret stringData folded into base64 data and never stored; type defaults to Opaque;
 *  - pods: status reset to Pending on create and ignored on update (it belongs to the kubelet: use seed());
 *    DELETE answers with the object; other kinds answer a Success Status; with a pod terminator set (the
 *    StatefulSet simulation's kubelet), a pod DELETE is graceful: `deletionTimestamp` set, the object kept until the
 *    terminator removes it;
 *  - StatefulSets (apps/v1): spec from the manifests, status from the controller simulation;
 *  - authentication by bearer token (unknown token → 401, no token → system:anonymous), service account
 *    identities with their groups, RBAC evaluated like the RBAC authorizer (403 before any 404);
 *  - LIST items without kind/apiVersion, sorted by namespace/name; discovery (/api, /apis, /version, /healthz).
 *
 * Not reproduced: watch (answered 405), server-side apply (415), subresources (status, log, exec, eviction),
 * finalizers, managedFields, generation, namespaces as objects
 * (every namespace exists), admission (quota, limit ranges, pod security), defaulting of pod specs, pagination
 * (limit/continue are ignored), resourceVersion query parameters on GET/LIST, protobuf and YAML bodies,
 * ClusterRoles at cluster scope, impersonation, priority and fairness.
 */

import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import { randomBytes } from 'crypto';
import { AddressInfo } from 'net';
import { stringify as toYaml } from 'yaml';
import { Rbac, RoleLike } from './rbac';
import { DeleteOptions, PATCH_TYPES, PatchType, Registry } from './registry';
import { KubeObject, RESOURCE_TYPES, ResourceType, resourceByName, resourceByPath } from './resources';
import { ApiError, badRequest, forbidden, methodNotAllowed, pathNotFound, serviceUnavailable, unauthorized } from './status';

export { loadClientNode } from './client-node';
export type { ClientNode } from './client-node';
export type { KubeObject } from './resources';
export type { RoleLike, PolicyRule } from './rbac';

export type FaultMode =
  /** Answer 503 ServiceUnavailable (an API server behind a load balancer with no healthy backend). */
  | 'refuse'
  /** Drop the connection without an answer: the client sees "socket hang up" / ECONNRESET. */
  | 'reset'
  /** Never answer until the fault is cleared or the double stops (then the connection is dropped): a partition. */
  | 'hang';

export interface RequestLogEntry {
  time: Date;
  method: string;
  /** URL path without the query string. */
  path: string;
  query: string;
  /** The authenticated user name, `system:anonymous`, or `<invalid token>`. */
  identity: string;
  /** HTTP status code, or 0 when the connection was dropped or left hanging. */
  status: number;
  verb?: string;
  resource?: string;
  namespace?: string;
  name?: string;
  contentType?: string;
  fault?: FaultMode;
}

interface Identity {
  user: string;
  groups: string[];
  /** For a pod-bound token (projected ServiceAccount token): the pod it was issued to. */
  pod?: string;
}

/** A resource request once its URL has been understood. */
interface ResourceRequest {
  rt: ResourceType;
  namespace: string;
  name: string;
  subresource?: string;
  verb: string;
}

const ADMIN: Identity = { user: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] };
const ANONYMOUS: Identity = { user: 'system:anonymous', groups: ['system:unauthenticated'] };

const serviceAccountUser = (namespace: string, name: string) => `system:serviceaccount:${namespace}:${name}`;

export class KubeApiDouble {
  /** A token of `kubernetes-admin` (group system:masters): RBAC does not apply, as for cluster admins. */
  readonly adminToken: string;
  /** Every request, in order of arrival of its answer. */
  readonly requests: RequestLogEntry[] = [];

  private readonly registry = new Registry();
  private readonly rbac = new Rbac();
  private readonly tokens = new Map<string, Identity>();
  private readonly faults = new Map<string, FaultMode>();
  private readonly latencies = new Map<string, number>();
  private readonly hanging = new Set<{ user: string; res: http.ServerResponse }>();
  private server?: http.Server;
  private port = 0;

  constructor(options: { latencyMs?: number } = {}) {
    this.adminToken = this.issueToken(ADMIN);
    if (options.latencyMs) this.latencies.set('all', options.latencyMs);
  }

  // ------------------------------------------------------------------------------------------- lifecycle

  async start(): Promise<void> {
    const server = http.createServer((req, res) => {
      this.handle(req, res).catch(err => this.respond(req, res, new ApiError(500, 'InternalError', `KubeApiDouble: ${err?.stack ?? err}`), {}));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const h of this.hanging) h.res.destroy();
    this.hanging.clear();
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>(resolve => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  get url(): string {
    if (!this.port) throw new Error('KubeApiDouble: call start() first');
    return `http://127.0.0.1:${this.port}`;
  }

  /** The current global resourceVersion (that of the latest write). */
  get resourceVersion(): string {
    return this.registry.resourceVersion;
  }

  // ------------------------------------------------------------------------------ identities and RBAC

  /** The bearer token of a service account (the same token on every call). */
  token(namespace: string, serviceAccount: string): string {
    const user = serviceAccountUser(namespace, serviceAccount);
    for (const [token, identity] of this.tokens) if (identity.user === user) return token;
    return this.issueToken({ user, groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'] });
  }

  /**
   * A token bound to one pod, as the kubelet's projected ServiceAccount tokens are: the same user (and RBAC) as
   * {@link token}, but faults can target it alone with `setUnavailable('pod:<name>', …)`, to cut one pod off the API.
   */
  podToken(namespace: string, serviceAccount: string, pod: string): string {
    const user = serviceAccountUser(namespace, serviceAccount);
    for (const [token, identity] of this.tokens) if (identity.user === user && identity.pod === pod) return token;
    return this.issueToken({ user, groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'], pod });
  }

  /** The user name a token authenticates as, if it is known. */
  identityOf(token: string): string | undefined {
    return this.tokens.get(token)?.user;
  }

  /** A RoleBinding in `namespace` of `role` (a Role or ClusterRole object) to the service account. */
  grantRole(namespace: string, serviceAccountName: string, role: RoleLike): void {
    this.rbac.bind(serviceAccountUser(namespace, serviceAccountName), namespace, role);
  }

  /**
   * Applies the RBAC of rendered manifests: each RoleBinding grants its Role (or ClusterRole, within the binding's
   * namespace) to its ServiceAccount and Group subjects. A binding whose role is absent grants nothing, as in a cluster.
   */
  applyRbac(objects: Array<{ kind?: string; metadata?: { name?: string; namespace?: string }; [k: string]: any }>): void {
    for (const binding of objects.filter(o => o.kind === 'RoleBinding')) {
      const namespace = binding.metadata?.namespace ?? 'default';
      const role = objects.find(
        o =>
          o.kind === binding.roleRef?.kind &&
          o.metadata?.name === binding.roleRef?.name &&
          (o.kind === 'ClusterRole' || (o.metadata?.namespace ?? 'default') === namespace),
      );
      if (!role) continue;
      for (const subject of binding.subjects ?? []) {
        if (subject.kind === 'ServiceAccount') this.rbac.bind(serviceAccountUser(subject.namespace || namespace, subject.name), namespace, role);
        if (subject.kind === 'Group' || subject.kind === 'User') this.rbac.bind(subject.name, namespace, role);
      }
    }
  }

  /** Writes a kubeconfig for `token` and returns its path, for `KUBECONFIG` and `KubeConfig.loadFromDefault()`. */
  writeKubeconfig(dir: string, token: string, namespace: string): string {
    const user = this.tokens.get(token)?.user ?? 'unknown';
    const file = path.join(dir, `kubeconfig-${user.replace(/[^A-Za-z0-9.-]+/g, '_')}-${namespace}.yaml`);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(file, this.kubeconfig(token, namespace), { mode: 0o600 });
    return file;
  }

  /**
   * The kubeconfig text. `insecure-skip-tls-verify` is what lets client-node 1.x talk plain HTTP: without it,
   * it refuses an http:// server ("HTTP protocol is not allowed when skipTLSVerify is not set or false").
   */
  kubeconfig(token: string, namespace: string): string {
    return toYaml({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'kube-api-double', cluster: { server: this.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'test-user', user: { token } }],
      contexts: [{ name: 'kube-api-double', context: { cluster: 'kube-api-double', user: 'test-user', namespace } }],
      'current-context': 'kube-api-double',
    });
  }

  // ---------------------------------------------------------------------------------- fault injection

  /**
   * Makes the API unavailable to one identity (a token or a user name) or to everyone ('all'), or available again.
   * Clearing a 'hang' fault drops the connections left hanging.
   */
  setUnavailable(target: string, unavailable: boolean, options: { mode?: FaultMode } = {}): void {
    const user = this.targetUser(target);
    if (unavailable) {
      this.faults.set(user, options.mode ?? 'refuse');
      return;
    }
    this.faults.delete(user);
    for (const h of [...this.hanging]) {
      if ((user === 'all' || h.user === user) && !this.faultFor(h.user)) {
        h.res.destroy();
        this.hanging.delete(h);
      }
    }
  }

  /** Adds `ms` of latency before every request of `target` (token, user name or 'all') is processed; 0 removes it. */
  setLatency(ms: number, target = 'all'): void {
    const user = this.targetUser(target);
    if (ms > 0) this.latencies.set(user, ms);
    else this.latencies.delete(user);
  }

  // ------------------------------------------------------------------------------------ direct access

  /** The stored object (with kind/apiVersion), or undefined. `kind` is a Kind (`Secret`) or resource (`secrets`). */
  get(kind: string, namespace: string, name: string): KubeObject | undefined {
    return this.registry.find(resourceByName(kind), namespace, name);
  }

  /** The stored objects of a kind, in one namespace or all, optionally filtered by a label selector. */
  list(kind: string, namespace?: string, labelSelector?: string): KubeObject[] {
    const rt = resourceByName(kind);
    const list = this.registry.list(rt, namespace, labelSelector) as { items: KubeObject[] };
    return list.items.map(item => ({ apiVersion: rt.apiVersion, kind: rt.kind, ...item }));
  }

  /**
   * Creates or overwrites an object without authentication, RBAC or validation, as a controller or the kubelet
   * would (e.g. the pods of a StatefulSet, or their status). Returns the stored object.
   */
  seed(obj: KubeObject): KubeObject {
    if (!obj.kind) throw new Error('seed: the object needs a kind');
    return this.registry.seed(resourceByName(obj.kind), obj);
  }

  /** Deletes an object without checks; true when it existed. */
  remove(kind: string, namespace: string, name: string): boolean {
    return this.registry.remove(resourceByName(kind), namespace, name);
  }

  /** A Secret's value decoded, as the kubelet hands it to a container through secretKeyRef. */
  secretValue(namespace: string, name: string, key: string): string | undefined {
    const encoded = this.get('secrets', namespace, name)?.data?.[key];
    return encoded === undefined ? undefined : Buffer.from(encoded, 'base64').toString('utf8');
  }

  clearRequests(): void {
    this.requests.length = 0;
  }

  // ------------------------------------------------------------------------------------- HTTP handling

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const identity = this.authenticate(req);
    const user = identity?.user ?? '<invalid token>';
    const latency = (this.latencies.get('all') ?? 0) + (this.latencies.get(user) ?? 0);
    if (latency) await new Promise(resolve => setTimeout(resolve, latency));

    const podKey = identity?.pod ? `pod:${identity.pod}` : undefined;
    const podFault = podKey ? this.faults.get(podKey) : undefined;
    if (podFault && !this.faultFor(user)) return this.injectFault(req, res, podKey!, podFault);
    const fault = this.faultFor(user);
    if (fault) return this.injectFault(req, res, user, fault);

    const url = new URL(req.url ?? '/', 'http://double');
    const body = await readBody(req);
    let logged: Partial<RequestLogEntry> = { identity: user };
    try {
      if (!identity) throw unauthorized();
      const discovery = this.discovery(url.pathname);
      if (discovery !== undefined) {
        if (req.method !== 'GET') throw methodNotAllowed();
        return this.respond(req, res, discovery, logged);
      }
      const request = parseResourcePath(req.method ?? 'GET', url);
      if (!request) throw pathNotFound();
      logged = {
        ...logged,
        verb: request.verb,
        resource: request.rt.resource,
        namespace: request.namespace || undefined,
        name: request.name || undefined,
      };
      this.authorize(identity, request);
      this.respond(req, res, this.serve(request, req, url, body), logged);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      this.respond(req, res, err, logged);
    }
  }

  private authenticate(req: http.IncomingMessage): Identity | undefined {
    const header = req.headers.authorization;
    if (!header) return ANONYMOUS;
    const token = /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
    return token ? this.tokens.get(token) : undefined;
  }

  /** 403 unless the identity is a cluster admin or a bound Role allows the request. */
  private authorize(identity: Identity, r: ResourceRequest): void {
    if (identity.groups.includes('system:masters')) return;
    const attributes = {
      verb: r.verb,
      apiGroup: r.rt.group,
      resource: r.rt.resource,
      subresource: r.subresource,
      namespace: r.namespace,
      name: r.name,
    };
    const allowed = [identity.user, ...identity.groups].some(subject => this.rbac.allows({ ...attributes, user: subject }));
    if (!allowed) throw forbidden(r.rt, r.name, identity.user, r.verb, r.namespace);
  }

  /** Runs an authorized request against the registry and returns the answer body (status 201 for a create). */
  private serve(r: ResourceRequest, req: http.IncomingMessage, url: URL, body: string): object {
    const q = url.searchParams;
    const opts = { dryRun: q.get('dryRun') === 'All' };
    if (r.subresource)
      throw new ApiError(
        404,
        'NotFound',
        `the server could not find the requested resource (KubeApiDouble does not serve ${r.rt.resource}/${r.subresource})`,
        {},
      );
    switch (r.verb) {
      case 'get':
        return this.registry.get(r.rt, r.namespace, r.name);
      case 'list':
        return this.registry.list(r.rt, r.namespace || undefined, q.get('labelSelector'), q.get('fieldSelector'));
      case 'watch':
        throw new ApiError(405, 'MethodNotAllowed', 'watch is not supported by KubeApiDouble', {});
      case 'create':
        return new Answer(201, this.registry.create(r.rt, r.namespace, parseJson(body), opts));
      case 'update':
        return this.registry.update(r.rt, r.namespace, r.name, parseJson(body), opts);
      case 'patch':
        return this.registry.patch(r.rt, r.namespace, r.name, patchType(req), body, opts);
      case 'delete':
        if (r.rt.resource === 'pods' && this.podTerminator) {
          const pod = this.registry.markDeleting(r.rt, r.namespace, r.name, body.trim() ? (parseJson(body) as DeleteOptions) : {}, opts);
          if (!opts.dryRun) setImmediate(() => this.podTerminator!(pod));
          return pod;
        }
        return this.registry.delete(r.rt, r.namespace, r.name, body.trim() ? (parseJson(body) as DeleteOptions) : {}, opts);
      case 'deletecollection':
        return this.registry.deleteCollection(r.rt, r.namespace, q.get('labelSelector'), q.get('fieldSelector'), opts);
      default:
        throw methodNotAllowed();
    }
  }

  private respond(req: http.IncomingMessage, res: http.ServerResponse, answer: object, logged: Partial<RequestLogEntry>): void {
    const a = answer instanceof Answer ? answer : answer instanceof ApiError ? new Answer(answer.code, answer.toStatus()) : new Answer(200, answer);
    if (!res.headersSent && !res.destroyed) {
      res.writeHead(a.code, { 'Content-Type': a.contentType, 'Cache-Control': 'no-cache, private' });
      res.end(a.contentType === 'application/json' ? JSON.stringify(a.body) : String(a.body));
    }
    this.log(req, { ...logged, status: a.code });
  }

  private injectFault(req: http.IncomingMessage, res: http.ServerResponse, user: string, fault: FaultMode): void {
    if (fault === 'refuse') return this.respond(req, res, serviceUnavailable(), { identity: user, fault });
    this.log(req, { identity: user, status: 0, fault });
    if (fault === 'reset') {
      req.socket.destroy();
      return;
    }
    const entry = { user, res };
    this.hanging.add(entry);
    res.on('close', () => this.hanging.delete(entry));
  }

  private log(req: http.IncomingMessage, entry: Partial<RequestLogEntry>): void {
    const url = new URL(req.url ?? '/', 'http://double');
    this.requests.push({
      time: new Date(),
      method: req.method ?? '',
      path: url.pathname,
      query: url.search.replace(/^\?/, ''),
      identity: entry.identity ?? '',
      status: entry.status ?? 0,
      contentType: req.headers['content-type'],
      ...entry,
    } as RequestLogEntry);
  }

  private faultFor(user: string): FaultMode | undefined {
    return this.faults.get('all') ?? this.faults.get(user);
  }

  private targetUser(target: string): string {
    return target === 'all' ? 'all' : (this.tokens.get(target)?.user ?? target);
  }

  private issueToken(identity: Identity): string {
    const token = `kad.${randomBytes(18).toString('base64url')}`;
    this.tokens.set(token, identity);
    return token;
  }

  /**
   * The kubelet's side of a pod delete: with a terminator set, deleting a pod (through the API or {@link deletePod})
   * marks it terminating and hands it to the terminator, which stops its containers within the grace period and
   * then calls {@link remove}. Without one, pods are deleted at once (as for an unscheduled pod).
   */
  setPodTerminator(terminator: ((pod: KubeObject) => void) | undefined): void {
    this.podTerminator = terminator;
  }

  /** `kubectl delete pod` (or an eviction the PDB allowed): a graceful delete, as through the API. */
  deletePod(namespace: string, name: string, options: DeleteOptions = {}): KubeObject | undefined {
    const rt = resourceByName('pods');
    if (!this.registry.find(rt, namespace, name)) return undefined;
    if (!this.podTerminator) {
      this.registry.remove(rt, namespace, name);
      return undefined;
    }
    const pod = this.registry.markDeleting(rt, namespace, name, options);
    setImmediate(() => this.podTerminator!(pod));
    return pod;
  }

  private podTerminator?: (pod: KubeObject) => void;

  /** Discovery documents, so that generic clients (KubernetesObjectApi) can map kinds to resources. */
  private discovery(pathname: string): object | undefined {
    const p = pathname.replace(/\/$/, '');
    const resourceList = (groupVersion: string) => ({
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion,
      resources: RESOURCE_TYPES.filter(rt => rt.apiVersion === groupVersion).map(rt => ({
        name: rt.resource,
        singularName: rt.kind.toLowerCase(),
        namespaced: true,
        kind: rt.kind,
        verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update'],
      })),
    });
    switch (p) {
      case '/version':
        return { major: '1', minor: '28', gitVersion: 'v1.28.0-kube-api-double', platform: 'linux/amd64' };
      case '/healthz':
      case '/livez':
      case '/readyz':
        return new Answer(200, 'ok', 'text/plain; charset=utf-8');
      case '/api':
        return {
          kind: 'APIVersions',
          versions: ['v1'],
          serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${this.port}` }],
        };
      case '/api/v1':
        return resourceList('v1');
      case '/apis':
        return {
          kind: 'APIGroupList',
          apiVersion: 'v1',
          groups: ['coordination.k8s.io', 'apps', 'events.k8s.io'].map(name => ({
            name,
            versions: [{ groupVersion: `${name}/v1`, version: 'v1' }],
            preferredVersion: { groupVersion: `${name}/v1`, version: 'v1' },
          })),
        };
      case '/apis/coordination.k8s.io/v1':
        return resourceList('coordination.k8s.io/v1');
      case '/apis/apps/v1':
        return resourceList('apps/v1');
      case '/apis/events.k8s.io/v1':
        return resourceList('events.k8s.io/v1');
      default:
        return undefined;
    }
  }
}

/** An answer other than a JSON body with status 200. */
class Answer {
  constructor(
    readonly code: number,
    readonly body: unknown,
    readonly contentType = 'application/json',
  ) {}
}

/**
 * `/api/v1[/namespaces/{ns}]/{resource}[/{name}[/{subresource}]]` or the same under `/apis/{group}/{version}`;
 * the verb follows from the method and whether a name is present, as in the API server's RequestInfo.
 */
function parseResourcePath(method: string, url: URL): ResourceRequest | undefined {
  const m = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?(?:\/([^/]+))?\/?$/.exec(url.pathname);
  if (!m) return undefined;
  const [, coreVersion, group, groupVersion, namespace, resource, name, subresource] = m.map(s => (s === undefined ? s : decodeURIComponent(s)));
  const rt = resourceByPath(group ?? '', coreVersion ?? groupVersion, resource);
  if (!rt) return undefined;
  const watch = ['true', '1'].includes(url.searchParams.get('watch') ?? '');
  const verbs: Record<string, string | undefined> = name
    ? { GET: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' }
    : { GET: watch ? 'watch' : 'list', POST: 'create', DELETE: 'deletecollection' };
  const verb = verbs[method];
  if (!verb || (!namespace && !['list', 'watch'].includes(verb))) throw methodNotAllowed();
  return { rt, namespace: namespace ?? '', name: name ?? '', subresource, verb };
}

function patchType(req: http.IncomingMessage): PatchType {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if ((PATCH_TYPES as readonly string[]).includes(type)) return type as PatchType;
  throw new ApiError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.join(', ')}`,
    {},
  );
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch (e) {
    throw badRequest(`couldn't get version/kind; json parse error: ${(e as Error).message}`);
  }
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', c => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
