/**
 * The two commands of README (`npm run setup`, `npm test`) are what CI runs, and the setup command installs the
 * Debian packages of every system tool the tests check for.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT } from '../support/manifests';
import { DEBIAN_PACKAGES, SYSTEM_TOOLS, checkSystemTools, missingSystemTools } from '../support/system-tools';

const read = (f: string) => fs.readFileSync(path.join(ROOT, f), 'utf8');
/** The words of a bash array assignment `NAME=(a b\n c)` in scripts/setup.sh. */
const bashArray = (script: string, name: string) => new RegExp(`^${name}=\\(([^)]*)\\)`, 'm').exec(script)![1].split(/\s+/).filter(Boolean);

describe('setup and test commands', () => {
  test('scripts/setup.sh installs exactly the Debian packages of the tools the tests check', () => {
    const script = read('scripts/setup.sh');
    expect([...bashArray(script, 'PACKAGES'), ...bashArray(script, 'PACKAGES_WITH_RECOMMENDS')].sort()).toEqual([...DEBIAN_PACKAGES].sort());
    execFileSync('bash', ['-n', path.join(ROOT, 'scripts', 'setup.sh')]);
    expect(JSON.parse(read('package.json')).scripts.setup).toBe('bash scripts/setup.sh');
  });

  test(".ci/run runs README's setup and test commands", () => {
    const ci = read('.ci/run')
      .split('\n')
      .filter(l => l && !l.startsWith('#'));
    expect(ci).toContain('npm run setup');
    expect(ci[ci.length - 1]).toBe('npm test');
    expect(ci.filter(l => /apt-get|npm ci/.test(l))).toEqual([]); // those are the setup command's
    const readme = read('README.md');
    expect(readme).toMatch(/^npm run setup\b/m);
    expect(readme).toMatch(/^npm test\b/m);
  });

  test('a missing tool fails with its Debian package and the setup command', () => {
    const fake = [
      { tool: '/nonexistent/pgc-tool', debian: 'pgc-fake-package', why: 'a test of the check' },
      { tool: 'sh', debian: 'dash', why: 'present' },
    ];
    expect(missingSystemTools(fake).map(t => t.debian)).toEqual(['pgc-fake-package']);
    expect(() => checkSystemTools(fake)).toThrow(
      /\/nonexistent\/pgc-tool \[pgc-fake-package\][\s\S]*npm run setup[\s\S]*apt-get install -y pgc-fake-package$/,
    );
    // This machine is set up (the globalSetup already checked).
    expect(missingSystemTools(SYSTEM_TOOLS)).toEqual([]);
  });
});
