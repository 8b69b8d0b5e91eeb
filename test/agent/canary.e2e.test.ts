/**
 * The restore canary in a real browser: dist/keycloak.k8s.yaml's secrets Job and instance 0 run as processes
 * against real PostgreSQL, the canary Deployment's container runs with the manifest's exact command, args and env
 * (the Service host mapped to the harness's loopback Service IP), and headless Debian Chromium, driven by
 * playwright-core, presses the button as a person would, on a phone-sized screen.
 *
 * Needs `apt-get install chromium` (Debian's package; no browser is downloaded). Screenshots: /tmp/canary.png
 * (records, verdict valid), /tmp/canary-tampered.png, /tmp/canary-error.png.
 */
import * as fs from 'fs';
import { Browser, BrowserContext, Page, chromium } from 'playwright-core';
import { CANARY_ENV, CA_MOUNT, tlsNames } from '../../lib/contract';
import { checksumOf } from '../../agent/src/canary/db';
import { ClusterHarness, eventually, freePort, query } from '../support/cluster-harness';
import { KubeObject, findObject } from '../support/manifests';
import { AgentProcess, containerLaunch, tempDir } from '../support/pod-runner';

jest.setTimeout(180000);

const CHROMIUM = process.env.PGC_TEST_CHROMIUM ?? '/usr/bin/chromium';
const CLUSTER = 'keycloak-pg-cluster';
const CANARY = `${CLUSTER}-canary`;
const PHONE = { width: 390, height: 844 };
const STACK_TRACE = /\n\s+at .+:\d+:\d+|\bat (async )?\w+ \(|node:internal|\.mjs:\d+/;

describe('restore canary e2e: keycloak-pg-cluster-canary from dist/, in Chromium', () => {
  const h = new ClusterHarness('keycloak.k8s.yaml', CLUSTER);
  let deployment: KubeObject;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let base: string;
  let app: Record<string, string>;
  const db = () => h.connectionFromUri(app.uri);

  /**
   * Starts the canary Deployment's container as the kubelet would: secretKeyRefs resolved from the API double,
   * the `-rw` Service host (in `uri` and the host part) mapped to the harness's loopback Service IP, the listen
   * port to a free one. `tweak` may change a value further (wrong credentials).
   */
  async function startCanary(
    extraEnv: Record<string, string> = {},
    tweak?: (name: string, value: string) => string,
  ): Promise<{ p: AgentProcess; url: string }> {
    const port = await freePort();
    // The cluster CA, as the kubelet mounts Secret <cluster>-ca (the canary verifies the server with it).
    const caDir = tempDir('canary-ca', h.user);
    fs.writeFileSync(`${caDir}/ca.crt`, h.secretData(tlsNames.caSecret(CLUSTER))!['ca.crt'], { mode: 0o644 });
    const launch = containerLaunch(deployment, 'canary', {
      podName: `${CANARY}-7d9f8-abcde`,
      namespace: h.namespace,
      paths: { [CA_MOUNT.mountPath]: caDir },
      secret: (name, key) => h.secretData(name)?.[key],
      rewriteEnv: (name, value) => {
        let v = value;
        if (name === CANARY_ENV.httpPort) v = String(port);
        if (name === CANARY_ENV.uri) {
          const u = new URL(v);
          u.hostname = h.serviceIps[u.hostname.split('.')[0]];
          v = u.toString();
        }
        if (name === CANARY_ENV.host) v = h.serviceIps[v] ?? v;
        return tweak ? tweak(name, v) : v;
      },
    });
    launch.env = { ...launch.env, ...extraEnv };
    const p = new AgentProcess(launch, { user: h.user });
    h.processes.push(p);
    await p.waitForLog(l => l.msg === 'canary listening', 15000);
    return { p, url: `http://127.0.0.1:${port}` };
  }

  const verdict = () => page.locator('#verdict').innerText();
  const rows = () => page.locator('#records tbody tr');

  beforeAll(async () => {
    if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (Debian's package)`);
    deployment = findObject(h.objects, 'Deployment', CANARY);
    await h.start();
    // The BackupStore's credentials are the user's (Rook creates them); archiving is not exercised here, so a
    // stand-in lets the instance start and the store's endpoint points nowhere.
    h.seedSecret('rook-ceph-object-user-rgw-bulk-cnpg-backup-keycloak', { AccessKey: 'stand-in', SecretKey: 'stand-in' });
    const job = await h.runSecretsJob();
    expect(await job.exited).toBe(0);
    h.startInstance(0, { PGC_S3_ENDPOINT: 'http://127.0.0.1:9' });
    await h.waitReady(0, 90000);
    app = h.secretData(`${CLUSTER}-keycloak-app`)!;
    base = (await startCanary()).url;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    context = await browser.newContext({ viewport: PHONE, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    page = await context.newPage();
  });

  afterAll(async () => {
    await browser?.close();
    await h.stop();
  });

  test('the first visit creates the table and says there are no records yet; the server is the primary', async () => {
    const res = await page.goto(base);
    expect(res!.status()).toBe(200);
    expect(await verdict()).toBe('0 records yet: press the button to write one');
    expect(await page.locator('#role').innerText()).toBe('primary');
    expect(await page.locator('#lsn').innerText()).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(await page.locator('#server-time').innerText()).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(await page.locator('#no-records').innerText()).toBe('No records yet.');
    const [table] = await query(
      db(),
      "SELECT to_regclass('pgc_canary')::text AS t, (SELECT tableowner FROM pg_tables WHERE tablename = 'pgc_canary') AS owner",
    );
    expect(table).toEqual({ t: 'pgc_canary', owner: 'keycloak' });
    const headers = res!.headers();
    expect(headers['content-security-policy']).toMatch(/default-src 'none'; style-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(headers['cache-control']).toBe('no-store');
  });

  test('three presses of the button write three records, shown newest first, with the valid verdict', async () => {
    for (let i = 1; i <= 3; i++) {
      await Promise.all([page.waitForURL(u => u.pathname === '/' && u.searchParams.get('written') === String(i)), page.locator('#write').click()]);
      expect(await page.locator('#flash').innerText()).toBe(`Record #${i} written.`);
    }
    expect(await rows().count()).toBe(3);
    expect(await rows().evaluateAll(trs => trs.map(tr => tr.getAttribute('data-seq')))).toEqual(['3', '2', '1']);
    const stored = await query(
      db(),
      `SELECT seq::int, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at, payload, checksum FROM pgc_canary ORDER BY seq`,
    );
    expect(stored.map(r => r.seq)).toEqual([1, 2, 3]);
    for (const r of stored) {
      expect(r.payload).toMatch(/^button [0-9a-f]{16}$/);
      // The documented algorithm: sha256 of "seq|created_at (UTC, microseconds)|payload".
      expect(r.checksum).toBe(checksumOf(r.seq, r.at, r.payload));
    }
    expect(await verdict()).toBe(`3 records, all checksums valid, newest at ${stored[2].at}`);
    expect(await page.locator('#verdict').getAttribute('class')).toBe('verdict ok');
    expect(await page.locator('td.check').allInnerTexts()).toEqual(['✓ valid', '✓ valid', '✓ valid']);
    // Readable on a phone: nothing wider than the screen (the table turns into cards).
    expect(await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth as number)).toBeLessThanOrEqual(PHONE.width);
    await page.screenshot({ path: '/tmp/canary.png', fullPage: true });
  });

  test('the JSON endpoints give the same data; bad input and unknown routes are refused plainly', async () => {
    const get = async (p: string) => {
      const r = await fetch(base + p);
      return {
        status: r.status,
        type: r.headers.get('content-type'),
        body: (r.headers.get('content-type')?.startsWith('application/json') ? await r.json() : await r.text()) as any,
      };
    };
    const records = await get('/api/records?page=1');
    expect(records.status).toBe(200);
    expect(records.body).toMatchObject({ page: 1, pageSize: 20, total: 3, pages: 1 });
    expect(records.body.records.map((r: any) => [r.seq, r.valid])).toEqual([
      [3, true],
      [2, true],
      [1, true],
    ]);
    expect(records.body.records[0].createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    const v = await get('/api/verdict');
    expect(v.body).toMatchObject({ ok: true, total: 3, invalidCount: 0, invalid: [], newestSeq: 3 });
    expect(v.body.text).toBe(await verdict());
    const s = await get('/api/status');
    expect(s.body).toMatchObject({ role: 'primary', inRecovery: false, database: 'keycloak', user: 'keycloak', timeline: 1 });
    expect(s.body.version).toMatch(/^15\./);

    const posted = await fetch(`${base}/api/records`, { method: 'POST' });
    expect(posted.status).toBe(201);
    const rec = (await posted.json()) as any;
    expect(rec).toMatchObject({ seq: 4, valid: true });
    expect(rec.payload).toMatch(/^api [0-9a-f]{16}$/);

    expect(await get('/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
    expect(await get('/api/records?page=0')).toMatchObject({ status: 400, body: { error: 'page must be a positive whole number, not "0"' } });
    expect((await get('/?page=-1')).status).toBe(400);
    expect(await get('/api/nothing')).toMatchObject({ status: 404 });
    const put = await fetch(`${base}/api/records`, { method: 'PUT' });
    expect([put.status, put.headers.get('allow')]).toEqual([405, 'GET, HEAD, POST']);
    // Redirect-after-post without a browser too: 303 to the page.
    const form = await fetch(`${base}/records`, { method: 'POST', redirect: 'manual' });
    expect([form.status, form.headers.get('location')]).toEqual([303, '/?written=5']);
  });

  test('a row changed in SQL is named in the verdict and marked in the list', async () => {
    await query(db(), "UPDATE pgc_canary SET payload = 'edited behind the canary''s back' WHERE seq = 2");
    await page.goto(base);
    expect(await verdict()).toBe('5 records, 1 with a bad checksum: record #2: checksum mismatch');
    expect(await page.locator('#verdict').getAttribute('class')).toBe('verdict bad');
    const bad = page.locator('#records tbody tr.bad');
    expect(await bad.count()).toBe(1);
    expect(await bad.getAttribute('data-seq')).toBe('2');
    expect(await bad.locator('td.check').innerText()).toBe('✗ mismatch');
    // Changing created_at or the checksum itself is caught the same way.
    await query(db(), "UPDATE pgc_canary SET created_at = created_at - interval '1 hour' WHERE seq = 4");
    await query(db(), "UPDATE pgc_canary SET checksum = repeat('0', 64) WHERE seq = 5");
    const v = (await (await fetch(`${base}/api/verdict`)).json()) as any;
    expect(v).toMatchObject({
      ok: false,
      invalidCount: 3,
      invalid: [
        { seq: 2, problem: 'checksum mismatch' },
        { seq: 4, problem: 'checksum mismatch' },
        { seq: 5, problem: 'checksum mismatch' },
      ],
    });
    expect(v.text).toBe('5 records, 3 with a bad checksum: record #2: checksum mismatch; record #4: checksum mismatch; record #5: checksum mismatch');
    await page.reload();
    await page.screenshot({ path: '/tmp/canary-tampered.png', fullPage: true });
  });

  test('whatever the table holds is shown as text, never as markup', async () => {
    const dialogs: string[] = [];
    page.on('dialog', d => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await query(db(), `UPDATE pgc_canary SET payload = '<script>alert(1)</script><img src=x onerror="alert(2)">"&amp;' WHERE seq = 1`);
    await page.goto(`${base}/?page=1&written=<b>1</b>`);
    const cell = page.locator('#records tbody tr[data-seq="1"] td.payload');
    expect(await cell.innerText()).toBe('<script>alert(1)</script><img src=x onerror="alert(2)">"&amp;');
    expect(await page.locator('script, img, b').count()).toBe(0);
    expect(dialogs).toEqual([]);
  });

  test('pages of 20, newest first, with links between them', async () => {
    for (let i = 0; i < 25; i++) expect((await fetch(`${base}/api/records`, { method: 'POST' })).status).toBe(201);
    await page.goto(base);
    expect(await rows().count()).toBe(20);
    expect(await rows().first().getAttribute('data-seq')).toBe('30');
    expect(await page.locator('nav.pages').innerText()).toContain('page 1 of 2');
    await Promise.all([page.waitForURL(u => u.searchParams.get('page') === '2'), page.locator('a[rel=next]').click()]);
    expect(await rows().evaluateAll(trs => trs.map(tr => Number(tr.getAttribute('data-seq'))))).toEqual([10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
    expect(await page.locator('a[rel=prev]').getAttribute('href')).toBe('/?page=1');
    await page.goto(`${base}/?page=3`);
    expect(await page.locator('#no-records').innerText()).toBe('No records on page 3.');
  });

  test('with a heartbeat the canary writes a record every N seconds by itself', async () => {
    const { p, url } = await startCanary({ [CANARY_ENV.heartbeatSeconds]: '1' });
    const beats = await eventually(
      async () => {
        const recs = ((await (await fetch(`${url}/api/records`)).json()) as any).records.filter((r: any) => r.payload.startsWith('heartbeat '));
        if (recs.length < 3) throw new Error(`${recs.length} heartbeat records so far`);
        return recs;
      },
      15000,
      500,
    );
    expect(beats.every((r: any) => r.valid)).toBe(true);
    const gaps = beats.slice(0, 3).map((r: any, i: number, a: any[]) => (i === 0 ? 1000 : Date.parse(a[i - 1].createdAt) - Date.parse(r.createdAt)));
    for (const g of gaps) expect(g).toBeGreaterThan(700);
    p.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(p.logs().some(l => l.msg === 'canary stopped')).toBe(true);
    // JSON lines only, without the password.
    for (const line of p.lines) expect(() => JSON.parse(line)).not.toThrow();
    expect(p.lines.join('\n')).not.toContain(app.password);
  });

  test('wrong credentials: a 503 page that names the cause, with neither password nor stack trace', async () => {
    const wrong = 'not-the-password-1234';
    const { p, url } = await startCanary({}, (name, value) => {
      if (name === CANARY_ENV.uri) {
        const u = new URL(value);
        u.password = wrong;
        return u.toString();
      }
      return value;
    });
    const res = await page.goto(url);
    expect(res!.status()).toBe(503);
    const cause = await page.locator('#cause').innerText();
    expect(cause).toBe(`cannot connect to ${h.serviceIps[`${CLUSTER}-rw`]}:5432: password authentication failed for user "keycloak"`);
    expect(await page.locator('#error').innerText()).toContain("The password in the app Secret does not match the role's.");
    const text = await page.content();
    expect(text).not.toContain(wrong);
    expect(text).not.toContain(app.password);
    expect(text).not.toMatch(STACK_TRACE);
    const api = await fetch(`${url}/api/verdict`);
    expect(api.status).toBe(503);
    expect(((await api.json()) as any).error).toBe(cause);
    // The pod stays up and in its Service: the page is how the problem is seen.
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const warned = p.logs().find(l => l.msg === 'database unavailable');
    expect(warned).toMatchObject({ level: 'warn', cause, code: '28P01' });
    expect(p.lines.join('\n')).not.toContain(wrong);
  });

  test('PostgreSQL stopped: the page says it cannot connect, and comes back with the server', async () => {
    const instance = h.pods[0].process!;
    instance.kill('SIGTERM');
    expect(await instance.exited).toBe(0);
    const res = await page.goto(base);
    expect(res!.status()).toBe(503);
    const cause = await page.locator('#cause').innerText();
    expect(cause).toMatch(new RegExp(`^cannot connect to ${h.serviceIps[`${CLUSTER}-rw`].replace(/\./g, '\\.')}:5432: `));
    expect(await page.locator('#error').innerText()).toContain("Is the cluster's primary running and ready?");
    expect(await page.title()).toBe(`Canary: database unavailable · ${CLUSTER} / keycloak`);
    expect(await page.content()).not.toMatch(STACK_TRACE);
    expect(await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth as number)).toBeLessThanOrEqual(PHONE.width);
    await page.screenshot({ path: '/tmp/canary-error.png', fullPage: true });
    // A button press now fails the same way, without writing anything.
    const post = await fetch(`${base}/records`, { method: 'POST', redirect: 'manual' });
    expect(post.status).toBe(503);
    expect(await post.text()).toContain('cannot connect to');

    h.startInstance(0, { PGC_S3_ENDPOINT: 'http://127.0.0.1:9' });
    await h.waitReady(0, 90000);
    await eventually(
      async () => {
        const r = await page.goto(base);
        expect(r!.status()).toBe(200);
      },
      20000,
      500,
    );
    expect(await verdict()).toMatch(/^3\d records, 4 with a bad checksum: record #1: checksum mismatch; record #2: checksum mismatch; record #4/);
  });
});
