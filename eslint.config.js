// Lint: typescript-eslint's recommended rules, plus the layering rules that keep
// the spec's parts honest (model/ must not read impl/; impl/ must not reach up).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'coverage/**', '**/*.generated.*', '.cache/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { console: 'readonly', process: 'readonly', Buffer: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    // The lifecycle machines are a second opinion, not a copy of the reference.
    files: ['model/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/impl/**', '../impl/*'], message: 'model/ must not import impl/' }] }],
    },
  },
  {
    // The reference implementation sits below the suite and the CLI. It may name
    // the adapter contract's types (it implements them), nothing else from above;
    // its tests may drive it through the transports.
    files: ['impl/**/*.ts'],
    ignores: ['impl/**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/conformance/**'], allowTypeImports: true, message: 'impl/ may import only types from conformance/' },
            { group: ['**/cli/**', '**/model/**'], message: 'impl/ must not import the CLI or the model' },
          ],
        },
      ],
    },
  },
);
