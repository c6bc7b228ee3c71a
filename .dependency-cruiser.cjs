/**
 * The import rules of iommufd-spec, checked by dependency-cruiser in
 * `npm run lint` (the production pass, with the folder-level rule, is
 * .dependency-cruiser.production.cjs, which extends this file).
 *
 * Imports run one way:   cli → conformance → {model, impl} → spec
 * and inside impl/, from the top down:
 *   adapter → kvm → iommufd → platform → process → {iommu, pagetable} → lib
 * (impl/testing is test support: test files may import it, production code
 * may not). Type-only imports count (tsPreCompilationDeps), so a type cannot
 * smuggle an upward edge or a circle in.
 *
 * Each rule's `comment` says what it protects and how to fix a violation;
 * `npm run lint` prints it (output type err-long).
 */

/** Test files and test support: leaves of the graph, allowed to reach across layers. */
const TEST = '(\\.test\\.ts$|\\.test-support\\.ts$|^impl/testing/|/testdata/)';

/** impl/ folders from the bottom up; a production module may import only its own folder and folders below it. */
const IMPL_LAYERS = [
  ['lib'],
  // The IO page-table core and the IOMMU hardware model: one layer here; the
  // folder-cycle rule (production pass) keeps them from importing each other
  // both ways.
  ['pagetable', 'iommu'],
  ['process'],
  ['platform'],
  ['iommufd'],
  ['kvm'],
  ['adapter'],
];

const layerRules = IMPL_LAYERS.map((folders, i) => {
  const above = IMPL_LAYERS.slice(i + 1).flat();
  return {
    name: `impl-${folders.join('-')}-imports-down-only`,
    severity: 'error',
    comment:
      `impl/${folders.join(' and impl/')} may import only ${i === 0 ? 'its own folder' : `impl/${IMPL_LAYERS.slice(0, i).flat().join(', impl/')} and its own folder`} ` +
      '(impl layers, top down: adapter → kvm → iommufd → platform → process → {iommu, pagetable} → lib). ' +
      'Move what both sides need down a layer (a declaration into iommufd_private.ts, a helper into impl/lib) instead of importing up.',
    from: { path: `^impl/(${folders.join('|')})/`, pathNot: TEST },
    to: { path: `^impl/(${[...above, 'testing'].join('|')})/` },
  };
});

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'Files import each other in a circle. Break it the way the kernel does with headers: move the shared declarations ' +
        '(types, struct interfaces, small helpers) into a module both import (e.g. impl/iommufd/iommufd_private.ts), ' +
        'or move the function both need down into the lower file.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'spec-is-the-bottom',
      severity: 'error',
      comment: 'spec/ (clauses, uAPI data, codec, adapter contract) is what everything else is checked against: it imports nothing of model/, impl/, conformance/, cli/.',
      from: { path: '^spec/' },
      to: { path: '^(model|impl|conformance|cli|scripts|bin)/' },
    },
    {
      name: 'model-is-not-the-reference',
      severity: 'error',
      comment: 'model/ (the lifecycle machines) is a second opinion on the spec, not a copy of the reference: it imports spec/ only, never impl/ or the suite.',
      from: { path: '^model/' },
      to: { path: '^(impl|conformance|cli|scripts|bin)/' },
    },
    {
      name: 'impl-below-the-suite',
      severity: 'error',
      comment:
        'impl/ (the reference) sits below the suite that judges it: it may import spec/ (the contract it implements) but not model/, conformance/ or cli/. ' +
        'A test that drives the reference through a conformance transport belongs in conformance/.',
      from: { path: '^impl/' },
      to: { path: '^(model|conformance|cli|scripts|bin)/' },
    },
    {
      name: 'conformance-below-cli',
      severity: 'error',
      comment: 'conformance/ is a library the CLI uses: it never imports cli/ (a test of a CLI command lives in cli/).',
      from: { path: '^conformance/' },
      to: { path: '^(cli|scripts|bin)/' },
    },
    {
      name: 'nothing-imports-scripts-or-bin',
      severity: 'error',
      comment: 'scripts/ and bin/ are entry points; code they share with the rest belongs in spec/, impl/, conformance/ or cli/.',
      from: { pathNot: '^(scripts|bin)/' },
      to: { path: '^(scripts|bin)/' },
    },
    {
      name: 'production-does-not-import-test-support',
      severity: 'error',
      comment:
        'Test support (impl/testing/, *.test-support.ts, testdata/) is for test files only; production code must not depend on it. ' +
        'If production needs the helper, it is not test support: move it into the module it belongs to.',
      from: { pathNot: TEST },
      to: { path: TEST },
    },
    {
      name: 'nothing-imports-a-test',
      severity: 'error',
      comment: 'A *.test.ts file is a leaf: share its helpers through test support (impl/testing/ or a *.test-support.ts file) instead.',
      from: {},
      to: { path: '\\.test\\.ts$' },
    },
    ...layerRules,
    {
      name: 'no-orphans',
      severity: 'error',
      comment: 'A module nothing imports and that imports nothing is dead code (or a missing import): delete it or wire it in.',
      from: { orphan: true, pathNot: ['(^|/)\\.[^/]+\\.(c|m)?js$', '\\.d\\.ts$', '(^|/)(vitest|eslint)\\.config\\.(ts|js)$', TEST] },
      to: {},
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'This import does not resolve to a file or an installed package.',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'no-undeclared-packages',
      severity: 'error',
      comment: 'A package imported but not listed in package.json: add it with `npm install` (or `npm install -D` for tooling).',
      from: {},
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|\\.cache|coverage)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
