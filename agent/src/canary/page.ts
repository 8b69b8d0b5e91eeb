/**
 * The canary's HTML: one server-rendered page and an error page, readable on a phone, no JavaScript, no build
 * step. Every value is escaped by the `html` template tag; only other `html` fragments pass through unescaped.
 */
import { createHash } from 'crypto';
import { CanaryRecord, RecordPage, ServerStatus, Verdict } from './db';

export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, c => ESCAPES[c]);
}

function fragment(value: unknown): string {
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(fragment).join('');
  if (value === undefined || value === null || value === false) return '';
  return escapeHtml(String(value));
}

/** Template tag: interpolated values are escaped unless they are SafeHtml (or arrays of it). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0];
  values.forEach((v, i) => {
    out += fragment(v) + strings[i + 1];
  });
  return new SafeHtml(out);
}

const CSS = `
:root{color-scheme:light dark;--fg:#1b1f24;--bg:#fff;--muted:#57606a;--line:#d0d7de;--ok:#1a7f37;--okbg:#dafbe1;--bad:#cf222e;--badbg:#ffebe9;--accent:#0969da}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--muted:#8d96a0;--line:#30363d;--ok:#3fb950;--okbg:#12261e;--bad:#f85149;--badbg:#2d1214;--accent:#4493f8}}
*{box-sizing:border-box}
body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:52rem;margin:0 auto;padding:1rem}
h1{font-size:1.35rem;margin:0 0 .2rem}
h2{font-size:1.05rem;margin:1.4rem 0 .5rem}
.sub{color:var(--muted);margin:0 0 1rem;overflow-wrap:anywhere}
.verdict{border:2px solid var(--line);border-radius:10px;padding:.75rem .9rem;margin:0 0 1rem;font-weight:600;overflow-wrap:anywhere}
.verdict.ok{border-color:var(--ok);background:var(--okbg);color:var(--ok)}
.verdict.bad{border-color:var(--bad);background:var(--badbg);color:var(--bad)}
.flash{color:var(--ok);margin:0 0 .75rem}
form{margin:0 0 1rem}
button{width:100%;min-height:3rem;font:inherit;font-weight:600;color:#fff;background:var(--accent);border:0;border-radius:10px;cursor:pointer}
@media (min-width:561px){button{width:auto;padding:0 1.5rem}}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem .9rem;margin:0}
dt{color:var(--muted)}
dd{margin:0;overflow-wrap:anywhere;font-variant-numeric:tabular-nums}
table{width:100%;border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600}
td.payload{overflow-wrap:anywhere}
tr.bad td{color:var(--bad);background:var(--badbg)}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
.check{font-weight:600}
nav.pages{display:flex;justify-content:space-between;align-items:center;gap:.5rem;margin:.75rem 0}
a{color:var(--accent)}
footer{color:var(--muted);font-size:.875rem;margin-top:1.5rem}
.error{border:2px solid var(--bad);background:var(--badbg);border-radius:10px;padding:.9rem}
.error p{margin:.3rem 0}
.cause{font-weight:600;color:var(--bad);overflow-wrap:anywhere}
.nowrap{white-space:nowrap}
@media (max-width:560px){
  thead{position:absolute;left:-10000px}
  table,tbody,tr,td{display:block;width:100%}
  tr{border:1px solid var(--line);border-radius:10px;margin:0 0 .6rem;padding:.35rem .6rem}
  td{border:0;padding:.1rem 0}
  td::before{content:attr(data-label) ": ";color:var(--muted);font:400 .9rem system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
}
`.trim();

/** For the Content-Security-Policy: the page's only style is this inline block, and scripts are not allowed at all. */
export const STYLE_HASH = `'sha256-${createHash('sha256').update(CSS).digest('base64')}'`;

function layout(title: string, body: SafeHtml): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title}</title>
        <style>
          ${new SafeHtml(CSS)}
        </style>
      </head>
      <body>
        <main>${body}</main>
      </body>
    </html> `.value;
}

export interface PageModel {
  /** e.g. `keycloak-pg-cluster / keycloak`. */
  title: string;
  /** `host:port/database`, no password. */
  target: string;
  status: ServerStatus;
  verdict: Verdict;
  records: RecordPage;
  /** Seq of the record just written (after the redirect). */
  written?: number;
  heartbeatSeconds?: number;
}

export function renderPage(m: PageModel): string {
  const { status: s, verdict: v, records: r } = m;
  const body = html` <h1>Restore canary</h1>
    <p class="sub">${m.title} &middot; <span class="mono">${m.target}</span></p>
    <p class="verdict ${v.total === 0 ? '' : v.ok ? 'ok' : 'bad'}" id="verdict">${verdictHtml(v)}</p>
    ${m.written !== undefined ? html`<p class="flash" id="flash">Record #${m.written} written.</p>` : ''}
    <form method="post" action="/records">
      <button type="submit" id="write">Write a test record</button>
    </form>
    <h2>Server</h2>
    <dl id="status">
      <dt>Role</dt>
      <dd id="role">${s.role}${s.inRecovery ? ' (in recovery, read-only)' : ''}</dd>
      <dt>Current LSN</dt>
      <dd class="mono" id="lsn">${s.lsn}</dd>
      ${
        s.timeline !== undefined
          ? html`<dt>Timeline</dt>
              <dd id="timeline">${s.timeline}</dd>`
          : ''
      }
      <dt>Server time</dt>
      <dd class="mono" id="server-time">${s.serverTime}</dd>
      <dt>Database</dt>
      <dd>${s.database} as ${s.user}</dd>
      <dt>Version</dt>
      <dd>PostgreSQL ${s.version}</dd>
      <dt>Heartbeat</dt>
      <dd>${m.heartbeatSeconds ? `one record every ${m.heartbeatSeconds} s` : 'off'}</dd>
    </dl>
    <h2>Records</h2>
    ${
      r.records.length === 0
        ? html`<p id="no-records">${r.total === 0 ? 'No records yet.' : `No records on page ${r.page}.`}</p>`
        : html`<table id="records">
            <thead>
              <tr>
                <th>Record</th>
                <th>Written (UTC)</th>
                <th>Payload</th>
                <th>Checksum</th>
              </tr>
            </thead>
            <tbody>
              ${r.records.map(recordRow)}
            </tbody>
          </table>`
    }
    ${pager(r)}
    <footer>
      <p>
        Each record's checksum is the SHA-256 of <span class="mono">seq|created_at|payload</span>; the verdict checks them all. JSON:
        <a href="/api/verdict">/api/verdict</a>, <a href="/api/records?page=${r.page}">/api/records</a>, <a href="/api/status">/api/status</a>.
      </p>
    </footer>`;
  return layout(`Canary: ${v.ok ? 'OK' : 'BAD'} · ${m.title}`, body);
}

/** The verdict's text, with the newest record's time kept on one line. */
function verdictHtml(v: Verdict): SafeHtml {
  if (v.newestAt && v.ok && v.text.endsWith(v.newestAt)) {
    return html`${v.text.slice(0, -v.newestAt.length)}<span class="nowrap">${v.newestAt}</span>`;
  }
  return html`${v.text}`;
}

function recordRow(rec: CanaryRecord): SafeHtml {
  return html`<tr class="${rec.valid ? 'good' : 'bad'}" data-seq="${rec.seq}">
    <td data-label="Record">#${rec.seq}</td>
    <td data-label="Written" class="mono">${rec.createdAt.replace('T', ' ').replace('Z', '')}</td>
    <td data-label="Payload" class="payload mono">${rec.payload}</td>
    <td data-label="Checksum" class="check">${rec.valid ? '✓ valid' : '✗ mismatch'}</td>
  </tr> `;
}

function pager(r: RecordPage): SafeHtml | string {
  if (r.pages <= 1) return '';
  const newer = r.page > 1 ? html`<a href="/?page=${r.page - 1}" rel="prev">&larr; Newer</a>` : html`<span></span>`;
  const older = r.page < r.pages ? html`<a href="/?page=${r.page + 1}" rel="next">Older &rarr;</a>` : html`<span></span>`;
  return html`<nav class="pages">${newer}<span>page ${r.page} of ${r.pages}</span>${older}</nav>`;
}

/** The page shown (with HTTP 503) when the database cannot be reached or refuses the canary. */
export function renderErrorPage(e: { title: string; target: string; cause: string; hint: string }): string {
  const body = html` <h1>Restore canary</h1>
    <p class="sub">${e.title} &middot; <span class="mono">${e.target}</span></p>
    <div class="error" id="error">
      <p><strong>The canary cannot use the database.</strong></p>
      <p class="cause" id="cause">${e.cause}</p>
      <p>${e.hint}</p>
    </div>
    <p><a href="/">Try again</a></p>`;
  return layout(`Canary: database unavailable · ${e.title}`, body);
}

/** A plain page for 400/404/405/500, without any internal detail. */
export function renderMessagePage(title: string, message: string): string {
  return layout(
    title,
    html`<h1>${title}</h1>
      <p>${message}</p>
      <p><a href="/">Back to the canary</a></p>`,
  );
}
