// `npm run lint`: ESLint's and typescript-eslint's recommended rules (no type information needed) over the code of
// the repository, with the few project choices below.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const node = { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly' };

export default tseslint.config(
  { ignores: ['node_modules/', 'build/', 'dist/', 'agent/dist/', 'imports/', 'coverage/', 'bench/.work/', '.scratch/', '.tmp/'] },
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // `_`-prefixed names are deliberately unused (destructuring a key away, a required parameter).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // stream.pipeline's sinks are async generator functions that only consume (`for await … push`): no yield.
      'require-yield': 'off',
      // Errors rethrown with a better message; the cause is in the message. Warned, not failed, while code that
      // predates the rule keeps `throw new Error(…)` in catch blocks.
      'preserve-caught-error': 'warn',
      // A default assigned before a try whose catch leaves the loop: warned while code in flux predates the rule.
      'no-useless-assignment': 'warn',
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: node },
  },
  {
    // The agent logs through pino (one JSON object per line), never the console; tests print findings through it
    // only where a line says so (eslint-disable-next-line no-console).
    files: ['lib/**/*.ts', 'agent/src/**/*.ts', 'test/**/*.ts'],
    rules: { 'no-console': 'error' },
  },
  {
    // Tests and benchmarks read parsed manifests, JSON and API answers as `any`.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
