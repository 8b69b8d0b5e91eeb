/**
 * The rendered PrometheusRule, checked by Prometheus's own tool: `promtool check rules` accepts it, and `promtool
 * test rules` runs the unit cases of test/lib/alert-rules.promtool.yaml against it (each alert firing and not
 * firing). The rules come from the synth, never from a copy.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { Chart, Size, Testing } from 'cdk8s';
import * as YAML from 'yaml';
import { BackupStore, ClusterMonitoring, PostgresCluster } from '../../lib';
import { byKind } from './helpers';

const run = promisify(execFile);
const CASES = path.join(__dirname, 'alert-rules.promtool.yaml');

/** The cluster the cases are written for: "pg" in namespace "db", 3 instances, hourly backups with a 30-minute deadline. */
function renderedRuleSpec(): { groups: Array<{ name: string; rules: any[] }> } {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'db' });
  const store = new BackupStore(chart, 'store', { endpoint: 'http://rgw.rook.svc:80', bucket: 'backup-cnpg', credentials: { secretName: 's3' } });
  const cluster = new PostgresCluster(chart, 'pg', {
    name: 'pg',
    instances: 3,
    storage: { size: Size.gibibytes(1) },
    backup: { store, schedule: '0 * * * *', activeDeadlineSeconds: 1800 },
  });
  new ClusterMonitoring(chart, 'mon', { cluster });
  return byKind(Testing.synth(chart), 'PrometheusRule', 'pg').spec;
}

interface AlertCase {
  eval_time: string;
  alertname: string;
  exp_alerts: Array<{ exp_labels: Record<string, string>; exp_annotations?: Record<string, string> }>;
}

/** The cases with each expected alert's annotations filled in from the rendered rule (templates expanded). */
function casesWithAnnotations(spec: ReturnType<typeof renderedRuleSpec>): any {
  const cases = YAML.parse(fs.readFileSync(CASES, 'utf8'));
  const rules = new Map(spec.groups.flatMap(g => g.rules).map(r => [r.alert, r]));
  for (const test of cases.tests)
    for (const c of test.alert_rule_test as AlertCase[])
      for (const expected of c.exp_alerts) {
        const annotations: Record<string, string> = rules.get(c.alertname)?.annotations ?? {};
        expected.exp_annotations ??= Object.fromEntries(
          Object.entries(annotations).map(([k, v]) => [
            k,
            v.replace(/\{\{ \$labels\.(\w+) \}\}/g, (_, label: string) => expected.exp_labels[label] ?? `<no label ${label}>`),
          ]),
        );
      }
  return cases;
}

/** Runs promtool in a fresh directory holding rules.yaml (the rule spec) and tests.yaml; never throws. */
async function promtool(args: string[], files: Record<string, unknown>): Promise<{ code: number; out: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgc-promtool-'));
  try {
    for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), YAML.stringify(content));
    const { stdout, stderr } = await run('promtool', args, { cwd: dir });
    return { code: 0, out: stdout + stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, out: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The same rules with every alert's expression replaced. */
const withExpr = (spec: ReturnType<typeof renderedRuleSpec>, expr: string) => ({
  groups: spec.groups.map(g => ({ ...g, rules: g.rules.map(r => ({ ...r, expr })) })),
});

describe('the PrometheusRule under promtool', () => {
  const spec = renderedRuleSpec();
  const alerts = spec.groups.flatMap(g => g.rules.map(r => r.alert as string));

  test('promtool check rules accepts the rendered rules', async () => {
    const { code, out } = await promtool(['check', 'rules', 'rules.yaml'], { 'rules.yaml': spec });
    expect({ code, out }).toEqual({ code: 0, out: expect.stringContaining(`SUCCESS: ${alerts.length} rules found`) });
  });

  test('every shipped alert has a case where it fires and one where it does not', () => {
    const cases = YAML.parse(fs.readFileSync(CASES, 'utf8'));
    const checks: AlertCase[] = cases.tests.flatMap((t: any) => t.alert_rule_test);
    expect(alerts).toHaveLength(9);
    for (const alert of alerts) {
      const mine = checks.filter(c => c.alertname === alert);
      expect({ alert, fires: mine.some(c => c.exp_alerts.length > 0), quiet: mine.some(c => c.exp_alerts.length === 0) }).toEqual({
        alert,
        fires: true,
        quiet: true,
      });
    }
    // No case for an alert that is not shipped (a renamed alert would leave its cases testing nothing).
    expect(checks.filter(c => !alerts.includes(c.alertname))).toEqual([]);
  });

  test('promtool test rules: every case passes against the rendered rules', async () => {
    const { code, out } = await promtool(['test', 'rules', 'tests.yaml'], { 'rules.yaml': spec, 'tests.yaml': casesWithAnnotations(spec) });
    expect({ code, out }).toEqual({ code: 0, out: expect.stringContaining('SUCCESS') });
  });

  test('the cases catch an alert that never fires and one that always fires', async () => {
    const files = (expr: string) => ({ 'rules.yaml': withExpr(spec, expr), 'tests.yaml': casesWithAnnotations(spec) });
    const never = await promtool(['test', 'rules', 'tests.yaml'], files('vector(1) < 0'));
    const always = await promtool(['test', 'rules', 'tests.yaml'], files('vector(1)'));
    expect([never.code, always.code]).toEqual([1, 1]);
    for (const alert of alerts) {
      expect(never.out).toContain(`alertname: ${alert},`);
      expect(always.out).toContain(`alertname: ${alert},`);
    }
  });
});
