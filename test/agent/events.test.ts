/**
 * Kubernetes Events (events.k8s.io/v1) recorded by the agents, sent with the real client-node to the API double,
 * which enforces the Roles the constructs render and the API's validation of events: the instance's Role may
 * create them, an identity without the right is refused and the caller never sees it; an event the API could not
 * take (unreachable) is retried in the background; the event is named `<pod>.<hex>` and its note fits the API limit.
 */
import * as fs from 'fs';
import { Chart, Size, Testing } from 'cdk8s';
import { BackupStore, PostgresCluster, RestoreDrill } from '../../lib';
import { EVENT_REASONS, EVENT_REPORTING_CONTROLLER } from '../../lib/contract';
import { buildEvent, eventName, eventRecorder } from '../../agent/src/k8s/events';
import { InstanceEvents } from '../../agent/src/instance/events';
import { JobEvents } from '../../agent/src/k8s/job-events';
import { KubeApiDouble } from '../support/kube-api-double';
import { tempDir } from '../support/pod-runner';

// The real @kubernetes/client-node as its CommonJS bundle (jest cannot import the package's ES modules): the last
// test sends a bad event with it, to show the double answers as the API server does to any client.
// eslint-disable-next-line @typescript-eslint/no-require-imports
jest.mock('@kubernetes/client-node', () => require('../support/kube-api-double/client-node').loadClientNode());

const NS = 'apps';
const chart = new Chart(Testing.app(), 'c', { namespace: NS });
const store = new BackupStore(chart, 'store', { endpoint: 'https://rgw.example:443', bucket: 'backups', credentials: { secretName: 'keys' } });
const cluster = new PostgresCluster(chart, 'pg', {
  name: 'pg',
  instances: 2,
  storage: { size: Size.gibibytes(1) },
  databases: [{ name: 'app', owner: 'app' }],
  backup: { store },
});
new RestoreDrill(chart, 'drill', { cluster });
const objects = Testing.synth(chart) as any[];

const api = new KubeApiDouble();
const dir = tempDir('events');
let savedKubeconfig: string | undefined;
/** Uses `token` for the next recorder (it reads KUBECONFIG when the first event is sent). */
const actAs = (token: string) => {
  process.env.KUBECONFIG = api.writeKubeconfig(fs.mkdtempSync(`${dir}/kc-`), token, NS);
};

beforeAll(async () => {
  savedKubeconfig = process.env.KUBECONFIG;
  await api.start();
  api.applyRbac(objects);
  api.seed({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'pg-1', namespace: NS, uid: 'uid-of-pg-1' },
    spec: { containers: [{ name: 'postgres', image: 'x' }] },
  });
});
afterAll(async () => {
  if (savedKubeconfig === undefined) delete process.env.KUBECONFIG;
  else process.env.KUBECONFIG = savedKubeconfig;
  await api.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const eventsOf = (pod: string) => api.list('events', NS).filter(e => e.regarding?.name === pod);

test("the event is named <pod>.<hex nanoseconds> like kubectl's, and a long note is cut to the API's 1 kB", () => {
  const at = new Date('2026-12-03T14:00:00.123Z');
  expect(eventName('pg-0', at)).toBe(`pg-0.${(BigInt(at.getTime()) * 1_000_000n).toString(16)}`);
  expect(eventName('pg-0', at, 1)).not.toBe(eventName('pg-0', at, 0));
  const e = buildEvent(
    { namespace: NS, podName: 'pg-0' },
    { reason: EVENT_REASONS.backupFailed, type: 'Warning', action: 'Backup', note: 'x'.repeat(3000) },
    at,
  );
  expect(e.note!.length).toBe(1024);
  expect(e).toMatchObject({
    reason: 'BackupFailed',
    type: 'Warning',
    reportingController: EVENT_REPORTING_CONTROLLER,
    regarding: { kind: 'Pod', name: 'pg-0', namespace: NS },
  });
});

test('the instance Role may create events: a failover is recorded on the pod, with its uid, as the API validates it', async () => {
  actAs(api.podToken(NS, 'pg', 'pg-1'));
  const events = new InstanceEvents(
    { namespace: NS, podName: 'pg-1' },
    {
      getPod: async () => api.get('Pod', NS, 'pg-1') as any,
    },
  );
  events.promoted('failover', 'pg-0', '0/3000060');
  await events.recorder.settled(5000);
  const [e] = eventsOf('pg-1');
  expect(e).toMatchObject({
    reason: 'Failover',
    type: 'Warning',
    action: 'Promote',
    reportingInstance: 'pg-agent-pg-1',
    regarding: { apiVersion: 'v1', kind: 'Pod', name: 'pg-1', namespace: NS, uid: 'uid-of-pg-1' },
    related: { kind: 'Pod', name: 'pg-0' },
  });
  expect(e.metadata.name).toMatch(/^pg-1\.[0-9a-f]+$/);
  expect(e.note).toContain('pg-0');
  expect(e.eventTime).toMatch(/\.\d{6}Z$/); // sent as MicroTime: the API refuses fewer digits
});

test('an identity without the right is refused (403), and the caller never sees it: no throw, no wait beyond the timeout', async () => {
  // The secrets Job's ServiceAccount has no events rule in its Role.
  const secretsRole = objects.find(o => o.kind === 'Role' && o.metadata.name === 'pg-secrets');
  expect(secretsRole?.rules.some((r: any) => r.resources.includes('events'))).toBe(false);
  actAs(api.token(NS, 'pg-secrets'));
  api.clearRequests();
  const recorder = eventRecorder({ namespace: NS, podName: 'pg-secrets-abcde', retryDelaysMs: [10, 10] });
  expect(() => recorder.record({ reason: EVENT_REASONS.backupStarted, type: 'Normal', action: 'Backup', note: 'n' })).not.toThrow();
  await recorder.settled(5000);
  // This identity's requests only: an earlier test's recorder may still be retrying in the background.
  const posts = api.requests.filter(r => r.method === 'POST' && r.path.endsWith('/events') && /:pg-secrets$/.test(r.identity ?? ''));
  expect(posts.map(r => r.status)).toEqual([403]); // refused once: a 403 is not retried
  expect(eventsOf('pg-secrets-abcde')).toEqual([]);
});

test('an event the API could not take is retried in the background and lands with its original time', async () => {
  const token = api.podToken(NS, 'pg', 'pg-0');
  actAs(token);
  api.setUnavailable(token, true, { mode: 'refuse' });
  const recorder = eventRecorder({ namespace: NS, podName: 'pg-0', retryDelaysMs: [300, 300, 300, 300] });
  const before = Date.now();
  recorder.record({ reason: EVENT_REASONS.fenced, type: 'Warning', action: 'Fence', note: 'fenced' });
  await new Promise(r => setTimeout(r, 400));
  expect(eventsOf('pg-0')).toEqual([]);
  api.setUnavailable(token, false);
  await recorder.settled(5000);
  const [e] = eventsOf('pg-0');
  expect(e).toMatchObject({ reason: 'Fenced', type: 'Warning' });
  expect(Date.parse(e.eventTime) - before).toBeLessThan(300); // the time of the fencing, not of the delivery
});

test('the API double validates events as the API server does', async () => {
  actAs(api.podToken(NS, 'pg', 'pg-0'));
  const sent: Array<{ code?: number; message?: string }> = [];
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  const eventsApi = kc.makeApiClient(k8s.EventsV1Api);
  const body = {
    ...buildEvent({ namespace: NS, podName: 'pg-0' }, { reason: EVENT_REASONS.drillFailed, type: 'Warning', action: 'Drill', note: 'n' }, new Date()),
    type: 'Bad',
    action: '',
  };
  await eventsApi.createNamespacedEvent({ namespace: NS, body: { ...body, eventTime: new k8s.V1MicroTime(Date.now()) } }).catch(e => sent.push(e));
  expect(sent[0]?.code).toBe(422);
  expect(String((sent[0] as any).body)).toMatch(/type: Invalid value.*action: Required value/);
});

/** A Job's pod as the manifests run it: its ServiceAccount's token (mounted) and its env (PGC_POD_NAME from the downward API). */
function jobPod(cronJob: string, podName: string) {
  const spec = objects.find(o => o.kind === 'CronJob' && o.metadata.name === cronJob).spec.jobTemplate.spec.template.spec;
  expect(spec.automountServiceAccountToken).toBe(true);
  const env = spec.containers[0].env as any[];
  expect(env.find(e => e.name === 'PGC_POD_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
  actAs(api.podToken(NS, spec.serviceAccountName, podName));
  return { PGC_NAMESPACE: NS, PGC_POD_NAME: podName };
}

test("the backup Job's Role lets it record its events on its own pod: started, completed, retention, failed", async () => {
  const events = new JobEvents(jobPod('pg-backup', 'pg-backup-29012345-x7k2p'));
  events.backupStarted('20261203T140000', 'pg-rw:5432');
  events.backupCompleted('20261203T140000', 52428800, 12.34);
  events.retentionDeleted(['20261101T000000'], 42);
  events.retentionDeleted([], 0); // nothing deleted: no event
  events.backupFailed('the store refused the credentials', 'Check the Secret keys.');
  await events.settled();
  const got = eventsOf('pg-backup-29012345-x7k2p').map(e => [e.reason, e.type, e.note]);
  expect(got.map(g => g.slice(0, 2)).sort()).toEqual([
    ['BackupCompleted', 'Normal'],
    ['BackupFailed', 'Warning'],
    ['BackupStarted', 'Normal'],
    ['RetentionDeleted', 'Normal'],
  ]);
  expect(got.find(g => g[0] === 'BackupCompleted')![2]).toBe('Base backup 20261203T140000 completed: 50.0 MiB in 12.3 s.');
  expect(got.find(g => g[0] === 'RetentionDeleted')![2]).toContain('1 backup(s) (20261101T000000) and 42 WAL object(s)');
});

test("the restore drill's Role lets it record its result", async () => {
  const events = new JobEvents(jobPod('pg-restore-drill', 'pg-restore-drill-29012345-abcde'));
  events.drillResult(true, '20261203T140000', 'restored, replayed and checked in 40 s.');
  events.drillResult(false, '20261203T140000', 'table app.users has 0 rows, expected at least 1');
  await events.settled();
  expect(
    eventsOf('pg-restore-drill-29012345-abcde')
      .map(e => [e.reason, e.type])
      .sort(),
  ).toEqual([
    ['DrillFailed', 'Warning'],
    ['DrillSucceeded', 'Normal'],
  ]);
});

test("without a pod name in the environment (a person's shell) nothing is recorded and nothing fails", async () => {
  const events = new JobEvents({});
  expect(() => events.backupFailed('x')).not.toThrow();
  await events.settled();
});

test('every reason is documented in docs/monitoring.md', () => {
  const doc = fs.readFileSync(`${__dirname}/../../docs/monitoring.md`, 'utf8');
  for (const reason of Object.values(EVENT_REASONS)) expect(doc).toContain(`| \`${reason}\` |`);
});

test('a hanging API costs the caller nothing and the request is aborted at the timeout (no socket keeps a Job alive)', async () => {
  const token = api.podToken(NS, 'pg', 'pg-0');
  actAs(token);
  api.setUnavailable(token, true, { mode: 'hang' });
  try {
    const recorder = eventRecorder({ namespace: NS, podName: 'pg-0', timeoutMs: 500, retryDelaysMs: [] });
    const started = Date.now();
    recorder.record({ reason: EVENT_REASONS.backupStarted, type: 'Normal', action: 'Backup', note: 'n' });
    const recordMs = Date.now() - started;
    await recorder.settled(5000);
    const settledMs = Date.now() - started;
    // The double drops a connection from its hanging set once the client closed it.
    const hanging = () => (api as unknown as { hanging: Set<unknown> }).hanging.size;
    for (let i = 0; i < 50 && hanging() > 0; i++) await new Promise(r => setTimeout(r, 20));
    // eslint-disable-next-line no-console
    console.log(`[events] hanging API: record() returned after ${recordMs} ms, given up after ${settledMs} ms, ${hanging()} connection(s) left open`);
    expect(recordMs).toBeLessThan(100);
    expect(settledMs).toBeLessThan(2000);
    expect(hanging()).toBe(0);
  } finally {
    api.setUnavailable(token, false);
  }
});
