/**
 * The canary's guards as pure functions: basic auth (both parts must match) and the cross-site write check
 * (Sec-Fetch-Site first, Origin against Host for browsers without it, non-browser clients allowed).
 */
import { basicAuthAccepts, crossSiteWriteRefusal } from '../../agent/src/canary/guard';

const creds = { username: 'ops', password: 's3cret:with:colons' };
const basic = (s: string) => `Basic ${Buffer.from(s, 'utf8').toString('base64')}`;

describe('basic auth', () => {
  test.each<[string, string | undefined, boolean]>([
    ['the right user and password', basic('ops:s3cret:with:colons'), true],
    ['a lower-case scheme', basic('ops:s3cret:with:colons').replace('Basic', 'basic'), true],
    ['no header', undefined, false],
    ['an empty header', '', false],
    ['a wrong password', basic('ops:s3cret'), false],
    ['a wrong user', basic('root:s3cret:with:colons'), false],
    ['no colon', basic('ops'), false],
    ['a Bearer token', 'Bearer abc', false],
    ['garbage base64', 'Basic !!!', false],
  ])('%s', (_what, header, accepted) => {
    expect(basicAuthAccepts(header, creds)).toBe(accepted);
  });
});

describe('cross-site writes', () => {
  test.each<[string, Record<string, string>, RegExp | undefined]>([
    ['same-origin by Fetch Metadata', { host: 'canary.lan', 'sec-fetch-site': 'same-origin' }, undefined],
    ['typed or bookmarked (none)', { host: 'canary.lan', 'sec-fetch-site': 'none' }, undefined],
    [
      'cross-site by Fetch Metadata',
      { host: 'canary.lan', 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' },
      /another site \(Sec-Fetch-Site: cross-site\)/,
    ],
    ['same-site but another origin', { host: 'canary.lan', 'sec-fetch-site': 'same-site' }, /another origin of the same site/],
    [
      'Fetch Metadata wins over a matching Origin',
      { host: 'canary.lan', origin: 'http://canary.lan', 'sec-fetch-site': 'cross-site' },
      /another site/,
    ],
    ['an old browser, Origin of this host', { host: 'canary.lan:8080', origin: 'http://canary.lan:8080' }, undefined],
    [
      'an old browser, Origin of another host',
      { host: 'canary.lan', origin: 'http://evil.example' },
      /comes from http:\/\/evil\.example, not from this page \(canary\.lan\)/,
    ],
    ['an opaque origin (sandboxed frame)', { host: 'canary.lan', origin: 'null' }, /an opaque origin/],
    ['an Origin that is no URL', { host: 'canary.lan', origin: 'nonsense' }, /is not a URL/],
    ['curl or a script: no browser headers', { host: 'canary.lan' }, undefined],
  ])('%s', (_what, headers, refused) => {
    const why = crossSiteWriteRefusal(headers);
    if (refused) expect(why).toMatch(refused);
    else expect(why).toBeUndefined();
  });
});
