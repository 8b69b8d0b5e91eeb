/**
 * A unix-socket server of one JSON line in, one JSON line out per connection: the instance agent's side of
 * `wal-push` (archive_command) and `wal-fetch` (restore_command), whose tiny clients load no AWS SDK. The socket
 * is 0600 on the pod's private run directory.
 */
import * as fs from 'fs';
import * as net from 'net';

export async function serveJsonLines(
  socketPath: string,
  answer: (request: unknown) => Promise<object>,
  onError: (e: Error) => object,
): Promise<net.Server> {
  fs.rmSync(socketPath, { force: true });
  const server = net.createServer(conn => {
    let buf = '';
    let handled = false;
    conn.on('data', d => {
      if (handled) return;
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      handled = true;
      let request: unknown;
      try {
        request = JSON.parse(buf.slice(0, nl));
      } catch {
        conn.end(JSON.stringify(onError(new Error('bad request'))) + '\n');
        return;
      }
      answer(request).then(
        reply => conn.end(JSON.stringify(reply) + '\n'),
        (e: Error) => conn.end(JSON.stringify(onError(e)) + '\n'),
      );
    });
    conn.on('error', () => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  fs.chmodSync(socketPath, 0o600);
  return server;
}
