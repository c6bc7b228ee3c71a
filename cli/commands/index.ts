/**
 * The subcommands, loaded on demand: a command line that names one imports
 * only that command's module (the others pull in the whole spec, model,
 * reference and suite, which made even `serve` start slowly). The top-level
 * help and an unknown command need every command's entry in the listing: they
 * show `term` and `summary` from this table, which cli/help.test.ts checks
 * against what each module registers.
 */
import type { RegisterCommand } from './register.ts';

export type { RegisterCommand };

export interface CommandEntry {
  readonly name: string;
  /** How the top-level help lists it (commander's subcommandTerm: name, [options], arguments). */
  readonly term: string;
  readonly summary: string;
  readonly load: () => Promise<RegisterCommand>;
}

export const COMMANDS: readonly CommandEntry[] = [
  { name: 'spec', term: 'spec [options]', summary: 'print the spec clause table with check coverage', load: async () => (await import('./spec.ts')).register },
  { name: 'serve', term: 'serve [options]', summary: 'serve an implementation over stdio (JSON lines, adapter contract v1; see spec/contract/ADAPTER.md)', load: async () => (await import('./serve.ts')).register },
  { name: 'bench', term: 'bench', summary: 'run performance benchmarks', load: async () => (await import('./bench.ts')).register },
  { name: 'conformance', term: 'conformance [options]', summary: 'run the conformance checks against the reference implementation, with progress and a summary', load: async () => (await import('./conformance.ts')).register },
  { name: 'exec', term: 'exec [options] <program...>', summary: 'run ioctl programs on an implementation, print each step and check its expect set (conformance/programs/FORMAT.md)', load: async () => (await import('./exec.ts')).register },
  { name: 'diff', term: 'diff [options] <program...>', summary: 'run ioctl programs on two implementations and compare them step by step (ids symbolically)', load: async () => (await import('./diff.ts')).register },
  {
    name: 'coverage',
    term: 'coverage [options] [program...]',
    summary: "what the program corpus reaches: --errnos prints the errno clauses reached per command, profile and implementation; --machines the lifecycle machines’ states and transitions",
    load: async () => (await import('./coverage.ts')).register,
  },
  { name: 'kernel', term: 'kernel', summary: 'the real-kernel lanes: Linux 6.12 / 7.3 with the iommufd mock driver under QEMU (conformance/kernel/README.md)', load: async () => (await import('./kernel.ts')).register },
  { name: 'run', term: 'run [options]', summary: 'run the random conformance suite against an implementation (differential, lifecycle and invariants oracles)', load: async () => (await import('./run.ts')).register },
  { name: 'replay', term: 'replay [options] <file>', summary: 'run a replay file (a counterexample program the suite saved) again under the oracles', load: async () => (await import('./replay.ts')).register },
  { name: 'merge', term: 'merge [options] <results...>', summary: 'merge the JSON results of sharded runs (run --shard I/N --reporter json) into one verdict', load: async () => (await import('./merge.ts')).register },
  { name: 'tour', term: 'tour [options]', summary: "run the lifecycle machines' transition tour (model/tour/) on an implementation: which machine edges it takes as predicted", load: async () => (await import('./tour.ts')).register },
  {
    name: 'mutants',
    term: 'mutants [options]',
    summary: 'run the suite against every mutant of the reference (conformance/mutants/) and print which are killed, by what, how fast; and whether the fixed corpus alone kills each',
    load: async () => (await import('./mutants.ts')).register,
  },
];
