import * as http from 'node:http';
import * as https from 'node:https';
import type { Readable } from 'node:stream';
import * as aws4 from 'aws4';
import { readCa, type S3Config } from './config';

/**
 * A small S3 client over node's http/https, signed with SigV4 (aws4), for the requests the instance makes all day:
 * PUT, GET, HEAD, DELETE of one object and ListObjectsV2. The AWS SDK costs an idle instance about 11 MiB of heap
 * (`npm run bench:memory`); it is still used, loaded on first use, for multipart uploads and batch deletes.
 * Its behaviour follows the SDK's as the agent configured it: path style, keep-alive pool, the same TLS trust (the
 * CA bundle given to the https agent), standard retries (full-jitter backoff) of transient failures, errors shaped like the SDK's
 * (`name`/`Code` = S3's code, `$metadata.httpStatusCode`) so that `explainS3Error` reads both alike.
 */

/** An error response of S3, shaped like the SDK's S3ServiceException. */
export class S3ResponseError extends Error {
  readonly $fault: 'client' | 'server';
  readonly $metadata: { httpStatusCode: number };
  constructor(
    readonly Code: string | undefined,
    status: number,
    message: string,
  ) {
    super(message);
    // a HEAD has no body: name the status as the SDK does
    this.name = Code ?? (status === 404 ? 'NotFound' : status === 403 ? 'Forbidden' : 'Unknown');
    this.$fault = status >= 500 ? 'server' : 'client';
    this.$metadata = { httpStatusCode: status };
  }
}

export interface S3HttpResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  /** The body, when the request asked for a stream (GET); otherwise it was read (and is in `text`). */
  readonly body?: http.IncomingMessage;
  readonly text?: string;
}

export interface S3HttpRequest {
  readonly method: 'GET' | 'PUT' | 'HEAD' | 'DELETE';
  /** Object key; undefined for the bucket itself (listings). */
  readonly key?: string;
  readonly query?: Record<string, string | undefined>;
  readonly headers?: Record<string, string | number | undefined>;
  /** A Buffer is signed and may be retried; a stream is sent unsigned (UNSIGNED-PAYLOAD, checked by ETag) and only once. */
  readonly body?: Buffer | Readable;
  /** Hand the response body back as a stream instead of reading it. */
  readonly stream?: boolean;
  readonly signal?: AbortSignal;
}

/** Network errors worth another attempt (the SDK's transient errors). */
const TRANSIENT_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'TimeoutError']);
const THROTTLING = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestThrottled', 'TooManyRequestsException']);
const RETRY_BASE_MS = 100;
const THROTTLE_BASE_MS = 500;
const MAX_RETRY_DELAY_MS = 20_000;

export class S3Http {
  private readonly url: URL;
  private readonly agent: http.Agent;
  private readonly transport: typeof http | typeof https;
  private readonly maxAttempts: number;
  private readonly connectTimeoutMs: number;
  private readonly credentials: { accessKeyId: string; secretAccessKey: string };

  constructor(private readonly config: S3Config) {
    this.url = new URL(config.endpoint);
    const maxSockets = config.maxSockets ?? 16;
    const agentOptions = { keepAlive: true, keepAliveMsecs: 1000, maxSockets, maxFreeSockets: Math.min(maxSockets, 8) };
    if (this.url.protocol === 'https:') {
      this.transport = https;
      this.agent = new https.Agent({ ...agentOptions, ...(config.caBundle ? { ca: readCa(config.caBundle) } : {}) });
    } else {
      this.transport = http;
      this.agent = new http.Agent(agentOptions);
    }
    this.maxAttempts = config.maxAttempts ?? 5;
    this.connectTimeoutMs = config.connectTimeoutMs ?? 5000;
    this.credentials = { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey };
  }

  /** Sends a request, retrying transient failures when the body can be sent again; throws S3ResponseError for S3's errors. */
  async send(req: S3HttpRequest): Promise<S3HttpResponse> {
    const retryable = !req.body || Buffer.isBuffer(req.body);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once(req);
      } catch (e) {
        const delay = retryDelay(e, attempt);
        if (!retryable || attempt >= this.maxAttempts || delay === undefined || req.signal?.aborted) throw e;
        await new Promise(resolve => setTimeout(resolve, delay));
      }
    }
  }

  destroy(): void {
    this.agent.destroy();
  }

  private once(req: S3HttpRequest): Promise<S3HttpResponse> {
    const bucket = this.config.bucket;
    const pathStyle = this.config.forcePathStyle ?? true;
    const key = req.key === undefined ? '' : req.key.split('/').map(encodeRfc3986).join('/');
    const path = (pathStyle ? `/${bucket}/${key}` : `/${key}`) + queryString(req.query);
    const host = pathStyle ? this.url.host : `${bucket}.${this.url.host}`;
    const headers: Record<string, string | number> = {};
    for (const [k, v] of Object.entries(req.headers ?? {})) if (v !== undefined) headers[k] = v;
    const buffer = Buffer.isBuffer(req.body) ? req.body : undefined;
    if (req.body && !buffer) headers['X-Amz-Content-Sha256'] = 'UNSIGNED-PAYLOAD';
    // aws4 would label a body without a type as a form; S3's (and the SDK's) default is binary
    if (req.body && !Object.keys(headers).some(h => h.toLowerCase() === 'content-type')) headers['Content-Type'] = 'application/octet-stream';
    const signed = aws4.sign(
      { host, path, method: req.method, headers, body: buffer, service: 's3', region: this.config.region ?? 'us-east-1' },
      this.credentials,
    );
    return new Promise<S3HttpResponse>((resolve, reject) => {
      const r = this.transport.request(
        {
          protocol: this.url.protocol,
          hostname: pathStyle ? this.url.hostname : `${bucket}.${this.url.hostname}`,
          port: this.url.port || undefined,
          method: req.method,
          path: signed.path,
          headers: signed.headers,
          agent: this.agent,
          signal: req.signal,
        },
        res => {
          const status = res.statusCode ?? 0;
          if (status < 300 && req.stream) {
            resolve({ status, headers: res.headers, body: res });
            return;
          }
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (status >= 300) reject(responseError(status, text));
            else resolve({ status, headers: res.headers, text });
          });
        },
      );
      r.on('error', reject);
      // an idle socket for this long means the server is gone; a slow but moving transfer is not affected
      r.setTimeout(120_000, () => r.destroy(Object.assign(new Error('S3 socket timeout'), { name: 'TimeoutError', code: 'TimeoutError' })));
      r.on('socket', socket => {
        if (!socket.connecting) return;
        const timer = setTimeout(
          () => r.destroy(Object.assign(new Error(`connect ETIMEDOUT after ${this.connectTimeoutMs} ms`), { code: 'ETIMEDOUT' })),
          this.connectTimeoutMs,
        );
        socket.once('connect', () => clearTimeout(timer));
        socket.once('close', () => clearTimeout(timer));
      });
      if (!req.body || buffer) {
        r.end(buffer);
        return;
      }
      const source = req.body as Readable;
      source.once('error', e => r.destroy(e));
      source.pipe(r);
    });
  }
}

/** How long to wait before the next attempt, or undefined when the failure is not transient. */
function retryDelay(e: unknown, attempt: number): number | undefined {
  const err = e as { code?: string; name?: string; $metadata?: { httpStatusCode?: number } };
  const status = err.$metadata?.httpStatusCode;
  let base: number | undefined;
  if (status === 429 || THROTTLING.has(err.name ?? '')) base = THROTTLE_BASE_MS;
  else if ((status !== undefined && status >= 500) || err.name === 'RequestTimeout' || TRANSIENT_CODES.has(err.code ?? err.name ?? ''))
    base = RETRY_BASE_MS;
  if (base === undefined) return undefined;
  return Math.floor(Math.random() * Math.min(MAX_RETRY_DELAY_MS, 2 ** attempt * base)); // full jitter
}

/** A path segment as SigV4 canonicalizes it (also `!'()*`), so the path sent is the path signed. */
function encodeRfc3986(segment: string): string {
  return encodeURIComponent(segment).replace(/[!'()*]/g, c => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function queryString(query: Record<string, string | undefined> | undefined): string {
  const parts = Object.entries(query ?? {})
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => (v === '' ? encodeURIComponent(k) : `${encodeURIComponent(k)}=${encodeURIComponent(v)}`));
  return parts.length ? `?${parts.join('&')}` : '';
}

function responseError(status: number, xml: string): S3ResponseError {
  const code = xmlText(xml, 'Code');
  const message = xmlText(xml, 'Message') ?? `HTTP ${status}${code ? ` ${code}` : ''}`;
  return new S3ResponseError(code, status, message);
}

/** The text of the first `<tag>` in a small XML document, entities decoded. */
export function xmlText(xml: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(xml);
  return m ? decodeXml(m[1]) : undefined;
}

/** The inner XML of every `<tag>` element. */
export function xmlElements(xml: string, tag: string): string[] {
  return [...xml.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map(m => m[1]);
}

function decodeXml(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g, (_, e: string) => {
    if (e[0] === '#') return String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[e]!;
  });
}
