/**
 * The agent image's contract with the manifests, checked without a container engine: agent/Dockerfile (parsed with
 * dockerfile-ast), the launcher it writes, and .github/workflows/agent-image.yml against what the constructs render.
 * The Dockerfile itself smoke-tests the image at build time (node, the launcher, this major's binaries on PATH).
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Chart, Size, Testing } from 'cdk8s';
import { Copy, DockerfileParser, From, Instruction } from 'dockerfile-ast';
import { parse as parseYaml } from 'yaml';
import { NODE_FLAGS_ENV, PATHS } from '../../lib/contract';
import { DEFAULT_IMAGE_REPOSITORY, DEFAULT_POSTGRES_VERSION, PostgresCluster } from '../../lib/cluster/postgres-cluster';
import { PACKAGE_VERSION } from '../../lib/version';
import { KubeObject, ROOT, loadDist, podSpecOf } from '../support/manifests';
import { AGENT_BUNDLE } from '../support/pod-runner';

const DOCKERFILE = path.join(ROOT, 'agent', 'Dockerfile');
const WORKFLOW = path.join(ROOT, '.github', 'workflows', 'agent-image.yml');
const RELEASE_WORKFLOW = path.join(ROOT, '.github', 'workflows', 'release.yml');
const dockerfile = DockerfileParser.parse(fs.readFileSync(DOCKERFILE, 'utf8'));

interface Stage {
  from: From;
  instructions: Instruction[];
}

/** The build stages in order: each FROM and the instructions up to the next one. */
function stages(): Stage[] {
  const out: Stage[] = [];
  for (const i of dockerfile.getInstructions()) {
    if (i.getKeyword() === 'FROM') out.push({ from: i as From, instructions: [] });
    else if (out.length) out[out.length - 1].instructions.push(i);
  }
  return out;
}

const finalStage = () => stages()[stages().length - 1];
const ofKind = (s: Stage, keyword: string) => s.instructions.filter(i => i.getKeyword() === keyword);
const flag = (i: Instruction, name: string) =>
  (i as Copy)
    .getFlags()
    .find(f => f.getName() === name)
    ?.getValue() ?? undefined;
/** Default of a global ARG (declared before the first FROM). */
const globalArg = (name: string) =>
  dockerfile
    .getInitialARGs()
    .map(a => a.getProperty())
    .find(p => p?.getName() === name)
    ?.getValue();
/** `${NAME}`/`$NAME` of global ARGs replaced by their defaults, as an unparameterised build would see them. */
const withDefaults = (s: string) => s.replace(/\$\{?(\w+)\}?/g, (m, name) => globalArg(name) ?? m);
const jsonArgs = (i: Instruction) => JSON.parse(i.getArgumentsContent() ?? 'null');

/** Every container of dist/keycloak.k8s.yaml that runs the agent image (instance, secrets Job, backups). */
function agentContainers(): Array<{ owner: string; container: any }> {
  return loadDist('keycloak.k8s.yaml')
    .filter((o: KubeObject) => ['StatefulSet', 'Job', 'CronJob', 'Deployment'].includes(o.kind))
    .flatMap((o: KubeObject) => podSpecOf(o).containers.map((c: any) => ({ owner: `${o.kind}/${o.metadata.name}`, container: c })))
    .filter(({ container }) => String(container.image).startsWith(`${DEFAULT_IMAGE_REPOSITORY}:`));
}

function workflow(): any {
  return parseYaml(fs.readFileSync(WORKFLOW, 'utf8'));
}

function buildPushStep(): any {
  const steps = Object.values<any>(workflow().jobs).flatMap(j => j.steps ?? []);
  const step = steps.find(s => String(s.uses ?? '').startsWith('docker/build-push-action@'));
  if (!step) throw new Error('the workflow has no docker/build-push-action step');
  return step;
}

function workflowMajors(): number[] {
  const job = Object.values<any>(workflow().jobs).find(j =>
    (j.steps ?? []).some((s: any) => String(s.uses ?? '').startsWith('docker/build-push-action@')),
  );
  return (job.strategy.matrix.pg_major as Array<number | string>).map(Number);
}

describe('agent image contract (agent/Dockerfile, the manifests, the workflow)', () => {
  test('the final stage is the official postgres:${PG_MAJOR}-bookworm image, 15 unless PG_MAJOR is given', () => {
    const last = finalStage();
    expect(last.from.getImage()).toBe('postgres:${PG_MAJOR}-bookworm');
    expect(globalArg('PG_MAJOR')).toBe(String(DEFAULT_POSTGRES_VERSION));
    // The global ARG is visible inside the stage only when re-declared there.
    expect(ofKind(last, 'ARG').map(a => a.getArgumentsContent())).toContain('PG_MAJOR');
    expect(last.from.getPlatformFlag()).toBeNull();
  });

  test('the bundle is built once on the build platform with npm ci and agent/build.mjs', () => {
    const build = stages().find(s => s.from.getBuildStage() === 'build')!;
    expect(build).toBeDefined();
    expect(build.from.getPlatformFlag()?.getValue()).toBe('$BUILDPLATFORM');
    expect(withDefaults(build.from.getImage()!)).toBe('node:22-bookworm-slim');
    const runs = ofKind(build, 'RUN').map(r => r.getArgumentsContent() ?? '');
    expect(runs.some(r => /^npm ci\b/.test(r))).toBe(true);
    expect(runs).toContain('node agent/build.mjs');
  });

  test('node comes from the official node:22 image of the target platform, not from a download', () => {
    const last = finalStage();
    const nodeCopy = ofKind(last, 'COPY').find(c => (c.getArgumentsContent() ?? '').endsWith(' /usr/local/bin/node'))!;
    expect(nodeCopy).toBeDefined();
    const source = stages().find(s => s.from.getBuildStage() === flag(nodeCopy, 'from'))!;
    expect(withDefaults(source.from.getImage()!)).toBe('node:22-bookworm-slim');
    expect(source.from.getPlatformFlag()).toBeNull(); // pulled for each target platform
    const everything = dockerfile
      .getInstructions()
      .map(i => i.getArgumentsContent() ?? '')
      .join('\n');
    expect(everything).not.toMatch(/\b(curl|wget)\b|nodejs\.org/);
  });

  test('it runs as uid 999 with the agent as entrypoint, stopped by SIGTERM', () => {
    const last = finalStage();
    const users = ofKind(last, 'USER');
    expect(users[users.length - 1].getArgumentsContent()).toBe('999');
    expect(jsonArgs(ofKind(last, 'ENTRYPOINT')[0])).toEqual([PATHS.agentBinary]);
    expect(ofKind(last, 'STOPSIGNAL')[0].getArgumentsContent()).toBe('SIGTERM');
  });

  test("this major's server binaries come first on PATH", () => {
    const env = ofKind(finalStage(), 'ENV').map(e => e.getArgumentsContent() ?? '');
    expect(env.some(e => e.startsWith('PATH=/usr/lib/postgresql/${PG_MAJOR}/bin:'))).toBe(true);
  });

  test('it carries pgvector and PostGIS for its major, from the PostgreSQL apt repository of the base image', () => {
    const last = finalStage();
    const runs = ofKind(last, 'RUN').map(r => r.getArgumentsContent() ?? '');
    const install = runs.find(r => /apt-get install/.test(r));
    expect(install).toBeDefined();
    // One package per extension and this image's major, as apt.postgresql.org names them.
    for (const pkg of ['postgresql-${PG_MAJOR}-pgvector', 'postgresql-${PG_MAJOR}-postgis-3', 'postgresql-${PG_MAJOR}-postgis-3-scripts']) {
      expect(install).toContain(`"${pkg}"`);
    }
    // The base image's own apt source: nothing added, nothing downloaded; the lists do not stay in the image.
    expect(install).not.toMatch(/sources\.list|apt-key|gpg|curl|wget/);
    expect(install).toMatch(/rm -rf \/var\/lib\/apt\/lists\/\*/);
    // The build fails unless the extension names users declare ("vector", "postgis") have control files.
    expect(install).toContain('for ext in vector postgis');
    expect(install).toContain('/usr/share/postgresql/${PG_MAJOR}/extension/$ext.control');
    // Installed as root, before the image switches to uid 999.
    const order = last.instructions;
    expect(order.indexOf(ofKind(last, 'RUN').find(r => r.getArgumentsContent() === install)!)).toBeLessThan(
      order.indexOf(ofKind(last, 'USER').pop()!),
    );
  });

  test('OCI labels name the image, its source, licence and base', () => {
    const labels = ofKind(finalStage(), 'LABEL')
      .map(l => l.getArgumentsContent() ?? '')
      .join(' ');
    for (const key of ['title', 'description', 'source', 'licenses', 'base.name']) expect(labels).toContain(`org.opencontainers.image.${key}=`);
    expect(labels).toContain('org.opencontainers.image.licenses="Apache-2.0"');
  });

  test('the launcher is installed at the path every agent container of the manifests runs, and it works', () => {
    const containers = agentContainers();
    expect(containers.map(c => c.owner)).toEqual(expect.arrayContaining(['StatefulSet/keycloak-pg-cluster', 'Job/keycloak-pg-cluster-secrets']));
    for (const { container } of containers) expect(container.command).toEqual([PATHS.agentBinary]);

    // The build stage's agent/dist (the entry the tests run, AGENT_BUNDLE, and the chunks it imports) goes to
    // /opt/pg-agent/ as a whole.
    const last = finalStage();
    const bundleCopy = ofKind(last, 'COPY').find(c => flag(c, 'from') === 'build')!;
    const [source, target] = (bundleCopy.getArgumentsContent() ?? '').split(/\s+/);
    expect(source).toBe('/src/agent/dist/');
    expect(target).toBe('/opt/pg-agent/');
    const entryInImage = target + path.basename(AGENT_BUNDLE);

    // The launcher is what the RUN's printf writes: render it, point it at a copy of agent/dist in a directory
    // with no node_modules around (as in the image), and run it.
    const run = ofKind(last, 'RUN')
      .map(r => r.getArgumentsContent() ?? '')
      .find(r => r.startsWith('printf '))!;
    const m = /^printf '([^']*)' > (\S+)/.exec(run)!;
    expect(m).not.toBeNull();
    expect(m[2]).toBe(PATHS.agentBinary);
    expect(run).toContain(`chmod 0755 ${PATHS.agentBinary}`);
    const launcher = execFileSync('sh', ['-c', `printf '${m[1]}'`]).toString();
    expect(launcher).toBe(`#!/bin/sh\nexec node $${NODE_FLAGS_ENV} ${entryInImage} "$@"\n`);

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgc-image-'));
    try {
      const opt = path.join(dir, 'opt');
      fs.cpSync(path.dirname(AGENT_BUNDLE), opt, { recursive: true });
      fs.writeFileSync(path.join(dir, 'pg-agent'), launcher.replace(entryInImage, path.join(opt, path.basename(AGENT_BUNDLE))), { mode: 0o755 });
      const help = execFileSync(path.join(dir, 'pg-agent'), ['--help'], { cwd: dir, env: { PATH: process.env.PATH, HOME: dir } }).toString();
      expect(help).toMatch(/^\s+instance\b/m);
      expect(help).toMatch(/^\s+secrets\b/m);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the build context sends what the bundle is built from (agent/Dockerfile.dockerignore)', () => {
    const ignore = fs
      .readFileSync(path.join(ROOT, 'agent', 'Dockerfile.dockerignore'), 'utf8')
      .split('\n')
      .map(l => l.trim())
      .filter(l => l && !l.startsWith('#'));
    expect(ignore[0]).toBe('*');
    const included = ignore.filter(l => l.startsWith('!')).map(l => l.slice(1).replace(/\/$/, ''));
    const build = stages().find(s => s.from.getBuildStage() === 'build')!;
    const sources = ofKind(build, 'COPY').flatMap(c => (c.getArgumentsContent() ?? '').split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThan(0);
    for (const s of sources) {
      expect(included).toContain(s);
      expect(fs.existsSync(path.join(ROOT, s))).toBe(true);
    }
  });

  test("the construct's default image and the image of dist/ are ones the release workflow builds and pushes", () => {
    const chart = new Chart(Testing.app(), 'c');
    const cluster = new PostgresCluster(chart, 'pg', { name: 'pg', storage: { size: Size.gibibytes(1) } });
    expect(cluster.image).toBe(`${DEFAULT_IMAGE_REPOSITORY}:${PACKAGE_VERSION}-pg${DEFAULT_POSTGRES_VERSION}`);
    const majors = workflowMajors();
    expect(majors).toEqual([15, 16, 17]);
    expect(majors).toContain(DEFAULT_POSTGRES_VERSION);
    expect(workflow().env.IMAGE).toBe(DEFAULT_IMAGE_REPOSITORY);
    // The release workflow pushes <version>-pg<major> for the same majors (the tag is checked against package.json).
    const release = parseYaml(fs.readFileSync(RELEASE_WORKFLOW, 'utf8'));
    expect(release.env.IMAGE).toBe(DEFAULT_IMAGE_REPOSITORY);
    const job = release.jobs.image;
    expect((job.strategy.matrix.pg_major as number[]).map(Number)).toEqual(majors);
    const push = job.steps.find((s: any) => String(s.uses ?? '').startsWith('docker/build-push-action@'));
    expect(push.with.tags).toBe('${{ env.IMAGE }}:${{ needs.check.outputs.version }}-pg${{ matrix.pg_major }}');
    expect(push.with.file).toBe('agent/Dockerfile');
    for (const { container } of agentContainers()) {
      const [repo, tag] = String(container.image).split(':');
      expect(repo).toBe(DEFAULT_IMAGE_REPOSITORY);
      const m = /^(.+)-pg(\d+)$/.exec(tag);
      expect(m?.[1]).toBe(PACKAGE_VERSION);
      expect(majors).toContain(Number(m?.[2]));
    }
  });

  test('the workflow builds agent/Dockerfile for amd64 and arm64 per major, pushing only from main and tags', () => {
    const wf = workflow();
    const steps = Object.values<any>(wf.jobs).flatMap(j => j.steps ?? []);
    const uses = steps.map(s => String(s.uses ?? '').split('@')[0]);
    for (const action of [
      'actions/checkout',
      'docker/setup-qemu-action',
      'docker/setup-buildx-action',
      'docker/login-action',
      'docker/metadata-action',
      'docker/build-push-action',
    ]) {
      expect(uses).toContain(action);
    }
    const step = buildPushStep();
    expect(
      String(step.with.platforms)
        .split(',')
        .map(p => p.trim())
        .sort(),
    ).toEqual(['linux/amd64', 'linux/arm64']);
    expect(step.with.file).toBe('agent/Dockerfile');
    expect(step.with.context).toBe('.');
    expect(String(step.with['build-args'])).toContain('PG_MAJOR=${{ matrix.pg_major }}');
    expect(step.with['cache-from']).toMatch(/^type=gha\b/);
    expect(step.with['cache-to']).toMatch(/^type=gha\b.*mode=max/);
    expect(step.with.push).toBe("${{ env.PUSH == 'true' }}");
    expect(wf.env.PUSH).toContain("github.ref == 'refs/heads/main'");
    expect(wf.env.PUSH).toContain("startsWith(github.ref, 'refs/tags/");
    expect(wf.env.PUSH).toContain("github.event_name != 'pull_request'");
    const login = steps.find(s => String(s.uses).startsWith('docker/login-action@'));
    expect(login.with).toEqual({ registry: 'ghcr.io', username: '${{ github.actor }}', password: '${{ secrets.GITHUB_TOKEN }}' });
    expect(login.if).toBe("env.PUSH == 'true'");
    const job = Object.values<any>(wf.jobs)[0];
    expect(job.permissions.packages).toBe('write');
  });
});
