/**
 * Every relative link of README.md, CHANGELOG.md and docs/*.md resolves inside the repository: the file exists,
 * and a `#fragment` into a Markdown file names one of its headings (GitHub's anchors).
 */
import * as fs from 'fs';
import * as path from 'path';
import { ROOT } from '../support/manifests';

const DOCS = [
  'README.md',
  'CHANGELOG.md',
  ...fs
    .readdirSync(path.join(ROOT, 'docs'))
    .filter(f => f.endsWith('.md'))
    .map(f => `docs/${f}`),
];

/** GitHub's anchor of a heading: lower case, punctuation but `-` and `_` removed, spaces to `-`. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchors(file: string): Set<string> {
  const text = fs.readFileSync(file, 'utf8').replace(/^```[\s\S]*?^```/gm, '');
  return new Set([...text.matchAll(/^#{1,6}\s+(.+)$/gm)].map(m => slug(m[1])));
}

/** The targets of the Markdown links `[text](target)` outside code blocks and code spans. */
function links(text: string): string[] {
  const prose = text.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '``');
  return [...prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map(m => m[1]);
}

describe('documentation links', () => {
  test('the docs exist: architecture and the runbooks', () => {
    for (const f of [
      'architecture',
      'restore-and-pitr',
      'failover-and-switchover',
      'migrate-from-cloudnativepg',
      'upgrade-the-agent',
      'volumes-scaling-hibernation',
      'troubleshooting',
    ]) {
      expect(DOCS).toContain(`docs/${f}.md`);
    }
  });

  test.each(DOCS)('%s: every relative link resolves inside the repository', doc => {
    const file = path.join(ROOT, doc);
    const broken: string[] = [];
    for (const target of links(fs.readFileSync(file, 'utf8'))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      const [rel, fragment] = target.split('#');
      const resolved = rel ? path.resolve(path.dirname(file), decodeURIComponent(rel)) : file;
      if (path.relative(ROOT, resolved).startsWith('..')) broken.push(`${target}: outside the repository`);
      else if (!fs.existsSync(resolved)) broken.push(`${target}: no such file`);
      else if (fragment && resolved.endsWith('.md') && !anchors(resolved).has(fragment)) broken.push(`${target}: no heading #${fragment}`);
    }
    expect(broken).toEqual([]);
  });

  test('the check catches a link out of the repository, a missing file and a missing heading', () => {
    expect(links('see [design](../elsewhere/DESIGN.md), [x](docs/nope.md) and `[not](a-link.md)`')).toEqual([
      '../elsewhere/DESIGN.md',
      'docs/nope.md',
    ]);
    expect(slug('Restore: `bootstrap.recovery` and point-in-time recovery')).toBe('restore-bootstraprecovery-and-point-in-time-recovery');
    expect(anchors(path.join(ROOT, 'README.md')).has('the-api')).toBe(true);
  });
});
