/**
 * Synth-time validation helpers. Every error names the prop and says how to fix it, as aws-cdk-lib does.
 */
export class ValidationError extends Error {
  constructor(prop: string, problem: string, fix: string) {
    super(`${prop}: ${problem}. ${fix}`);
    this.name = 'ValidationError';
  }
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A DNS-1123 label of at most `maxLength` characters (Kubernetes object names, label-safe). */
export function checkDnsLabel(prop: string, value: string, maxLength = 63): void {
  if (!DNS1123_LABEL.test(value)) {
    throw new ValidationError(
      prop,
      `"${value}" is not a DNS-1123 label`,
      'Use lowercase letters, digits and "-", starting and ending with a letter or digit.',
    );
  }
  if (value.length > maxLength) {
    throw new ValidationError(
      prop,
      `"${value}" is ${value.length} characters long, the limit is ${maxLength}`,
      'Choose a shorter name: derived object names add suffixes to it.',
    );
  }
}

/** A Kubernetes resource quantity: `100m`, `0.5`, `128Mi`, `1G`. */
const QUANTITY = /^([+]?[0-9]+(\.[0-9]+)?|\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?[0-9]+)?$/;
const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = { m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };

/** Parses a quantity to a number (bytes for memory, cores for CPU), or throws naming the prop. */
export function parseQuantity(prop: string, value: string): number {
  const m = QUANTITY.exec(String(value));
  if (!m) {
    throw new ValidationError(
      prop,
      `"${value}" is not a Kubernetes quantity`,
      'Write it as Kubernetes does, e.g. "100m" or "0.5" for CPU, "128Mi" or "1Gi" for memory.',
    );
  }
  const n = Number(m[1]);
  const suffix = m[3] ?? '';
  if (/^[eE]/.test(suffix)) return n * 10 ** Number(suffix.slice(1));
  const factor = BINARY[suffix] ?? DECIMAL[suffix];
  const result = n * factor;
  if (!(result > 0)) throw new ValidationError(prop, `"${value}" must be greater than zero`, 'Give a positive quantity or leave it out.');
  return result;
}

/** Kubernetes label key (optional DNS prefix + name) and value rules. */
export function checkLabels(prop: string, labels: Record<string, string>): void {
  const name = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
  const prefix = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
  for (const [key, value] of Object.entries(labels)) {
    const parts = key.split('/');
    const ok = parts.length === 1 ? name.test(key) : parts.length === 2 && prefix.test(parts[0]) && parts[0].length <= 253 && name.test(parts[1]);
    if (!ok)
      throw new ValidationError(
        `${prop}["${key}"]`,
        'is not a valid label key',
        'Use an optional DNS prefix and a name of at most 63 characters, e.g. "homelab/part-of".',
      );
    if (value !== '' && !name.test(value)) {
      throw new ValidationError(
        `${prop}["${key}"]`,
        `value "${value}" is not a valid label value`,
        'Use at most 63 letters, digits, "-", "_" or ".", starting and ending alphanumerically.',
      );
    }
  }
}
