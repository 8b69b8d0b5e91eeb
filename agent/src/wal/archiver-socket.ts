import * as path from 'path';

/** The archiver's socket, on the socket emptyDir: shared by the instance (server) and wal-push (client). */
export function archiverSocketPath(socketDir: string): string {
  return path.join(socketDir, '.pg-agent-archiver.sock');
}
