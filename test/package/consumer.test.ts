/**
 * The construct library as its users get it: `npm pack` of this repository, installed into a fresh cdk8s
 * TypeScript app in a temp dir next to cdk8s, constructs and cdk8s-plus-28, offline from the npm cache (the setup
 * command primes it: scripts/prime-npm-cache.mjs), once at the locked versions and once at the oldest versions the
 * peerDependencies allow. Each app is type-checked against the package's .d.ts, synthesized with the cdk8s CLI, and
 * its manifests pass the strict schema validation that dist/ passes.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import { builtinModules } from 'module';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';
import { PACKAGE_VERSION } from '../../lib/version';
import { KubeObject, ROOT } from '../support/manifests';
import { tempDir } from '../support/pod-runner';
import { loadValidator } from '../support/schemas';

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'));
const PEERS = Object.keys(pkg.peerDependencies).sort();
const CONSUMERS: Record<string, Record<string, string>> = {
  current: Object.fromEntries(PEERS.map(n => [n, lock.packages[`node_modules/${n}`].version])),
  oldest: JSON.parse(fs.readFileSync(path.join(__dirname, 'consumers.json'), 'utf8')).oldest,
};
const BIN = path.join(ROOT, 'node_modules', '.bin');

/** What `npm pack` may put in the tarball: the compiled library, its typings, and the package's own documents. */
const LIBRARY_FILE = /^(build\/(lib|imports)\/[\w./-]+\.(js|d\.ts)|package\.json|README\.md|LICENSE|CHANGELOG\.md)$/;

const MAIN_TS = `import { App, Chart, Size } from 'cdk8s';
import { BackupStore, PostgresCluster, RestoreDrill } from 'cdk8s-postgres';

const app = new App();
const chart = new Chart(app, 'db', { namespace: 'apps', labels: { 'example.org/team': 'web' } });
const store = new BackupStore(chart, 'store', {
  endpoint: 'https://s3.example.org',
  bucket: 'postgres-backups',
  credentials: { secretName: 'backup-credentials' },
});
const cluster = new PostgresCluster(chart, 'pg', {
  name: 'web-pg',
  instances: 3,
  inheritedLabels: ['example.org/*'],
  databases: [{ name: 'web', owner: 'web' }],
  resources: { requests: { memory: '256Mi', cpu: '250m' } },
  tuning: { workload: 'web' },
  storage: { size: Size.gibibytes(5) },
  backup: { store, schedule: '0 3 * * *', immediate: true, retention: { recoveryWindow: '14d', monthly: 3 }, compression: 'zstd' },
  networkPolicy: { cilium: true, kubernetes: true, allowFrom: [{ podLabels: { app: 'web' } }] },
});
new RestoreDrill(chart, 'drill', { cluster, schedule: '0 5 * * 0' });
app.synth();
`;

function run(cmd: string, args: string[], cwd: string): string {
  try {
    return execFileSync(cmd, args, { cwd, stdio: 'pipe', env: { ...process.env, npm_config_update_notifier: 'false' } }).toString();
  } catch (e: any) {
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`, { cause: e });
  }
}

describe('the npm package', () => {
  let packDir: string;
  let tarball: string;

  beforeAll(() => {
    packDir = tempDir('pack');
    // prepack builds build/ (tsconfig.build.json).
    const [report] = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', packDir], ROOT));
    tarball = path.join(packDir, report.filename);
  }, 120000);

  afterAll(() => fs.rmSync(packDir, { recursive: true, force: true }));

  test('npm pack --dry-run lists only the library: compiled lib/ and imports/ with typings, no sources, tests, agent or tooling', () => {
    const [report] = JSON.parse(run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], ROOT));
    const files: string[] = report.files.map((f: { path: string }) => f.path).sort();
    expect(files.filter(f => !LIBRARY_FILE.test(f))).toEqual([]);
    for (const f of [
      'package.json',
      'README.md',
      'LICENSE',
      'CHANGELOG.md',
      'build/lib/index.js',
      'build/lib/index.d.ts',
      'build/imports/cilium-cilium.io.js',
      'build/lib/status/cli.js',
    ])
      expect(files).toContain(f);
    // Every module of lib/ is there, compiled, with its typings.
    const sources = fs
      .readdirSync(path.join(ROOT, 'lib'), { recursive: true })
      .map(String)
      .filter(f => f.endsWith('.ts'));
    for (const s of sources) {
      expect(files).toContain(`build/lib/${s.replace(/\.ts$/, '.js')}`);
      expect(files).toContain(`build/lib/${s.replace(/\.ts$/, '.d.ts')}`);
    }
  });

  test('the manifest: entry points exist, cdk8s/constructs/cdk8s-plus-28 are peers, only what lib/ imports is installed with it', () => {
    expect(pkg.private).toBeUndefined();
    expect(pkg.name).toBe('cdk8s-postgres');
    expect(pkg.exports['.']).toEqual({ types: './build/lib/index.d.ts', default: './build/lib/index.js' });
    expect(pkg.main).toBe('build/lib/index.js');
    expect(pkg.types).toBe('build/lib/index.d.ts');
    expect(PEERS).toEqual(['cdk8s', 'cdk8s-plus-28', 'constructs']);
    // The status command for people: a bin in the package (lib/status/cli.ts, no dependency beyond Node).
    expect(pkg.bin).toEqual({ 'cdk8s-postgres': 'build/lib/status/cli.js' });
    expect(fs.readFileSync(path.join(ROOT, 'lib', 'status', 'cli.ts'), 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/);
    for (const [name, version] of Object.entries(CONSUMERS.oldest)) expect(pkg.peerDependencies[name]).toBe(`^${version}`);
    // The runtime imports of lib/ and imports/ that are not relative nor Node's: exactly the peers and dependencies.
    const imported = new Set<string>();
    for (const dir of ['lib', 'imports']) {
      for (const f of fs
        .readdirSync(path.join(ROOT, dir), { recursive: true })
        .map(String)
        .filter(f => f.endsWith('.ts'))) {
        for (const m of fs.readFileSync(path.join(ROOT, dir, f), 'utf8').matchAll(/^(?:import|export)\s+(?!type\b)[^'"]*from\s+'([^'.][^']*)'/gm)) {
          if (m[1].startsWith('node:') || builtinModules.includes(m[1])) continue; // Node's own (the bin's child_process, net)
          imported.add(m[1].startsWith('@') ? m[1].split('/').slice(0, 2).join('/') : m[1].split('/')[0]);
        }
      }
    }
    expect([...imported].sort()).toEqual([...PEERS, ...Object.keys(pkg.dependencies)].sort());
  });

  describe.each(Object.entries(CONSUMERS))('a cdk8s app on the %s cdk8s, constructs and cdk8s-plus-28', (_name, versions) => {
    let app: string;
    beforeAll(() => {
      app = tempDir('consumer');
      fs.writeFileSync(
        path.join(app, 'package.json'),
        JSON.stringify(
          {
            name: 'consumer',
            version: '0.0.0',
            private: true,
            dependencies: { ...versions, 'cdk8s-postgres': `file:${tarball}` },
          },
          null,
          2,
        ),
      );
      fs.writeFileSync(
        path.join(app, 'tsconfig.json'),
        JSON.stringify(
          {
            compilerOptions: {
              target: 'ES2022',
              module: 'commonjs',
              moduleResolution: 'node',
              strict: true,
              esModuleInterop: true,
              skipLibCheck: false,
              types: [],
              lib: ['ES2022'],
            },
            files: ['main.ts'],
          },
          null,
          2,
        ),
      );
      fs.writeFileSync(path.join(app, 'cdk8s.yaml'), 'language: typescript\napp: node main.js\n');
      fs.writeFileSync(path.join(app, 'main.ts'), MAIN_TS);
    });
    afterAll(() => fs.rmSync(app, { recursive: true, force: true }));

    test('installs the packed tarball offline from the npm cache, with no agent dependency', () => {
      try {
        run('npm', ['install', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], app);
      } catch (e: any) {
        if (/ENOTCACHED/.test(e.message))
          throw new Error(`the npm cache lacks the ${_name} consumer's packages: run \`npm run setup\` (scripts/prime-npm-cache.mjs)\n${e.message}`, {
            cause: e,
          });
        throw e;
      }
      for (const [name, version] of Object.entries(versions)) {
        expect(JSON.parse(fs.readFileSync(path.join(app, 'node_modules', name, 'package.json'), 'utf8')).version).toBe(version);
      }
      const installed = fs.readdirSync(path.join(app, 'node_modules'));
      for (const agentOnly of ['@aws-sdk', '@kubernetes', 'zstd-napi', 'lz4-napi', 'pg', 'pino', 'tar-stream', 'commander'])
        expect(installed).not.toContain(agentOnly);
      // One copy of constructs: the library uses the app's (a second copy breaks the construct tree).
      expect(fs.existsSync(path.join(app, 'node_modules', 'cdk8s-postgres', 'node_modules', 'constructs'))).toBe(false);
    }, 120000);

    test("type-checks against the package's typings (skipLibCheck off) and synthesizes with the cdk8s CLI", () => {
      run(path.join(BIN, 'tsc'), ['-p', 'tsconfig.json'], app);
      run(path.join(BIN, 'cdk8s'), ['synth', '--no-check-upgrade'], app);
      expect(fs.readdirSync(path.join(app, 'dist'))).toEqual(['db.k8s.yaml']);
    }, 120000);

    test('npx cdk8s-postgres --help prints the status usage; status without kubectl says how to fix it', () => {
      expect(run('npx', ['--offline', '--no-install', 'cdk8s-postgres', '--help'], app)).toMatch(
        /^Usage: cdk8s-postgres status <cluster> \[-n <namespace>\]/,
      );
      let failed: any;
      try {
        execFileSync(path.join(app, 'node_modules', '.bin', 'cdk8s-postgres'), ['status', 'web-pg', '-n', 'apps'], {
          cwd: app,
          stdio: 'pipe',
          env: { ...process.env, KUBECTL: path.join(app, 'no-kubectl') },
        });
      } catch (e) {
        failed = e;
      }
      expect(failed?.status).toBe(1);
      expect(String(failed?.stderr)).toMatch(/^cdk8s-postgres: kubectl not found \(looked for ".*no-kubectl"\)\nfix: Install kubectl/);
    }, 60000);

    test('the manifests pass the strict schema validation and run the agent image of this version', () => {
      const objects = parseAllDocuments(fs.readFileSync(path.join(app, 'dist', 'db.k8s.yaml'), 'utf8')).map(d => d.toJS() as KubeObject);
      const validator = loadValidator();
      expect(objects.flatMap(o => validator.validate(o))).toEqual([]);
      const kinds = new Set(objects.map(o => o.kind));
      for (const k of ['StatefulSet', 'Service', 'CronJob', 'Job', 'CiliumNetworkPolicy', 'NetworkPolicy', 'PodDisruptionBudget'])
        expect(kinds).toContain(k);
      const sts = objects.find(o => o.kind === 'StatefulSet')!;
      expect(sts.spec.template.spec.containers[0].image).toBe(`ghcr.io/cdk8s-postgres/agent:${PACKAGE_VERSION}-pg15`);
      expect(sts.metadata.labels?.['example.org/team']).toBe('web');
    });
  });
});
