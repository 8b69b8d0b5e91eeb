/**
 * A ConfigMap volume as the kubelet writes it (its AtomicWriter): the files live in a timestamped directory
 * `..<time>`, the symlink `..data` points at it and each key is a symlink `<key> -> ..data/<key>`. An update writes
 * a new timestamped directory and swaps `..data` by renaming a new symlink over it, so a reader sees either all
 * old or all new files, never a mix; then the old directory goes.
 */
import * as fs from 'fs';
import * as path from 'path';

let counter = 0;

function chownAll(paths: string[], user?: { uid: number; gid: number }): void {
  if (!user) return;
  for (const p of paths) fs.lchownSync(p, user.uid, user.gid);
}

/**
 * Writes (or, when the volume exists, atomically replaces) the ConfigMap's data in `dir`; `mode` is the volume's
 * `defaultMode` (a Secret volume's too: the kubelet writes both the same way).
 */
export function writeConfigMapVolume(dir: string, data: Record<string, string>, user?: { uid: number; gid: number }, mode = 0o644): void {
  const stamp = `..${new Date().toISOString().replace(/[-:.TZ]/g, '_')}${String(++counter).padStart(4, '0')}`;
  const tsDir = path.join(dir, stamp);
  fs.mkdirSync(tsDir, { mode: 0o755 });
  const written = [tsDir];
  for (const [key, value] of Object.entries(data)) {
    fs.writeFileSync(path.join(tsDir, key), value, { mode });
    fs.chmodSync(path.join(tsDir, key), mode); // past the umask
    written.push(path.join(tsDir, key));
  }
  chownAll(written, user);
  const dataLink = path.join(dir, '..data');
  const previous = fs.existsSync(dataLink) ? fs.readlinkSync(dataLink) : undefined;
  const tmpLink = path.join(dir, '..data_tmp');
  fs.rmSync(tmpLink, { force: true });
  fs.symlinkSync(stamp, tmpLink);
  chownAll([tmpLink], user);
  fs.renameSync(tmpLink, dataLink); // the atomic swap
  for (const key of Object.keys(data)) {
    const link = path.join(dir, key);
    if (!fs.existsSync(link)) {
      fs.symlinkSync(path.join('..data', key), link);
      chownAll([link], user);
    }
  }
  if (previous) fs.rmSync(path.join(dir, previous), { recursive: true, force: true });
}
