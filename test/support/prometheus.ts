/**
 * A real Prometheus (Debian's `prometheus`) for the monitoring tests, scraping a harness cluster as the rendered
 * PodMonitor tells prometheus-operator to.
 *
 * prometheus-operator turns each `podMetricsEndpoints[i]` into a scrape job `podMonitor/<ns>/<name>/<i>` that
 * discovers pods (kubernetes_sd, role pod) in `namespaceSelector`, keeps those whose labels match `selector` and
 * whose container declares a port named `port`, and labels each target with `namespace`, `container`, `pod`,
 * `endpoint` (the port name) and `job` (`<ns>/<name>`), scraping `path` every `interval`, with `honor_labels`
 * from `honorLabels`. {@link podMonitorScrapeConfigs} does the same with a static target list: the pods are
 * selected from the Kubernetes API double by the PodMonitor's selector and namespaces, the port name is looked up
 * in the StatefulSet's container, and the container port is mapped to the loopback port the harness gave the
 * pod's agent. Not translated (a PodMonitor using them is refused, so the test never passes on a field it
 * ignored): `namespaceSelector.any`, `selector.matchExpressions`, `relabelings`, `metricRelabelings`,
 * `targetPort`, `scheme`/TLS/auth, `jobLabel`, and discovery itself (targets are fixed when the config is
 * written: a pod that is killed stays a target and is seen down, as a pod being restarted is).
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as YAML from 'yaml';
import { ENV } from '../../lib/contract';
import { ClusterHarness, eventually, freePort, sleep } from './cluster-harness';
import { KubeObject, podSpecOf } from './manifests';
import { tempDir } from './pod-runner';

const TRANSLATED_ENDPOINT_FIELDS = new Set(['port', 'path', 'interval', 'honorLabels', 'scrapeTimeout']);

/** The scrape configs prometheus-operator would generate for `podMonitor`, with the harness pods as static targets. */
export function podMonitorScrapeConfigs(podMonitor: KubeObject, h: ClusterHarness): object[] {
  const spec = podMonitor.spec;
  const namespace = podMonitor.metadata.namespace ?? h.namespace;
  if (spec.namespaceSelector?.any) throw new Error('namespaceSelector.any is not translated');
  if (spec.selector?.matchExpressions) throw new Error('selector.matchExpressions is not translated');
  if (spec.jobLabel) throw new Error('jobLabel is not translated');
  const namespaces: string[] = spec.namespaceSelector?.matchNames ?? [namespace];
  const matchLabels: Record<string, string> = spec.selector?.matchLabels ?? {};
  const podTemplate = podSpecOf(h.statefulSet);
  return (spec.podMetricsEndpoints as any[]).map((endpoint, index) => {
    const untranslated = Object.keys(endpoint).filter(k => !TRANSLATED_ENDPOINT_FIELDS.has(k));
    if (untranslated.length) throw new Error(`podMetricsEndpoints[${index}]: ${untranslated.join(', ')} not translated`);
    const targets = h.pods
      .filter(pod => {
        const obj = h.api.get('pods', h.namespace, pod.name) as KubeObject | undefined;
        const labels = obj?.metadata.labels ?? {};
        return namespaces.includes(h.namespace) && Object.entries(matchLabels).every(([k, v]) => labels[k] === v);
      })
      .flatMap(pod =>
        (podTemplate.containers as any[])
          .filter(c => (c.ports ?? []).some((p: any) => p.name === endpoint.port))
          .map(c => {
            const containerPort = c.ports.find((p: any) => p.name === endpoint.port).containerPort;
            // The harness serves the agent's HTTP port (PGC_HTTP_PORT of the manifest) on a loopback port per pod.
            const httpEnv = (c.env ?? []).find((e: any) => e.name === ENV.httpPort)?.value;
            if (String(containerPort) !== httpEnv) throw new Error(`the harness does not serve container port ${containerPort} of ${c.name}`);
            return {
              targets: [`127.0.0.1:${pod.httpPort}`],
              labels: {
                namespace: h.namespace,
                container: c.name,
                pod: pod.name,
                endpoint: endpoint.port,
                job: `${namespace}/${podMonitor.metadata.name}`,
              },
            };
          }),
      );
    if (!targets.length) throw new Error(`PodMonitor ${podMonitor.metadata.name}: no pod matches podMetricsEndpoints[${index}]`);
    return {
      job_name: `podMonitor/${namespace}/${podMonitor.metadata.name}/${index}`,
      honor_labels: endpoint.honorLabels ?? false,
      metrics_path: endpoint.path ?? '/metrics',
      ...(endpoint.interval ? { scrape_interval: endpoint.interval } : {}),
      ...(endpoint.scrapeTimeout ? { scrape_timeout: endpoint.scrapeTimeout } : {}),
      static_configs: targets,
    };
  });
}

export interface Sample {
  metric: Record<string, string>;
  value: number;
}

/** A Prometheus server on loopback with its own empty TSDB; `stop()` ends it and deletes its files. */
export class TestPrometheus {
  private child?: ChildProcess;
  private readonly dir = tempDir('prometheus');
  private port = 0;
  readonly log: string[] = [];

  constructor(private readonly config: { scrapeConfigs: object[]; rules?: object; evaluationInterval?: string }) {}

  async start(): Promise<void> {
    this.port = await freePort();
    const ruleFiles = this.config.rules ? ['rules.yaml'] : [];
    if (this.config.rules) fs.writeFileSync(path.join(this.dir, 'rules.yaml'), YAML.stringify(this.config.rules));
    fs.writeFileSync(
      path.join(this.dir, 'prometheus.yml'),
      YAML.stringify({
        global: { scrape_interval: '1s', evaluation_interval: this.config.evaluationInterval ?? '1s' },
        rule_files: ruleFiles,
        scrape_configs: this.config.scrapeConfigs,
      }),
    );
    const child = spawn(
      'prometheus',
      [
        `--config.file=${path.join(this.dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(this.dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${this.port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    for (const stream of [child.stdout!, child.stderr!]) stream.on('data', (d: Buffer) => this.log.push(...d.toString().trim().split('\n')));
    await eventually(async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}:\n${this.log.join('\n')}`);
      const res = await fetch(`http://127.0.0.1:${this.port}/-/ready`).catch(() => undefined);
      if (res?.status !== 200) throw new Error('prometheus is not ready');
    }, 30000);
  }

  /** An instant query (at `time`, Unix seconds, or now): its vector, or a scalar as one sample without labels. */
  async query(expr: string, time?: number): Promise<Sample[]> {
    const params = new URLSearchParams({ query: expr, ...(time !== undefined ? { time: String(time) } : {}) });
    const res = await fetch(`http://127.0.0.1:${this.port}/api/v1/query?${params}`);
    const body = (await res.json()) as any;
    if (body.status !== 'success') throw new Error(`query ${expr}: ${body.errorType}: ${body.error}`);
    const { resultType, result } = body.data;
    if (resultType === 'scalar') return [{ metric: {}, value: Number(result[1]) }];
    if (resultType !== 'vector') throw new Error(`query ${expr}: a ${resultType}, not a vector`);
    return (result as any[]).map(r => ({ metric: r.metric, value: Number(r.value[1]) }));
  }

  /** The targets as Prometheus sees them (`/api/v1/targets`). */
  async targets(): Promise<Array<{ labels: Record<string, string>; health: string; scrapeUrl: string; lastError: string }>> {
    const body = (await (await fetch(`http://127.0.0.1:${this.port}/api/v1/targets`)).json()) as any;
    return body.data.activeTargets;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null) {
      const exited = new Promise(r => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(10000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A Grafana panel query with Grafana's variables replaced as Grafana would for a 6 h dashboard range. */
export function grafanaExpr(expr: string, variables: Record<string, string> = {}): string {
  const builtIn: Record<string, string> = { __rate_interval: '1m', __interval: '15s', __range: '6h', __range_s: '21600', ...variables };
  return expr.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, (whole, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare)!;
    if (!(name in builtIn)) throw new Error(`the panel query uses $${name}, which the test does not define`);
    return builtIn[name];
  });
}
