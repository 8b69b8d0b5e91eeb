/**
 * Arriving from CloudNativePG: a PostgreSQL 15 server archives its WAL with barman-cloud-wal-archive and is backed
 * up with barman-cloud-backup (Debian's barman-cli-cloud 3.4, as CloudNativePG's instance manager runs them, run here
 * on the server's host against the running server). Our `list` reads those backups, and our restore path
 * (restoreBaseBackup + wal-fetch as restore_command) brings the database back with its rows.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { promisify } from 'util';
import { freePort, query } from '../support/cluster-harness';
import { PG_BIN, podUser, tempDir } from '../support/pod-runner';
import { S3Endpoint, createBucket, deleteBucketRecursive, ensureS3, s3For, uniqueBucketName } from '../support/s3';
import { removeScripts, runAgent, startRestored, storeEnv, waitPromoted, walFetchScript } from '../support/backup';
import { restoreBaseBackup } from '../../agent/src/restore/base-backup';
import { readStoreConfig } from '../../agent/src/store/config';

jest.setTimeout(300000);
const run = promisify(execFile);
const SERVER = 'cnpg-cluster';
const PASSWORD = 'barman-test-password';

describe('backups written by barman-cloud (CloudNativePG) are listed and restored by the agent', () => {
  const bucket = uniqueBucketName('barman');
  const user = podUser();
  const dir = tempDir('barman-src', user);
  const dataDir = path.join(dir, 'data');
  let ep: S3Endpoint;
  let port: number;
  const ids: Record<'gzip' | 'none', string> = { gzip: '', none: '' };
  let expected: { n: number; s: string };
  const barmanEnv = () => ({ ...process.env, AWS_ACCESS_KEY_ID: ep.accessKeyId, AWS_SECRET_ACCESS_KEY: ep.secretAccessKey });
  const asPg = (cmd: string, args: string[]) =>
    run(path.join(PG_BIN, cmd), args, { uid: user?.uid, gid: user?.gid, env: { ...process.env, LANG: 'C.UTF-8' } } as any);
  const conn = (p: number, database = 'app') => ({ host: '127.0.0.1', port: p, user: 'postgres', password: PASSWORD, database });
  const rows = async (p: number) => (await query(conn(p), 'SELECT count(*)::int AS n, sum(aid)::text AS s FROM pgbench_accounts'))[0];

  beforeAll(async () => {
    ep = await ensureS3();
    await createBucket(bucket);
    port = await freePort();
    const pw = path.join(dir, 'pw');
    fs.writeFileSync(pw, `${PASSWORD}\n`);
    if (user) fs.chownSync(pw, user.uid, user.gid);
    await asPg('initdb', ['-D', dataDir, '-U', 'postgres', `--pwfile=${pw}`, '--auth=scram-sha-256', '--data-checksums']);
    // What CloudNativePG configures: archive_command = barman-cloud-wal-archive (gzip), archive_timeout 5 min.
    const archive = path.join(dir, 'archive.sh');
    fs.writeFileSync(
      archive,
      [
        '#!/bin/sh',
        `export AWS_ACCESS_KEY_ID='${ep.accessKeyId}' AWS_SECRET_ACCESS_KEY='${ep.secretAccessKey}'`,
        `exec barman-cloud-wal-archive --cloud-provider aws-s3 --endpoint-url ${ep.endpoint} --gzip s3://${bucket}/ ${SERVER} "$1"`,
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    fs.appendFileSync(
      path.join(dataDir, 'postgresql.conf'),
      [
        `port = ${port}`,
        "listen_addresses = '127.0.0.1'",
        `unix_socket_directories = '${dir}'`,
        'archive_mode = on',
        `archive_command = '${archive} %p'`,
        "archive_timeout = '5min'",
        '',
      ].join('\n'),
    );
    if (user) await run('chown', ['-R', `${user.uid}:${user.gid}`, dir]);
    await asPg('pg_ctl', ['-D', dataDir, '-l', path.join(dir, 'log'), '-w', 'start']);
    await query(conn(port, 'postgres'), 'CREATE DATABASE app');
    await run(path.join(PG_BIN, 'pgbench'), ['-i', '-s', '3', '-q', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', 'app'], {
      env: { ...process.env, PGPASSWORD: PASSWORD },
    });
    expected = await rows(port);
    // Two backups as CloudNativePG takes them: gzip data (its `data.compression: gzip`) and its default, none.
    for (const kind of ['gzip', 'none'] as const) {
      await run(
        'barman-cloud-backup',
        [
          '--cloud-provider',
          'aws-s3',
          '--endpoint-url',
          ep.endpoint,
          '-h',
          '127.0.0.1',
          '-p',
          String(port),
          '-U',
          'postgres',
          '--immediate-checkpoint',
          ...(kind === 'gzip' ? ['--gzip'] : []),
          `s3://${bucket}/`,
          SERVER,
        ],
        { env: { ...barmanEnv(), PGPASSWORD: PASSWORD } },
      );
      const list = JSON.parse(
        (
          await run(
            'barman-cloud-backup-list',
            ['--cloud-provider', 'aws-s3', '--endpoint-url', ep.endpoint, '--format', 'json', `s3://${bucket}/`, SERVER],
            { env: barmanEnv() },
          )
        ).stdout,
      );
      ids[kind] = list.backups_list
        .map((b: any) => b.backup_id)
        .sort()
        .pop();
      // barman ids have a one-second resolution
      await new Promise(r => setTimeout(r, 1100));
    }
  });
  afterAll(async () => {
    if (fs.existsSync(path.join(dataDir, 'postmaster.pid')))
      await asPg('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
    removeScripts();
    await deleteBucketRecursive(bucket);
  });

  test("`pg-agent list` shows barman-cloud's backups, DONE, with their LSNs, timeline and stored size", async () => {
    const r = await runAgent(['list', '--json'], storeEnv(ep, bucket, SERVER));
    expect(r.code).toBe(0);
    const listed = JSON.parse(r.stdout);
    expect(listed.map((b: any) => b.backupId)).toEqual([ids.gzip, ids.none]);
    for (const b of listed) {
      expect(b).toMatchObject({
        status: 'DONE',
        complete: true,
        timeline: 1,
        writer: 'barman-cloud',
        beginWal: expect.stringMatching(/^00000001[0-9A-F]{16}$/),
      });
      expect(b.endLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
      expect(b.storedSize).toBeGreaterThan(1_000_000);
    }
    expect(listed.map((b: any) => b.compression)).toEqual(['gzip', 'none']);
    const table = await runAgent(['list'], storeEnv(ep, bucket, SERVER));
    expect(table.stdout).toContain(ids.gzip);
    expect(table.stdout).toMatch(/2 backups in s3:\/\/.+\/cnpg-cluster\/, 2 complete/);
  });

  for (const kind of ['gzip', 'none'] as const) {
    test(`our restore path brings back barman-cloud's ${kind} backup with barman-archived WAL`, async () => {
      const target = path.join(tempDir(`barman-restore-${kind}`, user), 'pgdata');
      const s3 = await s3For(bucket);
      let result;
      try {
        result = await restoreBaseBackup(s3, readStoreConfig(storeEnv(ep, bucket, SERVER)), ids[kind], target);
      } finally {
        s3.destroy();
      }
      expect(result.backup.writer).toBe('barman-cloud');
      // barman uploads in multipart chunks of about 20 MiB: a one-part object's ETag is checked (MD5 of the MD5);
      // one of several parts of unknown size cannot be, and relies on gzip's CRC and the tar headers.
      expect(result.objects).toEqual([
        expect.objectContaining({ compression: kind, verified: kind === 'gzip' ? 'md5' : expect.stringMatching(/^(md5|none)$/) }),
      ]);
      // Another port, another socket: the restored copy must not clash with the source still running.
      const server = await startRestored(target, walFetchScript(storeEnv(ep, bucket, SERVER)));
      try {
        await waitPromoted(server, 'postgres', PASSWORD);
        expect(await rows(server.port)).toEqual(expected);
        const fetched = server.log();
        expect(fetched).toMatch(/restored log file "[0-9A-F]{24}" from archive/);
      } finally {
        await server.stop();
        fs.rmSync(path.dirname(target), { recursive: true, force: true });
      }
    });
  }

  test("`pg-agent verify` drills barman-cloud's newest backup: restores, replays its WAL, amcheck and row count pass", async () => {
    const scratch = tempDir('barman-verify', user);
    const checks = { amcheck: true, tables: [{ database: 'app', table: 'pgbench_accounts', minRows: expected.n }] };
    const r = await runAgent(
      ['verify', '--scratch', scratch],
      storeEnv(ep, bucket, SERVER, {
        PGC_VERIFY_CHECKS: JSON.stringify(checks),
        PGC_SOCKET_DIR: scratch,
        PGC_VERIFY_REPLAY: 'backup-end',
      }),
      user,
    );
    fs.rmSync(scratch, { recursive: true, force: true });
    expect({ code: r.code, stderr: r.stderr.slice(-500) }).toEqual({ code: 0, stderr: expect.anything() });
    const report = JSON.parse(r.stdout.split('\n').find(l => l.startsWith('{"ok"'))!);
    expect(report).toMatchObject({ ok: true, backupId: ids.none, amcheck: { ok: true }, tables: [{ rows: expected.n, ok: true }] });
  });

  test('a missing backup or a non-empty target is refused before anything is written', async () => {
    const s3 = await s3For(bucket);
    const store = readStoreConfig(storeEnv(ep, bucket, SERVER));
    try {
      const empty = tempDir('barman-none', user);
      await expect(restoreBaseBackup(s3, store, '20000101T000000', empty)).rejects.toThrow(/there is no backup 20000101T000000/);
      fs.writeFileSync(path.join(empty, 'x'), 'x');
      await expect(restoreBaseBackup(s3, store, ids.gzip, empty)).rejects.toThrow(/is not empty/);
      expect(fs.readdirSync(empty)).toEqual(['x']);
      fs.rmSync(empty, { recursive: true, force: true });
    } finally {
      s3.destroy();
    }
  });
});
