/**
 * The exports of a CommonJS package loaded with `import()`: in the split ESM bundle they sit under `default`
 * (esbuild follows node's rules there), under ts-jest on the namespace itself.
 */
export function cjsExports<T extends object>(namespace: T): T {
  return (namespace as { default?: T }).default ?? namespace;
}
