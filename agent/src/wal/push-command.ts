/**
 * `pg-agent wal-push <path>`: PostgreSQL's archive_command. A tiny client (no AWS SDK loaded): it hands the
 * segment to the instance's archiver over a unix socket and exits 0 only when the archiver says it is durable
 * in S3. Any other outcome exits 1, and PostgreSQL keeps the segment and retries.
 */
import * as net from 'net';
import { ENV } from '../../../lib/contract';
import { requireEnv } from '../common/env';
import { log } from '../common/log';
import { archiverSocketPath } from './archiver-socket';

export function walPushCommand(walPath: string, env: NodeJS.ProcessEnv = process.env, timeoutMs = 10 * 60 * 1000): Promise<number> {
  const socket = archiverSocketPath(requireEnv(ENV.socketDir, env));
  return new Promise(resolve => {
    const conn = net.connect(socket);
    let reply = '';
    const fail = (error: string) => {
      log.error({ wal: walPath, fix: 'PostgreSQL retries; check the S3 store and the instance log.' }, `wal-push failed: ${error}`);
      conn.destroy();
      resolve(1);
    };
    conn.setTimeout(timeoutMs, () => fail('timed out waiting for the archiver'));
    conn.on('connect', () => conn.write(JSON.stringify({ wal: walPath }) + '\n'));
    conn.on('data', d => {
      reply += d.toString();
    });
    conn.on('error', e => fail(`archiver not reachable (${e.message})`));
    conn.on('end', () => {
      try {
        const r = JSON.parse(reply);
        if (r.ok) resolve(0);
        else fail(r.error);
      } catch {
        fail('no answer from the archiver');
      }
    });
  });
}
