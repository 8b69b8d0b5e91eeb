/**
 * A small JSON client for the few Kubernetes API calls the agent makes (get, create, replace, merge-patch and
 * delete of Leases, Pods, Secrets, StatefulSets and Events), over node's http/https.
 *
 * Why not @kubernetes/client-node: loading it costs an idle agent about 53 MiB of anonymous memory (measured:
 * `node -e "require('@kubernetes/client-node')"` 59 MiB RssAnon against 6 MiB for a bare node), more than the
 * whole target for an agent in a 128 Mi pod on a Raspberry Pi. The calls below are all the agent needs.
 *
 * Credentials, in client-node's order: `KUBECONFIG` (token, token file or client certificate; a server's CA or
 * `insecure-skip-tls-verify`), then the pod's ServiceAccount (the projected token is re-read, as the kubelet rotates
 * it), then `~/.kube/config`. Exec credential plugins are not supported: the agent runs in pods.
 */
import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as os from 'os';
import * as path from 'path';

export class KubeError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'KubeError';
  }
}

/** Where the API is and how to authenticate: the parts of a kubeconfig (or the in-cluster files) the agent uses. */
export interface KubeEndpoint {
  /** `https://host:port` (or `http://` for a test API). */
  server: string;
  ca?: Buffer;
  insecureSkipTlsVerify?: boolean;
  token?: string;
  tokenFile?: string;
  clientCert?: Buffer;
  clientKey?: Buffer;
  /** The kubeconfig context's namespace, if any. */
  namespace?: string;
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** Thrown when no credentials are found; callers turn it into their own message (or drop Events quietly). */
export class NoKubeCredentials extends Error {}

/** The endpoint from the environment, in client-node's order of precedence. */
export async function loadKubeEndpoint(env: NodeJS.ProcessEnv = process.env, serviceAccountDir = SERVICE_ACCOUNT_DIR): Promise<KubeEndpoint> {
  if (env.KUBECONFIG) return fromKubeconfig(env.KUBECONFIG.split(path.delimiter).filter(Boolean)[0]);
  if (env.KUBERNETES_SERVICE_HOST && fs.existsSync(path.join(serviceAccountDir, 'token'))) {
    const host = env.KUBERNETES_SERVICE_HOST.includes(':') ? `[${env.KUBERNETES_SERVICE_HOST}]` : env.KUBERNETES_SERVICE_HOST;
    const caFile = path.join(serviceAccountDir, 'ca.crt');
    return {
      server: `https://${host}:${env.KUBERNETES_SERVICE_PORT ?? '443'}`,
      ca: fs.existsSync(caFile) ? fs.readFileSync(caFile) : undefined,
      tokenFile: path.join(serviceAccountDir, 'token'),
    };
  }
  const home = path.join(env.HOME ?? os.homedir(), '.kube', 'config');
  if (fs.existsSync(home)) return fromKubeconfig(home);
  throw new NoKubeCredentials('no KUBECONFIG, no ServiceAccount token and no ~/.kube/config');
}

type Named<T> = { name: string } & T;

/** Reads the current context of a kubeconfig file (YAML or JSON). */
export async function fromKubeconfig(file: string): Promise<KubeEndpoint> {
  // Loaded here only (a chunk of its own): a pod with in-cluster credentials never parses a YAML library.
  // (A CommonJS module in a split ESM bundle: its exports may sit under `default`.)
  const yaml: Partial<typeof import('yaml')> & { default?: typeof import('yaml') } = await import('yaml');
  const parse = yaml.parse ?? yaml.default!.parse;
  const cfg = parse(fs.readFileSync(file, 'utf8')) as {
    'current-context'?: string;
    contexts?: Named<{ context: { cluster: string; user: string; namespace?: string } }>[];
    clusters?: Named<{ cluster: Record<string, unknown> }>[];
    users?: Named<{ user: Record<string, unknown> }>[];
  };
  const context = cfg.contexts?.find(c => c.name === cfg['current-context'])?.context ?? cfg.contexts?.[0]?.context;
  const cluster = cfg.clusters?.find(c => c.name === context?.cluster)?.cluster;
  const user = cfg.users?.find(u => u.name === context?.user)?.user ?? {};
  if (!context || !cluster || typeof cluster.server !== 'string') throw new NoKubeCredentials(`${file} has no current context with a cluster server`);
  if (user.exec || user['auth-provider']) throw new NoKubeCredentials(`${file}: exec and auth-provider credentials are not supported by the agent`);
  const dir = path.dirname(file);
  const bytes = (data: unknown, fileKey: unknown): Buffer | undefined =>
    typeof data === 'string' ? Buffer.from(data, 'base64') : typeof fileKey === 'string' ? fs.readFileSync(path.resolve(dir, fileKey)) : undefined;
  return {
    server: cluster.server,
    ca: bytes(cluster['certificate-authority-data'], cluster['certificate-authority']),
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
    token: typeof user.token === 'string' ? user.token : undefined,
    tokenFile: typeof user.tokenFile === 'string' ? path.resolve(dir, user.tokenFile) : undefined,
    clientCert: bytes(user['client-certificate-data'], user['client-certificate']),
    clientKey: bytes(user['client-key-data'], user['client-key']),
    namespace: context.namespace,
  };
}

/** A projected token is rotated by the kubelet (hourly by default): read again after this long. */
const TOKEN_REREAD_MS = 60_000;

export interface RequestOptions {
  body?: unknown;
  /** Defaults to application/json; `application/merge-patch+json` for patches. */
  contentType?: string;
  timeoutMs: number;
}

export type KubeRest = <T>(method: string, apiPath: string, what: string, options: RequestOptions) => Promise<T>;

/** A request function bound to an endpoint: JSON in, JSON out, a KubeError with the API's status code and message. */
export function kubeRest(endpoint: KubeEndpoint, { tokenRereadMs = TOKEN_REREAD_MS } = {}): KubeRest {
  const url = new URL(endpoint.server);
  const secure = url.protocol === 'https:';
  const agent = secure
    ? new https.Agent({
        keepAlive: true,
        ca: endpoint.ca,
        cert: endpoint.clientCert,
        key: endpoint.clientKey,
        rejectUnauthorized: !endpoint.insecureSkipTlsVerify,
      })
    : new http.Agent({ keepAlive: true });
  let token = endpoint.token;
  let tokenReadAt = -Infinity;
  const bearer = (): string | undefined => {
    if (endpoint.tokenFile && Date.now() - tokenReadAt >= tokenRereadMs) {
      token = fs.readFileSync(endpoint.tokenFile, 'utf8').trim();
      tokenReadAt = Date.now();
    }
    return token;
  };
  const basePath = url.pathname.replace(/\/$/, '');

  return <T>(method: string, apiPath: string, what: string, { body, contentType, timeoutMs }: RequestOptions) =>
    new Promise<T>((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const auth = bearer();
      const req = (secure ? https : http).request(
        {
          agent,
          method,
          protocol: url.protocol,
          hostname: url.hostname.replace(/^\[|\]$/g, ''),
          port: url.port || (secure ? 443 : 80),
          path: basePath + apiPath,
          headers: {
            accept: 'application/json',
            ...(auth ? { authorization: `Bearer ${auth}` } : {}),
            ...(payload ? { 'content-type': contentType ?? 'application/json', 'content-length': payload.length } : {}),
          },
          signal: AbortSignal.timeout(timeoutMs),
        },
        res => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', e => reject(new KubeError(0, `${what}: Kubernetes API unreachable (${e.message})`)));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const code = res.statusCode ?? 0;
            let parsed: unknown;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              parsed = undefined;
            }
            if (code >= 200 && code < 300) return resolve(parsed as T);
            const message = parsed && typeof parsed === 'object' && 'message' in parsed ? String(parsed.message) : text.slice(0, 200);
            reject(new KubeError(code, `${what}: ${code} ${message}`));
          });
        },
      );
      req.on('error', e =>
        reject(
          new KubeError(
            0,
            e.name === 'AbortError' || e.name === 'TimeoutError'
              ? `${what}: no answer from the Kubernetes API within ${timeoutMs} ms`
              : `${what}: Kubernetes API unreachable (${e.message})`,
          ),
        ),
      );
      req.end(payload);
    });
}

/**
 * A Date that serializes as the API's MicroTime (`2006-01-02T15:04:05.000000Z`): Lease and Event times are parsed
 * with exactly six fractional digits, and a JavaScript Date has three.
 */
export class MicroTime extends Date {
  override toJSON(): string {
    return this.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
  }
}
