/**
 * Unpacks a tar stream (pg_basebackup's ustar, Python tarfile's pax from barman-cloud) into a directory, one entry
 * at a time. Names that would land outside the directory, hard links, devices, and writes through a symlink the
 * archive itself made are refused: a backup is data to restore, not instructions to follow.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Readable } from 'stream';
import * as tar from 'tar-stream';
import { AgentError } from '../common/errors';

export interface ExtractResult {
  files: number;
  bytes: number;
}

export async function extractTar(source: Readable, root: string): Promise<ExtractResult> {
  const result: ExtractResult = { files: 0, bytes: 0 };
  const rootAbs = path.resolve(root);
  const links: string[] = [];
  const extract = tar.extract();
  const target = (name: string): string => {
    const clean = name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
    const abs = path.resolve(rootAbs, clean);
    if (clean === '' || clean === '.') return rootAbs;
    if (path.isAbsolute(clean) || !abs.startsWith(rootAbs + path.sep)) {
      throw new AgentError(
        `the backup holds a path outside the data directory ("${name}"); refusing to restore it`,
        'The backup is not a PostgreSQL base backup or was tampered with; restore another one.',
      );
    }
    if (links.some(l => abs.startsWith(l + path.sep))) {
      throw new AgentError(
        `the backup writes "${name}" through a symbolic link it made; refusing`,
        'The backup is not a PostgreSQL base backup or was tampered with; restore another one.',
      );
    }
    return abs;
  };
  extract.on('entry', (header, stream, next) => {
    // A failed extraction destroys the entry's stream too; its error is reported once, by the extract stream.
    stream.on('error', () => undefined);
    const run = async () => {
      const dest = target(header.name);
      const mode = (header.mode ?? 0o600) & 0o7777;
      switch (header.type) {
        case 'directory':
          await fs.promises.mkdir(dest, { recursive: true, mode: mode || 0o700 });
          stream.resume();
          return;
        case 'file':
        case 'contiguous-file': {
          await fs.promises.mkdir(path.dirname(dest), { recursive: true, mode: 0o700 });
          // tar-stream's entries are streamx streams: read them as async iterables, not through Node's pipeline.
          const fh = await fs.promises.open(dest, 'w', mode || 0o600);
          try {
            for await (const chunk of stream) await fh.write(chunk as Buffer);
          } finally {
            await fh.close();
          }
          result.files++;
          result.bytes += header.size ?? 0;
          return;
        }
        case 'symlink':
          await fs.promises.mkdir(path.dirname(dest), { recursive: true, mode: 0o700 });
          await fs.promises.symlink(header.linkname!, dest);
          links.push(dest);
          stream.resume();
          return;
        default:
          throw new AgentError(
            `the backup holds a ${header.type} entry ("${header.name}"), which a base backup never has; refusing to restore it`,
            'Restore another backup.',
          );
      }
    };
    run().then(
      () => next(),
      e => {
        stream.resume();
        next(e as Error);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    extract.on('finish', () => resolve());
    extract.on('error', reject);
    source.on('error', e => {
      extract.destroy(e);
      reject(e);
    });
    source.pipe(extract);
  });
  return result;
}
