/**
 * The pure parts of `pg-agent status` and of the progress reports: the Lease's holder and age, the next scheduled
 * run, the restore drill's outcome from the CronJob's record, the backup summary, and the progress figures and bar.
 */
import { PassThrough } from 'stream';
import { BackupInfo } from '../../agent/src/catalog/backup-info';
import { progressBar, progressFields, startProgress } from '../../agent/src/common/progress';
import { drillFacts, leaseFacts, nextRun, podFacts } from '../../agent/src/status/kube-facts';
import { summarizeBackups } from '../../agent/src/status/store-facts';

const T0 = Date.parse('2026-12-03T16:00:00Z');

describe('the Lease', () => {
  const lease = (holder: string | undefined, renewedSecondsAgo: number, duration = 15) =>
    ({ spec: { holderIdentity: holder, renewTime: new Date(T0 - renewedSecondsAgo * 1000), leaseDurationSeconds: duration } }) as any;
  test.each([
    ['held, renewed 2 s ago', lease('pg-0', 2), { holder: 'pg-0', renewAgeSeconds: 2, durationSeconds: 15, expired: false }],
    ['held, but not renewed for longer than its duration', lease('pg-0', 16), { holder: 'pg-0', renewAgeSeconds: 16, expired: true }],
    ['released (no holder)', lease(undefined, 1), { expired: true }],
  ])('%s', (_what, l, expected) => {
    expect(leaseFacts(l, T0)).toMatchObject(expected);
  });
  test('no Lease at all', () => expect(leaseFacts(undefined, T0)).toEqual({ expired: true }));
});

describe('a pod', () => {
  test('role label, Ready condition, phase, published position; a missing pod', () => {
    const pod = {
      metadata: {
        labels: { 'postgres.cdk8s.io/role': 'replica' },
        annotations: { 'postgres.cdk8s.io/received-lsn': '0/3000060@2026-12-03T15:59:58Z' },
      },
      status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
    } as any;
    expect(podFacts('pg-1', pod)).toEqual({
      name: 'pg-1',
      role: 'replica',
      ready: true,
      phase: 'Running',
      receivedLsn: '0/3000060',
      reportedAt: '2026-12-03T15:59:58Z',
    });
    expect(podFacts('pg-2', undefined)).toEqual({ name: 'pg-2', ready: false, phase: 'missing' });
  });
});

describe('the next scheduled run', () => {
  test.each([
    ['0 3 * * *', undefined, '2026-12-04T03:00:00.000Z'],
    ['30 16 * * *', 'Etc/UTC', '2026-12-03T16:30:00.000Z'],
    ['0 5 * * 0', undefined, '2026-12-06T05:00:00.000Z'],
    ['0 3 * * *', 'Europe/Berlin', '2026-12-04T02:00:00.000Z'],
    ['not a schedule', undefined, undefined],
  ])('%s (%s)', (schedule, tz, expected) => {
    expect(nextRun(schedule, tz, T0)).toBe(expected);
  });
});

describe("the restore drill's outcome, from its CronJob's status", () => {
  const cron = (status: Record<string, unknown>) => ({ spec: { schedule: '0 5 * * 0' }, status }) as any;
  test.each([
    ['never run', {}, 'never'],
    ['the last run succeeded', { lastScheduleTime: '2026-12-03T05:00:00Z', lastSuccessfulTime: '2026-12-03T05:04:00Z' }, 'succeeded'],
    ['a run is active', { lastScheduleTime: '2026-12-03T05:00:00Z', lastSuccessfulTime: '2026-11-26T05:04:00Z', active: [{ name: 'j' }] }, 'running'],
    [
      'the last run did not succeed (an older one did)',
      { lastScheduleTime: '2026-12-03T05:00:00Z', lastSuccessfulTime: '2026-11-26T05:04:00Z' },
      'failed',
    ],
    ['no run ever succeeded', { lastScheduleTime: '2026-12-03T05:00:00Z' }, 'failed'],
  ])('%s', (_what, status, result) => {
    const d = drillFacts(cron(status));
    expect(d.result).toBe(result);
    expect(d.schedule).toBe('0 5 * * 0');
    if (result === 'failed')
      expect(d.detail).toBe('the run scheduled at 2026-12-03T05:00:00.000Z did not succeed: kubectl get events --field-selector reason=DrillFailed');
  });
});

describe("the restore drill's outcome, with the result verify recorded in the store", () => {
  const cron = (status: Record<string, unknown>) => ({ spec: { schedule: '0 5 * * 0' }, status }) as any;
  const sec = (iso: string) => Date.parse(iso) / 1000;
  const ok = { time: sec('2026-12-03T05:04:00Z'), backupId: '20261203T000000', detail: 'restored and checked 3 databases' };
  const failedEarlier = { time: sec('2026-11-26T05:03:00Z'), backupId: '20261126T000000', detail: 'pg_amcheck found corruption' };
  const failedLater = { time: sec('2026-12-03T05:04:00Z'), backupId: '20261203T000000', detail: 'the WAL ends before the backup does' };
  const succeededCron = { lastScheduleTime: '2026-12-03T05:00:00Z', lastSuccessfulTime: '2026-12-03T05:04:00Z' };
  const failedCron = { lastScheduleTime: '2026-12-03T05:00:00Z', lastSuccessfulTime: '2026-11-19T05:04:00Z' };
  test.each([
    [
      'the newest recorded run succeeded: its backup and detail',
      succeededCron,
      { lastSucceeded: ok, lastFailed: failedEarlier },
      'succeeded',
      'backup 20261203T000000: restored and checked 3 databases',
    ],
    [
      'the newest recorded run failed: why, and which backup',
      failedCron,
      { lastSucceeded: { ...ok, time: sec('2026-11-19T05:04:00Z') }, lastFailed: failedLater },
      'failed',
      'the run that ended at 2026-12-03T05:04:00.000Z failed: backup 20261203T000000: the WAL ends before the backup does',
    ],
    [
      'a later scheduled run failed without recording anything: the CronJob knows more',
      { lastScheduleTime: '2026-12-10T05:00:00Z', lastSuccessfulTime: '2026-12-03T05:04:00Z' },
      { lastSucceeded: ok },
      'failed',
      'the run scheduled at 2026-12-10T05:00:00.000Z did not succeed: kubectl get events --field-selector reason=DrillFailed',
    ],
    [
      'a re-created CronJob with no history: the store still knows',
      {},
      { lastSucceeded: ok },
      'succeeded',
      'backup 20261203T000000: restored and checked 3 databases',
    ],
    ['a run is active', { ...failedCron, active: [{ name: 'j' }] }, { lastFailed: failedLater }, 'running', undefined],
  ])('%s', (_what, status, recorded, result, detail) => {
    const d = drillFacts(cron(status), recorded);
    expect(d.result).toBe(result);
    expect(d.detail).toBe(detail);
    if (result === 'succeeded') expect(d.lastSuccessfulTime).toBe('2026-12-03T05:04:00.000Z');
  });
});

describe('the backup summary', () => {
  const b = (id: string, status: string, end?: string, extra: Partial<BackupInfo> = {}) =>
    ({
      backupId: id,
      status,
      beginTime: new Date(Date.parse(end ?? '2026-12-03T00:00:00Z') - 60000),
      endTime: end ? new Date(end) : undefined,
      size: 100,
      storedSize: 40,
      ...extra,
    }) as BackupInfo;
  test('last complete, last failed, one open, how many kept and the oldest', () => {
    const s = summarizeBackups(
      [
        b('20261201T000000', 'DONE', '2026-12-01T00:01:00Z'),
        b('20261202T000000', 'FAILED', '2026-12-02T00:01:00Z', { error: 'disk full' }),
        b('20261203T000000', 'DONE', '2026-12-03T00:01:00Z'),
        b('20261203T120000', 'STARTED'),
      ],
      { recoveryWindow: '7d' },
    );
    expect(s).toEqual({
      lastCompleted: { backupId: '20261203T000000', endTime: '2026-12-03T00:01:00.000Z', sizeBytes: 100, storedBytes: 40 },
      lastFailed: { backupId: '20261202T000000', time: '2026-12-02T00:01:00.000Z', error: 'disk full' },
      inProgress: { backupId: '20261203T120000', beginTime: '2026-12-02T23:59:00.000Z' },
      kept: 2,
      oldest: { backupId: '20261201T000000', endTime: '2026-12-01T00:01:00.000Z' },
      retention: { recoveryWindow: '7d' },
    });
  });
  test('an empty store', () => {
    expect(summarizeBackups([])).toEqual({
      kept: 0,
      lastCompleted: undefined,
      lastFailed: undefined,
      inProgress: undefined,
      oldest: undefined,
      retention: undefined,
    });
  });
});

describe('progress', () => {
  const MiB = 1024 * 1024;
  test('figures: percent of the total, rate, ETA; no percent nor ETA without a total', () => {
    expect(progressFields({ done: 30 * MiB, total: 120 * MiB }, 10)).toEqual({
      doneBytes: 30 * MiB,
      totalBytes: 120 * MiB,
      percent: 25,
      rateMiBps: 3,
      etaSeconds: 30,
    });
    expect(progressFields({ done: 30 * MiB, total: 0 }, 10)).toEqual({
      doneBytes: 30 * MiB,
      totalBytes: undefined,
      percent: undefined,
      rateMiBps: 3,
      etaSeconds: undefined,
    });
    // More done than the estimate (pg_basebackup's size is an estimate): 100 %, not more.
    expect(progressFields({ done: 130 * MiB, total: 120 * MiB }, 10)).toMatchObject({ percent: 100, etaSeconds: 0 });
  });
  test('the bar', () => {
    expect(progressBar('restore', progressFields({ done: 30 * MiB, total: 120 * MiB }, 10))).toBe(
      '[######------------------]  25%  30.0 of 120.0 MiB  3 MiB/s  ETA 30 s  restore',
    );
    expect(progressBar('backup', progressFields({ done: 30 * MiB, total: 0 }, 10))).toBe(
      '[????????????????????????]   ?%  30.0 MiB  3 MiB/s  backup',
    );
  });
  test('on a terminal: the bar redrawn in place on one line, ended by a newline; no log lines', async () => {
    const tty = new PassThrough();
    let out = '';
    tty.on('data', d => (out += d));
    const logged: unknown[] = [];
    let done = 0;
    const stop = startProgress(() => ({ done, total: 100 * MiB }), { msg: 'restore in progress', tty: tty as any, sink: f => logged.push(f) });
    for (let i = 0; i < 4; i++) {
      done += 20 * MiB;
      await new Promise(r => setTimeout(r, 300));
    }
    stop();
    expect(logged).toEqual([]);
    // Each frame: carriage return, the bar, erase to the end of the line (ESC [K).
    const ERASE = '\x1b[K';
    const frames = out.split('\r').filter(Boolean);
    expect(frames.length).toBeGreaterThanOrEqual(2);
    for (const f of frames.slice(0, -1)) {
      expect(f.endsWith(ERASE)).toBe(true);
      expect(f.slice(0, -ERASE.length)).toMatch(
        /^\[[#-]{24}\] +\d+% {2}[\d.]+ of 100\.0 MiB {2}[\d.]+ MiB\/s( {2}ETA \d+ s)? {2}restore in progress$/,
      );
    }
    expect(frames.at(-1)!.endsWith(`${ERASE}\n`)).toBe(true);
    expect(frames.at(-1)).toMatch(/^\[#{19}-{5}\] {2}80% {2}80\.0 of 100\.0 MiB /);
  });
});
