import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Node's globals, for the few plain-JavaScript files (bin/, scripts/). */
const nodeGlobals = { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly' };

// The layer arrows of ../shared/ARCHITECTURE.md: a layer folder under src/ imports its own folder and
// the layers of a lower rank, never one above it nor a sibling of its own rank.
const LAYER_RANKS = {
  oci: 0, config: 0, files: 0,
  store: 1, client: 1,
  access: 2, transports: 2,
  registry: 3, copy: 3,
  jobs: 4,
  server: 5,
  cli: 6,
};
// Same-rank arrows the map does allow. oci/ is the lowest layer (pure, and home of the one base
// error class), so config/ may use it; oci/ itself imports nothing outside oci/.
const SIBLING_ARROWS = { config: ['oci'] };

/** The layers `layer` must not import. */
function forbiddenFor(layer) {
  const rank = LAYER_RANKS[layer];
  return Object.keys(LAYER_RANKS).filter(
    (other) => other !== layer && (LAYER_RANKS[other] > rank || (LAYER_RANKS[other] === rank && !(SIBLING_ARROWS[layer] ?? []).includes(other))),
  );
}

/**
 * One block per layer and file depth: relative imports are matched exactly as they climb back to
 * src/ (`../` from src/store/x.ts, `../../` from src/store/meta/x.ts), so a sub-folder that happens
 * to share a layer's name is never mistaken for it. Static imports, `export … from`, `import type`
 * (no-restricted-imports) and dynamic `import()` (no-restricted-syntax) are all checked.
 */
function layerArrowRules() {
  const blocks = [];
  for (const layer of Object.keys(LAYER_RANKS)) {
    const forbidden = forbiddenFor(layer);
    if (forbidden.length === 0) continue;
    for (let depth = 1; depth <= 4; depth++) {
      const files = [`src/${layer}/${'*/'.repeat(depth - 1)}*.ts`];
      const up = '\\.\\./'.repeat(depth);
      const target = `(${forbidden.join('|')})`;
      const message = `${layer}/ must not import ${forbidden.join(', ')}: the layer arrows of ARCHITECTURE.md point down only.`;
      blocks.push({
        files,
        rules: {
          'no-restricted-imports': ['error', { patterns: [{ regex: `^${up}${target}(/|$)`, message }] }],
          'no-restricted-syntax': [
            'error',
            // esquery regexes cannot hold a '/', hence \\x2F.
            { selector: `ImportExpression[source.value=/^${up.replaceAll('/', '\\x2F')}${target}(\\x2F|$)/]`, message },
          ],
        },
      });
    }
  }
  return blocks;
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  ...layerArrowRules(),
  {
    files: ['scripts/**/*.mjs'],
    languageOptions: { sourceType: 'module', globals: nodeGlobals },
  },
  {
    // bin/wharf.cjs must stay CommonJS: it runs the CommonJS bundle through node:vm with V8's code cache.
    files: ['bin/**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { ...nodeGlobals, require: 'readonly', module: 'readonly', __dirname: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
