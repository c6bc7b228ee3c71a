/**
 * Generates conformance/programs/corpus/ from the selftest ports in this
 * directory:  npx tsx conformance/programs/gen/corpus.ts
 * The JSON is committed; corpus.test.ts fails when it is stale.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Program } from '../types.ts';
import { programsOf, type TestDef } from './dsl.ts';
import { CHANGE_PROCESS_TESTS, IOMMUFD_TESTS } from './fixture-iommufd.ts';
import { IOAS_TESTS } from './fixture-ioas.ts';
import { MOCK_DOMAIN_TESTS } from './fixture-mock-domain.ts';
import { VFIO_COMPAT_TESTS } from './fixture-vfio-compat.ts';
import { DIRTY_TESTS } from './fixture-dirty.ts';
import { PASID_TESTS, VIOMMU_TESTS } from './fixture-viommu.ts';
import { CDEV_TESTS, ERRNO_TESTS } from './errnos.ts';
import { OBSERVE_TESTS } from './observe.ts';
import { ORDER_TESTS } from './check-order.ts';

export const CORPUS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'corpus');

export const ALL_TESTS: readonly TestDef[] = [...IOMMUFD_TESTS, ...CHANGE_PROCESS_TESTS, ...IOAS_TESTS, ...MOCK_DOMAIN_TESTS, ...VFIO_COMPAT_TESTS, ...DIRTY_TESTS, ...VIOMMU_TESTS, ...PASID_TESTS, ...ERRNO_TESTS, ...CDEV_TESTS, ...OBSERVE_TESTS, ...ORDER_TESTS];

/** Relative path of a program in the corpus: <fixture>/<rest of the name>.json. */
export function corpusPath(program: Program): string {
  const [fixture, ...rest] = program.name.split('.');
  return join(fixture as string, `${rest.join('.')}.json`);
}

export function renderProgram(program: Program): string {
  return JSON.stringify({ $schema: '../../schema/program.schema.json', ...program }, null, 1) + '\n';
}

/** Every generated file: relative path → content. */
export function generateCorpus(): Map<string, string> {
  const files = new Map<string, string>();
  for (const t of ALL_TESTS) {
    for (const program of programsOf(t)) {
      const path = corpusPath(program);
      if (files.has(path)) throw new Error(`two programs map to ${path}`);
      files.set(path, renderProgram(program));
    }
  }
  return files;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const files = generateCorpus();
  // Replace the generated fixture directories wholesale; hand-written programs live under corpus/extra/.
  for (const d of readdirSync(CORPUS_DIR, { withFileTypes: true })) {
    if (d.isDirectory() && d.name !== 'extra') rmSync(join(CORPUS_DIR, d.name), { recursive: true });
  }
  for (const [rel, text] of files) {
    mkdirSync(dirname(join(CORPUS_DIR, rel)), { recursive: true });
    writeFileSync(join(CORPUS_DIR, rel), text);
  }
  process.stderr.write(`corpus: ${files.size} programs\n`);
}
