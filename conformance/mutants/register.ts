/**
 * Registers every mutant of the catalogue with the adapter registry
 * (conformance/adapter/open.ts) as `mutant:<name>`, so `run`, `replay`,
 * `exec` and `diff` take `--impl mutant:<name>` like any implementation.
 * Imported for its side effect (cli/commands/mutants.ts does, so every CLI
 * command sees the names).
 */
import { DEFAULT_PROFILE, registerImplementation, type OpenedAdapter } from '../adapter/open.ts';
import { inProcessAdapter } from '../adapter/in-process.ts';
import type { Profile } from '../../spec/contract/types.ts';
import { MUTANTS, type Mutant } from './catalogue.ts';
import { mutantImplementation } from './harness.ts';

export const MUTANT_PREFIX = 'mutant:';

/** An opened adapter for one mutant (a fresh reference instance with the mutant's fault). */
export function openMutant(m: Mutant, profile: Profile | undefined, validate = false): OpenedAdapter {
  return inProcessAdapter(mutantImplementation(m.name, profile ?? DEFAULT_PROFILE, m.hooks), { validate });
}

for (const m of MUTANTS) {
  registerImplementation(`${MUTANT_PREFIX}${m.name}`, async (opts) => openMutant(m, opts.profile, opts.validateInProcess ?? false), `mutant of the reference (${m.class}): ${m.change}`);
}
