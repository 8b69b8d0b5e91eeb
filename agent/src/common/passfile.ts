import * as fs from 'fs';

/**
 * Writes a libpq passfile (`host:port:db:user:password`, `:` and `\` escaped) readable by its owner only. Agents keep
 * passwords out of command lines and environment variables of the tools they start (ps shows those).
 */
export function writePassfile(file: string, entry: { host?: string; port?: number; user: string; password: string }): string {
  const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
  const host = entry.host ? esc(entry.host) : '*';
  fs.writeFileSync(file, `${host}:${entry.port ?? '*'}:*:${esc(entry.user)}:${esc(entry.password)}\n`, { mode: 0o600 });
  return file;
}
