/**
 * Registers every mutant of the catalogue with the adapter registry
 * (conformance/adapter/open.ts) as `mutant:<name>`, so `run`, `replay`,
 * `exec` and `diff` take `--impl mutant:<name>` like any implementation;
 * likewise `answer-fault:<name>` and `lie:<name>` (lies.ts: the first
 * answer of its kind in each session lied).
 * Imported for its side effect (cli/commands/mutants.ts does, so every CLI
 * command sees the names).
 */
import { DEFAULT_PROFILE, registerImplementation, type OpenedAdapter } from '../adapter/open.ts';
import { inProcessAdapter } from '../adapter/in-process.ts';
import type { Profile } from '../../spec/contract/types.ts';
import { MUTANTS, type Mutant } from './catalogue.ts';
import { mutantImplementation } from './harness.ts';
import { ANSWER_FAULTS, answerFaultImplementation, type AnswerFault } from './answer-faults.ts';
import { LIES, lyingImplementation } from './lies.ts';

export const MUTANT_PREFIX = 'mutant:';
/** Faults behind the protocol (answer-faults.ts): `--impl answer-fault:<name>`. */
export const ANSWER_FAULT_PREFIX = 'answer-fault:';
/** Single lies (lies.ts): `--impl lie:<name>`. */
export const LIE_PREFIX = 'lie:';

/** An opened adapter for one mutant (a fresh reference instance with the mutant's fault). */
export function openMutant(m: Mutant, profile: Profile | undefined, validate = false): OpenedAdapter {
  return inProcessAdapter(mutantImplementation(m.name, profile ?? DEFAULT_PROFILE, m.hooks), { validate });
}

/** An opened adapter for one answer fault (a fresh reference instance behind it). */
export function openAnswerFault(f: AnswerFault, profile: Profile | undefined, validate = false): OpenedAdapter {
  return inProcessAdapter(answerFaultImplementation(f, profile ?? DEFAULT_PROFILE), { validate });
}

for (const f of ANSWER_FAULTS) {
  registerImplementation(`${ANSWER_FAULT_PREFIX}${f.name}`, async (opts) => openAnswerFault(f, opts.profile, opts.validateInProcess ?? false), `the reference behind a lying adapter (breaks ${f.breaks}): ${f.change}`);
}

for (const l of LIES) {
  registerImplementation(`${LIE_PREFIX}${l.name}`, async (opts) => inProcessAdapter(lyingImplementation(l, opts.profile ?? DEFAULT_PROFILE), { validate: opts.validateInProcess ?? false }), `the reference with one lie per session (the first ${l.answer} answer it changes): ${l.change}`);
}

for (const m of MUTANTS) {
  registerImplementation(`${MUTANT_PREFIX}${m.name}`, async (opts) => openMutant(m, opts.profile, opts.validateInProcess ?? false), `mutant of the reference (${m.class}): ${m.change}`);
}
