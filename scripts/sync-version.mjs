// Run by `npm version` (the "version" script): writes package.json's version into lib/version.ts, whose
// PACKAGE_VERSION tags the default agent image, and stages it into the version commit.
import { readFileSync, writeFileSync } from 'fs';

const { version } = JSON.parse(readFileSync('package.json', 'utf8'));
const file = 'lib/version.ts';
const before = readFileSync(file, 'utf8');
const after = before.replace(/export const PACKAGE_VERSION = '[^']*';/, `export const PACKAGE_VERSION = '${version}';`);
if (!after.includes(`'${version}'`)) throw new Error(`${file}: no PACKAGE_VERSION line to rewrite`);
writeFileSync(file, after);
