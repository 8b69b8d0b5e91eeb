// @kubernetes/client-node 1.x is published as ES modules only, and jest (CommonJS, no --experimental-vm-modules)
// cannot load it: "Must use import to load ES Module". Tests that drive the real client in-process load this CommonJS
// bundle of the very same package instead, built once with esbuild and cached in the temporary directory.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export type ClientNode = typeof import('@kubernetes/client-node');

let loaded: ClientNode | undefined;

export function loadClientNode(): ClientNode {
  if (loaded) return loaded;
  const entry = require.resolve('@kubernetes/client-node');
  const pkg = JSON.parse(fs.readFileSync(path.join(path.dirname(entry), '..', 'package.json'), 'utf8'));
  const bundle = path.join(os.tmpdir(), 'kube-api-double', `client-node-${pkg.version}-${fs.statSync(entry).mtimeMs}.cjs`);
  if (!fs.existsSync(bundle)) {
    fs.mkdirSync(path.dirname(bundle), { recursive: true });
    // Several jest workers may build at once: each writes its own file and renames it into place.
    const partial = `${bundle}.${process.pid}.tmp`;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { buildSync } = require('esbuild') as typeof import('esbuild');
    buildSync({ entryPoints: [entry], bundle: true, platform: 'node', target: 'node20', format: 'cjs', outfile: partial, logLevel: 'error' });
    fs.renameSync(partial, bundle);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  loaded = require(bundle) as ClientNode;
  return loaded;
}
