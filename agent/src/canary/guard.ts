/**
 * Who may use the canary, as pure functions of the request headers.
 *
 * Basic auth (optional, from the user's Secret): every route but /healthz. Compared in constant time.
 *
 * Cross-site writes (CSRF): the canary has no session and no cookie, but a browser re-sends basic auth
 * credentials (and reaches a port-forward on localhost) for a form another site submits. Writes are POST only,
 * and a POST is refused when the browser says it comes from elsewhere: `Sec-Fetch-Site` (sent by every current
 * browser, not forgeable by page scripts) must be `same-origin` or `none` (typed, bookmarked); a browser without it
 * must send an `Origin` of this host, as browsers do on every cross-origin POST. A request with neither header is
 * not a browser's (curl, the JSON API from a script) and is allowed. Chosen over a CSRF token because it needs no
 * state shared between canary pods nor a cookie, and the page keeps working without JavaScript.
 */
import { createHash, timingSafeEqual } from 'crypto';

export interface BasicAuthCredentials {
  username: string;
  password: string;
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** True when the `Authorization` header carries these credentials. */
export function basicAuthAccepts(header: string | undefined, expected: BasicAuthCredentials): boolean {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  const given = m ? Buffer.from(m[1], 'base64').toString('utf8') : '';
  const colon = given.indexOf(':');
  const user = colon < 0 ? '' : given.slice(0, colon);
  const password = colon < 0 ? '' : given.slice(colon + 1);
  // Both compared, always, in constant time: neither which part was wrong nor how much of it shows in the timing.
  const userOk = timingSafeEqual(digest(user), digest(expected.username));
  const passwordOk = timingSafeEqual(digest(password), digest(expected.password));
  return m !== null && colon >= 0 && userOk && passwordOk;
}

/** Why a write must be refused as cross-site, or undefined when it may go on. */
export function crossSiteWriteRefusal(headers: { host?: string; origin?: string; 'sec-fetch-site'?: string }): string | undefined {
  const site = headers['sec-fetch-site']?.toLowerCase();
  if (site !== undefined) {
    if (site === 'same-origin' || site === 'none') return undefined;
    return `the browser says this request comes from another ${site === 'same-site' ? 'origin of the same site' : 'site'} (Sec-Fetch-Site: ${site})`;
  }
  const origin = headers.origin;
  if (origin === undefined) return undefined;
  let originHost: string;
  try {
    originHost = origin === 'null' ? 'null' : new URL(origin).host;
  } catch {
    return `its Origin "${origin.slice(0, 100)}" is not a URL`;
  }
  if (headers.host !== undefined && originHost.toLowerCase() === headers.host.toLowerCase()) return undefined;
  return `it comes from ${origin === 'null' ? 'an opaque origin' : origin.slice(0, 100)}, not from this page (${headers.host ?? 'no Host header'})`;
}
