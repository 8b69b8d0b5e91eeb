/** What the figures were measured on: CPU, cores, RAM, kernel, disk, and the versions of everything involved. */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export interface Machine {
  cpuModel: string;
  cores: number;
  ramGiB: number;
  kernel: string;
  os: string;
  disk: string;
  node: string;
  postgres: string;
  pgBackRest: string;
  barmanCloud: string;
  ceph: string;
  gitCommit: string;
  gitDirty: boolean;
}

function tryRun(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (e) {
    return `unavailable (${(e as Error).message.split('\n')[0]})`;
  }
}

export function describeMachine(root: string, pgBin: string): Machine {
  const lscpu = tryRun('lscpu', []);
  const model = /^Model name:\s+(.+)$/m.exec(lscpu)?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  const osRelease = fs.existsSync('/etc/os-release') ? (/^PRETTY_NAME="?([^"\n]+)/m.exec(fs.readFileSync('/etc/os-release', 'utf8'))?.[1] ?? '') : '';
  const df = tryRun('df', ['-hT', os.tmpdir()]).split('\n')[1]?.split(/\s+/) ?? [];
  const status = tryRun('git', ['-C', root, 'status', '--porcelain', '--', 'agent/src', 'lib']);
  return {
    cpuModel: model.trim(),
    cores: os.cpus().length,
    ramGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    os: osRelease,
    disk: df.length > 2 ? `${df[0]} (${df[1]}, ${df[2]}) for ${os.tmpdir()}` : 'unknown',
    node: process.version,
    postgres: tryRun(path.join(pgBin, 'postgres'), ['--version']),
    pgBackRest: tryRun('pgbackrest', ['version']),
    barmanCloud: tryRun('barman-cloud-backup', ['--version']),
    ceph: tryRun('radosgw', ['--version']).replace(/\s*\(.*$/, ''),
    gitCommit: tryRun('git', ['-C', root, 'rev-parse', '--short', 'HEAD']),
    gitDirty: status.length > 0 && !status.startsWith('unavailable'),
  };
}

/** 1-minute load average: other work on the machine during a measurement. */
export function load1(): number {
  return os.loadavg()[0];
}
