/**
 * The laptop command `cdk8s-postgres status` (lib/status): its command line, which pod it asks, the screen it renders
 * from the JSON the in-pod `pg-agent status -o json` printed in test/agent/status.e2e.test.ts (the committed
 * fixture, checked there against the real output's fields), and its errors: kubectl missing, no pod, no ready
 * pod. (kubectl against the Kubernetes API double is not tested: kubectl sends no bearer token to its plain-HTTP
 * server, so every request is anonymous.)
 */
import * as fs from 'fs';
import * as path from 'path';
import { LABELS } from '../../lib/contract';
import { CliError, USAGE, main, parseCommandLine } from '../../lib/status/cli';
import { NoReadyPodError, ListedPod, pickPod } from '../../lib/status/pick-pod';
import { renderStatus } from '../../lib/status/render';
import { StatusReport } from '../../lib/status/report';

const FIXTURE: StatusReport = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'status-healthy.json'), 'utf8'));

async function runMain(argv: string[], env: NodeJS.ProcessEnv = process.env) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { env, stdout: s => (stdout += s), stderr: s => (stderr += s) });
  return { code, stdout, stderr };
}

describe('the command line', () => {
  test('status <cluster> with -n, -o json, --context, --kubeconfig', () => {
    expect(parseCommandLine(['status', 'web-pg', '-n', 'apps'])).toEqual({ cluster: 'web-pg', namespace: 'apps', output: 'text' });
    expect(parseCommandLine(['status', 'web-pg', '--namespace=apps', '-o', 'json', '--context', 'home', '--kubeconfig', '/k'])).toEqual({
      cluster: 'web-pg',
      namespace: 'apps',
      output: 'json',
      context: 'home',
      kubeconfig: '/k',
    });
    expect(parseCommandLine(['status', 'web-pg'])).toEqual({ cluster: 'web-pg', output: 'text' });
  });

  test('help: no arguments, --help, -h, help', () => {
    for (const argv of [[], ['--help'], ['-h'], ['help'], ['status', '--help']]) expect(parseCommandLine(argv)).toBe('help');
  });

  test.each([
    [['status'], /^status needs the cluster name$/],
    [['stat', 'x'], /^unknown command "stat"$/],
    [['status', 'a', 'b'], /^unexpected argument "b"$/],
    [['status', 'a', '-o', 'yaml'], /^-o yaml is not an output format$/],
    [['status', 'a', '--watch'], /Unknown option '--watch'/],
    [['status', 'a', '-n'], /argument missing/],
  ])('%j is refused, naming the argument', (argv, message) => {
    expect(() => parseCommandLine(argv)).toThrow(CliError);
    expect(() => parseCommandLine(argv)).toThrow(message);
  });

  test('--help prints the usage and exits 0; a wrong argument prints the error with its fix and exits 1', async () => {
    expect(await runMain(['--help'])).toEqual({ code: 0, stdout: USAGE, stderr: '' });
    expect(USAGE).toMatch(/^Usage: cdk8s-postgres status <cluster> \[-n <namespace>\] \[-o json\]/);
    expect(await runMain(['status', 'a', '-o', 'yaml'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'cdk8s-postgres: -o yaml is not an output format\nfix: Use -o json, or leave -o out for the screen.\n',
    });
  });
});

describe('which pod is asked', () => {
  const pod = (name: string, role: string | undefined, ready: boolean, phase = 'Running'): ListedPod => ({
    metadata: { name, labels: role ? { [LABELS.role]: role } : {} },
    status: { phase, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  });

  test('the ready primary, wherever it is in the list', () => {
    expect(pickPod([pod('pg-0', 'replica', true), pod('pg-1', 'primary', true), pod('pg-2', 'replica', true)], 'pg', 'ns')).toBe('pg-1');
  });

  test('a primary that is not ready: the first ready instance by ordinal (pg-2 before pg-10)', () => {
    expect(pickPod([pod('pg-10', 'replica', true), pod('pg-0', 'primary', false), pod('pg-2', undefined, true)], 'pg', 'ns')).toBe('pg-2');
  });

  test('no ready pod: an error listing each pod and its phase', () => {
    const run = () => pickPod([pod('pg-1', 'replica', false, 'Pending'), pod('pg-0', 'primary', false)], 'pg', 'ns');
    expect(run).toThrow(NoReadyPodError);
    expect(run).toThrow(
      'no ready pod of cluster pg in namespace ns (pg-0 Running, not ready; pg-1 Pending, not ready): the status is read inside a running instance',
    );
  });

  test('no pod at all: an error that suggests checking the name and namespace', () => {
    expect(() => pickPod([], 'pg', 'ns')).toThrow(
      'no pod of cluster pg in namespace ns: check the name and namespace (kubectl get statefulset -n ns), or whether it hibernates',
    );
  });
});

describe('the screen, from the in-pod JSON of a healthy cluster', () => {
  const screen = renderStatus(FIXTURE).split('\n');
  const line = (label: string) => screen.find(l => l.startsWith(`${label}:`));
  const r = FIXTURE as any;
  const at = (iso: string) => iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');

  test('one labelled line per question, with the facts of the JSON', () => {
    expect(screen[0]).toBe(`Cluster st-pg in namespace databases, seen from st-pg-0 (primary) at ${at(r.generatedAt)}`);
    expect(line('Primary')).toBe(`Primary:       st-pg-0   timeline 1   LSN ${r.postgres.lsn}   PostgreSQL ${r.postgres.version}`);
    expect(line('Lease')).toMatch(/^Lease:\s+held by st-pg-0, renewed [\d.]+ s ago \(valid 15 s\)$/);
    expect(line('Instances')).toBe('Instances:     2 of 2 ready');
    expect(screen).toContain('               st-pg-0  primary  ready');
    expect(screen.find(l => l.includes('st-pg-1'))).toMatch(
      /^\s+st-pg-1\s+replica\s+ready\s+streaming\s+async\s+lag [\d.]+ (B|KiB|MiB) \/ [\d.]+ s$/,
    );
    expect(line('Archiving')).toMatch(
      new RegExp(`^Archiving:     ok   last archived ${r.archiving.lastArchivedWal} at ${at(r.archiving.lastArchivedTime)} \\([\\d.]+ s ago\\)$`),
    );
    expect(line('Base backups')).toMatch(
      new RegExp(
        `^Base backups:\\s+last ${r.backups.lastCompleted.backupId} ended ${at(r.backups.lastCompleted.endTime)} \\(.* ago\\), [\\d.]+ MiB stored$`,
      ),
    );
    expect(screen.find(l => l.includes('next '))).toMatch(/^\s+next \d{4}-\d\d-\d\d 03:00:00Z \(in [\d.]+ (min|h)\) \(schedule 0 3 \* \* \*, UTC\)$/);
    expect(line('Retention')).toMatch(
      new RegExp(`^Retention:\\s+1 kept, oldest ${r.backups.oldest.backupId} ended .* ago\\); policy: recoveryWindow 7d, monthly 2$`),
    );
    expect(line('Recoverable')).toBe(
      `Recoverable:   from ${at(r.recoverable.from)} (end of ${r.recoverable.fromBackup}) to WAL ${r.recoverable.toWal} (timeline 1)`,
    );
    expect(line('Restore drill')).toBe(
      `Restore drill: succeeded at ${at(r.drill.lastSuccessfulTime)} (${((Date.parse(r.generatedAt) - Date.parse(r.drill.lastSuccessfulTime)) / 1000).toFixed(1)} s ago): ${r.drill.detail}`,
    );
  });

  test('deterministic: ages count from the report time, not the clock', () => {
    expect(renderStatus(FIXTURE)).toBe(renderStatus(JSON.parse(JSON.stringify(FIXTURE))));
  });

  test('a degraded report: lag, FAILING archive, an unreachable store, a failed drill, no primary', () => {
    const degraded: StatusReport = JSON.parse(JSON.stringify(FIXTURE));
    const d = degraded as any;
    d.primary = undefined;
    d.lease = { holder: 'st-pg-0', renewTime: d.generatedAt, renewAgeSeconds: 40, durationSeconds: 15, expired: true };
    d.instances.pods[0].ready = false;
    d.replication.replicas[0] = { ...d.replication.replicas[0], lagBytes: 50 * 1048576, lagSeconds: 95 };
    d.archiving = {
      ...d.archiving,
      failing: true,
      lastFailedWal: '000000010000000000000009',
      lastFailedTime: d.generatedAt,
      failedCount: 7,
      readyFiles: 3,
    };
    d.backups = { unavailable: 'the backup store s3://b at http://s3: cannot reach S3. Check the store.' };
    d.recoverable = d.backups;
    d.drill = { result: 'failed', schedule: '0 5 * * 0', lastScheduleTime: d.generatedAt, detail: 'the run scheduled at … did not succeed' };
    const text = renderStatus(degraded);
    expect(text).toContain('Primary:       NONE (no valid Lease holder and no pod labelled primary)\n');
    expect(text).toContain('Lease:         held by st-pg-0, renewed 40 s ago (valid 15 s)  EXPIRED\n');
    expect(text).toContain('Instances:     1 of 2 ready\n');
    expect(text).toMatch(/\n\s+st-pg-0\s+primary\s+NOT READY \(Unknown\)\n/);
    expect(text).toMatch(/\n\s+st-pg-1\s+replica\s+ready\s+streaming\s+async\s+lag 50\.0 MiB \/ 95 s\n/);
    expect(text).toMatch(/\nArchiving:\s+FAILING\s+last archived /);
    expect(text).toMatch(/\n\s+last failure 000000010000000000000009 at .* \(0\.0 s ago\) \(7 failed attempts\)\n/);
    expect(text).toContain('3 segment(s) waiting to be archived\n');
    expect(text).toContain('Base backups:  unavailable: the backup store s3://b at http://s3: cannot reach S3. Check the store.\n');
    expect(text).toContain('Recoverable:   unavailable: the backup store s3://b at http://s3: cannot reach S3. Check the store.\n');
    expect(text).toMatch(/\nRestore drill: FAILED \(run at .*\): the run scheduled at … did not succeed\n/);
  });

  test('a report of a newer version is refused: upgrade the package', () => {
    expect(() => renderStatus({ ...FIXTURE, version: 2 })).toThrow(
      "this status report has version 2, newer than this renderer's 1: upgrade cdk8s-postgres",
    );
  });
});

describe('reaching the cluster with kubectl', () => {
  test('kubectl missing: exit 1, saying so and how to fix it', async () => {
    expect(await runMain(['status', 'pg', '-n', 'ns'], { PATH: '/nonexistent' })).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'cdk8s-postgres: kubectl not found (looked for "kubectl" on PATH)\nfix: Install kubectl (https://kubernetes.io/docs/tasks/tools/) or set KUBECTL to its path.\n',
    });
    expect((await runMain(['status', 'pg'], { ...process.env, KUBECTL: '/nonexistent/kubectl' })).stderr).toMatch(
      /^cdk8s-postgres: kubectl not found \(looked for "\/nonexistent\/kubectl"\)\n/,
    );
  });
});
