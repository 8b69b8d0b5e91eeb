export function median(values: number[]): number {
  const v = values.filter(x => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

export function max(values: number[]): number {
  const v = values.filter(x => Number.isFinite(x));
  return v.length ? Math.max(...v) : NaN;
}

export function mean(values: number[]): number {
  const v = values.filter(x => Number.isFinite(x));
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
}

export function sum(values: number[]): number {
  return values.filter(x => Number.isFinite(x)).reduce((a, b) => a + b, 0);
}

/** The list rotated left by n (spreads each variant over the positions of a round). */
export function rotate<T>(list: T[], n: number): T[] {
  const k = ((n % list.length) + list.length) % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}
