/**
 * The instance agent's side of `wal-fetch`: PostgreSQL's restore_command asks over a unix socket (0600, on the socket
 * emptyDir), and the agent, which keeps the S3 client loaded for archiving anyway, fetches the file into the target
 * with the same code wal-fetch would run (spool first, then the store with prefetch). Saves a load of the AWS SDK
 * per file: about 0.35 s of a busy 2-core machine, during a promotion's history-file lookups and a replica's
 * catch-up from the archive.
 *
 * One JSON line in: `{"name", "target" (absolute), "recoverySource"}`; one line out: `{"code"}` (wal-fetch's exit code).
 */
import * as net from 'net';
import * as path from 'path';
import { WAL_FILE } from '../../../lib/contract';
import { serveJsonLines } from '../common/json-socket';
import { log } from '../common/log';
import { answerFromSpool, fetchSocketPath, fetchWithStore } from './fetch-command';

export class WalFetchServer {
  private server?: net.Server;
  readonly socketPath: string;

  constructor(
    socketDir: string,
    /** Whose store settings to use: the agent's own environment in a pod. */
    private readonly env: NodeJS.ProcessEnv = process.env,
    /** Only files under this directory may be written (the instance's PGDATA). */
    private readonly pgdata?: string,
  ) {
    this.socketPath = fetchSocketPath(socketDir);
  }

  async start(): Promise<void> {
    this.server = await serveJsonLines(
      this.socketPath,
      async request => ({ code: await this.answer(request as { name?: unknown; target?: unknown; recoverySource?: unknown }) }),
      e => {
        log.warn({ err: e.message }, 'wal-fetch through the agent failed; wal-fetch asks the store itself');
        return { error: e.message };
      },
    );
  }

  async stop(): Promise<void> {
    await new Promise<void>(r => (this.server ? this.server.close(() => r()) : r()));
  }

  private async answer(request: { name?: unknown; target?: unknown; recoverySource?: unknown }): Promise<number> {
    const { name, target } = request;
    if (typeof name !== 'string' || !WAL_FILE.test(name)) throw new Error('not a WAL file name');
    if (typeof target !== 'string' || !path.isAbsolute(target)) throw new Error('the target must be an absolute path');
    if (this.pgdata && !path.resolve(target).startsWith(path.resolve(this.pgdata) + path.sep))
      throw new Error(`the target is outside ${this.pgdata}`);
    const opts = { recoverySource: request.recoverySource === true };
    return answerFromSpool(name, target, opts, this.env) ?? (await fetchWithStore(name, target, opts, this.env));
  }
}
