/**
 * The canary's HTTP server (node:http). Routes:
 *   GET  /                 the page (?page=N, 20 records a page, newest first; ?written=N after a write)
 *   POST /records          the button: writes one record, then 303 to /?written=<seq> (redirect-after-post)
 *   GET  /api/records      ?page=N, JSON          POST /api/records  writes one record, 201 + JSON
 *   GET  /api/verdict      JSON                   GET  /api/status   JSON
 *   GET  /healthz          200 while the server runs (the database's state is shown on the page, not probed:
 *                          a canary that the kubelet restarted or took out of the Service could not say why)
 * A database failure answers 503 with the cause in plain words (page or `{ "error", "hint" }`), never a stack trace.
 */
import * as http from 'http';
import { log } from '../common/log';
import { CanaryDb, CanaryDbError } from './db';
import { BasicAuthCredentials, basicAuthAccepts, crossSiteWriteRefusal } from './guard';
import { STYLE_HASH, renderErrorPage, renderMessagePage, renderPage } from './page';

export interface CanaryServerOptions {
  db: CanaryDb;
  title: string;
  target: string;
  heartbeatSeconds?: number;
  /** Basic auth for every route but /healthz. */
  auth?: BasicAuthCredentials;
}

const HTML_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  'Content-Security-Policy': `default-src 'none'; style-src ${STYLE_HASH}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};
const JSON_HEADERS = { 'Content-Type': 'application/json; charset=utf-8', 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-store' };

class BadRequest extends Error {}

/** `?page=N`: a positive integer, 1 when absent. */
export function parsePage(raw: string | null): number {
  if (raw === null || raw === '') return 1;
  if (!/^[1-9][0-9]{0,8}$/.test(raw)) throw new BadRequest(`page must be a positive whole number, not "${raw.slice(0, 20)}"`);
  return Number(raw);
}

export function createCanaryServer(o: CanaryServerOptions): http.Server {
  return http.createServer((req, res) => {
    const started = Date.now();
    // Bodies are never read (the form has no fields): discard whatever comes.
    req.resume();
    handle(o, req, res)
      .catch(err => {
        log.error({ err, path: req.url }, 'canary request failed unexpectedly');
        if (!res.headersSent)
          send(res, 500, HTML_HEADERS, renderMessagePage('Internal error', 'The canary hit an unexpected error; its log says more.'));
        else res.end();
      })
      .finally(() => log.debug({ method: req.method, path: req.url, status: res.statusCode, ms: Date.now() - started }, 'request'));
  });
}

function send(res: http.ServerResponse, status: number, headers: Record<string, string>, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...headers, ...extra, 'Content-Length': String(Buffer.byteLength(body)) });
  res.end(body);
}

const json = (res: http.ServerResponse, status: number, body: unknown) => send(res, status, JSON_HEADERS, JSON.stringify(body, null, 2) + '\n');

async function handle(o: CanaryServerOptions, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://canary.invalid');
  const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
  const route = `${method} ${url.pathname}`;
  const api = url.pathname.startsWith('/api/');
  if (route === 'GET /healthz') return send(res, 200, { 'Content-Type': 'text/plain; charset=utf-8' }, 'ok\n');
  if (o.auth && !basicAuthAccepts(req.headers.authorization, o.auth)) {
    const challenge = { 'WWW-Authenticate': 'Basic realm="pg-agent canary", charset="UTF-8"' };
    return api
      ? send(res, 401, JSON_HEADERS, JSON.stringify({ error: 'authentication required' }) + '\n', challenge)
      : send(res, 401, HTML_HEADERS, renderMessagePage('Login required', 'The canary needs its user name and password.'), challenge);
  }
  if (method === 'POST') {
    const refusal = crossSiteWriteRefusal(req.headers as Record<string, string | undefined>);
    if (refusal) {
      log.warn({ path: url.pathname, origin: req.headers.origin, fetchSite: req.headers['sec-fetch-site'] }, 'cross-site write refused');
      const message = `Refused: ${refusal}. Records are written only from the canary's own page.`;
      return api ? json(res, 403, { error: message }) : send(res, 403, HTML_HEADERS, renderMessagePage('Forbidden', message));
    }
  }
  try {
    switch (route) {
      case 'GET /': {
        const page = parsePage(url.searchParams.get('page'));
        const written = url.searchParams.get('written');
        const overview = await o.db.overview(page);
        return send(
          res,
          200,
          HTML_HEADERS,
          renderPage({
            title: o.title,
            target: o.target,
            ...overview,
            heartbeatSeconds: o.heartbeatSeconds,
            written: written !== null && /^[0-9]{1,18}$/.test(written) ? Number(written) : undefined,
          }),
        );
      }
      case 'POST /records': {
        const rec = await o.db.insert('button');
        log.info({ seq: rec.seq, source: 'button' }, 'canary record written');
        return send(res, 303, HTML_HEADERS, renderMessagePage('Written', `Record #${rec.seq} written.`), { Location: `/?written=${rec.seq}` });
      }
      case 'GET /api/records':
        return json(res, 200, await o.db.records(parsePage(url.searchParams.get('page'))));
      case 'POST /api/records': {
        const rec = await o.db.insert('api');
        log.info({ seq: rec.seq, source: 'api' }, 'canary record written');
        return json(res, 201, rec);
      }
      case 'GET /api/verdict':
        return json(res, 200, await o.db.verdict());
      case 'GET /api/status':
        return json(res, 200, await o.db.status());
      default: {
        const allowed = ALLOWED[url.pathname];
        if (allowed) {
          res.setHeader('Allow', allowed);
          return api
            ? json(res, 405, { error: `${req.method} is not allowed on ${url.pathname}` })
            : send(res, 405, HTML_HEADERS, renderMessagePage('Method not allowed', `Use ${allowed} on ${url.pathname}.`));
        }
        return api
          ? json(res, 404, { error: `no such endpoint: ${url.pathname}` })
          : send(res, 404, HTML_HEADERS, renderMessagePage('Not found', 'There is nothing at this address.'));
      }
    }
  } catch (e) {
    if (e instanceof BadRequest) {
      return api ? json(res, 400, { error: e.message }) : send(res, 400, HTML_HEADERS, renderMessagePage('Bad request', e.message));
    }
    if (e instanceof CanaryDbError) {
      log.warn({ cause: e.message, code: e.code, path: url.pathname }, 'database unavailable');
      if (api) return json(res, 503, { error: e.message, hint: e.hint });
      return send(res, 503, HTML_HEADERS, renderErrorPage({ title: o.title, target: o.target, cause: e.message, hint: e.hint }), {
        'Retry-After': '5',
      });
    }
    throw e;
  }
}

const ALLOWED: Record<string, string> = {
  '/': 'GET, HEAD',
  '/records': 'POST',
  '/healthz': 'GET, HEAD',
  '/api/records': 'GET, HEAD, POST',
  '/api/verdict': 'GET, HEAD',
  '/api/status': 'GET, HEAD',
};
