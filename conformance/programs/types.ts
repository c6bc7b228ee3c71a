/**
 * The ioctl program format (conformance/programs/FORMAT.md): a JSON file with
 * metadata and numbered steps, each step one adapter request (contract v1,
 * conformance/adapter/types.ts) written with symbolic handles.
 */
import type { Profile } from '../../spec/contract/types.ts';

export const PROGRAM_FORMAT = 'iommufd-program/1' as const;

/** Any JSON value as it appears in a program file. */
export type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json };
export type JsonObject = { readonly [key: string]: Json };

export interface ProgramSource {
  /** Where the scenario comes from, e.g. "tools/testing/selftests/iommu/iommufd.c". */
  readonly file?: string;
  readonly fixture?: string;
  readonly variant?: string;
  readonly test?: string;
  /** Kernel profiles whose selftest holds this scenario. */
  readonly kernels?: readonly Profile[];
}

/** What an implementation must offer for the program to run at all; an
 * implementation lacking any of these skips the whole program (with the reason). */
export interface ProgramRequires {
  readonly commands?: readonly string[];
  readonly testOps?: readonly string[];
  readonly ops?: readonly string[];
  readonly deviceFeatures?: readonly string[];
  /** uAPI values of served commands (capabilities.features, spec/contract/features.ts),
   * e.g. IOMMU_HWPT_DATA_SELFTEST for a program that allocates nested HWPTs. */
  readonly features?: readonly string[];
}

/** Allowed result of a step. Every key given must hold; `oneOf` holds when
 * one of its alternatives does. */
export interface StepExpect {
  /** true: the step succeeded (ioctl ret >= 0; other ops answered without error). */
  readonly ok?: boolean;
  /** Allowed errno names (the step must fail with one of them). */
  readonly errno?: readonly string[];
  /** Allowed return values (ioctl/read/write/close). */
  readonly ret?: Json;
  /** Allowed values of output struct fields, by dotted field path (ioctl). */
  readonly out?: { readonly [path: string]: Json };
  /** Allowed values of result fields, by dotted path (other ops, e.g. translate's `mapped`). */
  readonly result?: { readonly [path: string]: Json };
  /** Expected contents of pointer buffers after the call, by field path (bytes spec). */
  readonly buffers?: { readonly [path: string]: Json };
  readonly oneOf?: readonly StepExpect[];
  /** The same status and errno as an earlier step (a stable choice, e.g. the
   * selftests' TEST_LENGTH: a zero tail gives what the plain struct gave). */
  readonly sameAs?: number;
}

/** A step: request fields of one op (values may be symbolic), plus these keys. */
export interface Step {
  readonly op: string;
  /** name → dotted path into the step's result ("out.out_ioas_id", "fd", "."). */
  readonly bind?: { readonly [name: string]: string };
  readonly expect?: StepExpect;
  readonly note?: string;
  readonly [field: string]: unknown;
}

export interface Program {
  readonly format: typeof PROGRAM_FORMAT;
  readonly name: string;
  readonly description: string;
  readonly source?: ProgramSource;
  /** Profiles the program applies to. */
  readonly profiles: readonly Profile[];
  readonly requires?: ProgramRequires;
  readonly steps: readonly Step[];
  /** Set by the conformance suite on a replay file (seed, path, oracle, …); runners ignore it. */
  readonly replay?: { readonly [key: string]: Json };
}

/** A program as loaded: where it came from. */
export interface LoadedProgram {
  readonly program: Program;
  readonly file: string;
}
