/**
 * Expectations files: the known divergences of one implementation, as wpt's
 * metadata files are for browsers. One file per implementation,
 * conformance/programs/expectations/<implementation>.json (FORMAT.md
 * "Expectations files"); `diff` and `exec` accept a difference or a violated
 * expect set only when an entry covers it, and a step that does not run only
 * when an `unsupported` entry lists it (verdict.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Profile } from '../../spec/contract/types.ts';
import { isProfile } from '../../spec/uapi/profiles.ts';

export const EXPECTATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'expectations');

export const EXPECTATION_KINDS = ['reference-bug', 'kernel-open', 'pending', 'kernel-bug', 'unsupported'] as const;
export type ExpectationKind = (typeof EXPECTATION_KINDS)[number];

/**
 * One entry. Two shapes:
 *  - a divergence (every kind but `unsupported`): `step` and optionally
 *    `field`/`observed`/`expected` say which difference or violation it covers;
 *  - `unsupported`: steps this implementation does not run, with why. Without
 *    `steps` the whole program is skipped (its `requires` are not met); with
 *    `steps`, exactly those steps are skipped. A skip no entry lists fails the
 *    run, and so does a listed skip that runs (a stale entry).
 */
export interface ExpectationEntry {
  /** Program name (its `name`, not its file). */
  readonly program: string;
  /** Profiles the entry applies to; absent = every profile. */
  readonly profiles?: readonly Profile[];
  /** 1-based step number (divergences; absent for `unsupported`). */
  readonly step?: number;
  /** `unsupported` only: the 1-based steps that do not run; absent = the whole program. */
  readonly steps?: readonly number[];
  /** What differs: 'status', 'errno', 'ret', 'out.<path>', 'result.<path>', 'buffers.<path>',
   * or 'expect' (a violated expect set in `exec`). Absent: any field of the step. */
  readonly field?: string;
  /** The value this implementation shows (as diff/exec print it); absent: any. */
  readonly observed?: string;
  /** The value the other side (or the program) wants; absent: any. */
  readonly expected?: string;
  readonly kind: ExpectationKind;
  readonly reason: string;
  /** The roadmap draft that brings a pending or unsupported feature, e.g. "9-nested-viommu-pasid-7.3.md"
   * (required for `pending`, and for `unsupported` in the reference's file). */
  readonly roadmap?: string;
}

export interface ExpectationsFile {
  readonly implementation: string;
  readonly entries: readonly ExpectationEntry[];
}

export class ExpectationsError extends Error {}

export function parseExpectations(text: string, file: string): ExpectationsFile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ExpectationsError(`${file}: not JSON: ${(err as Error).message}`);
  }
  const d = data as { implementation?: unknown; entries?: unknown };
  if (typeof d !== 'object' || d === null || typeof d.implementation !== 'string' || !Array.isArray(d.entries)) {
    throw new ExpectationsError(`${file}: needs {"implementation": string, "entries": [...]}`);
  }
  const implementation = d.implementation;
  d.entries.forEach((e: unknown, i: number) => checkEntry(e, `${file}: entries[${i}]`, implementation));
  return d as ExpectationsFile;
}

const ENTRY_KEYS = new Set(['program', 'profiles', 'step', 'steps', 'field', 'observed', 'expected', 'kind', 'reason', 'roadmap']);

function isStepNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1;
}

function checkEntry(e: unknown, where: string, implementation: string): void {
  const o = e as Record<string, unknown>;
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new ExpectationsError(`${where}: not an object`);
  for (const k of Object.keys(o)) if (!ENTRY_KEYS.has(k)) throw new ExpectationsError(`${where}.${k}: not a key of an entry (${[...ENTRY_KEYS].join(', ')})`);
  if (typeof o['program'] !== 'string') throw new ExpectationsError(`${where}.program: needs a program name`);
  if (!(EXPECTATION_KINDS as readonly unknown[]).includes(o['kind'])) throw new ExpectationsError(`${where}.kind: one of ${EXPECTATION_KINDS.join(', ')}`);
  if (typeof o['reason'] !== 'string' || !o['reason']) throw new ExpectationsError(`${where}.reason: needs a reason`);
  for (const k of ['field', 'observed', 'expected', 'roadmap']) {
    if (o[k] !== undefined && typeof o[k] !== 'string') throw new ExpectationsError(`${where}.${k}: must be a string`);
  }
  const profiles = o['profiles'];
  if (profiles !== undefined && (!Array.isArray(profiles) || profiles.length === 0 || !profiles.every((p) => typeof p === 'string' && isProfile(p)))) {
    throw new ExpectationsError(`${where}.profiles: a non-empty list of profiles (6.12, 7.3)`);
  }
  if (o['kind'] === 'unsupported') {
    for (const k of ['step', 'field', 'observed', 'expected']) {
      if (o[k] !== undefined) throw new ExpectationsError(`${where}.${k}: an unsupported entry lists its steps in 'steps' (absent = the whole program)`);
    }
    const steps = o['steps'];
    if (steps !== undefined) {
      if (!Array.isArray(steps) || steps.length === 0 || !steps.every(isStepNumber)) throw new ExpectationsError(`${where}.steps: a non-empty list of step numbers >= 1`);
      if (steps.some((n, i) => i > 0 && (steps[i - 1] as number) >= n)) throw new ExpectationsError(`${where}.steps: in increasing order, each once`);
    }
    if (implementation === 'ref' && typeof o['roadmap'] !== 'string') {
      throw new ExpectationsError(`${where}.roadmap: an unsupported entry of the reference names the roadmap draft that brings it`);
    }
    return;
  }
  if (o['steps'] !== undefined) throw new ExpectationsError(`${where}.steps: only an unsupported entry lists steps`);
  if (!isStepNumber(o['step'])) throw new ExpectationsError(`${where}.step: needs a step number >= 1`);
  if (o['kind'] === 'pending' && typeof o['roadmap'] !== 'string') throw new ExpectationsError(`${where}.roadmap: a pending entry names the roadmap draft`);
}

/** Whether an entry applies to runs on `profile`. */
export function appliesTo(e: ExpectationEntry, profile: Profile | undefined): boolean {
  return profile === undefined || e.profiles === undefined || e.profiles.includes(profile);
}

export function loadExpectationsFile(file: string): ExpectationsFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ExpectationsError(`${file}: cannot read: ${(err as Error).message}`);
  }
  return parseExpectations(text, file);
}

/** The default file of an implementation name (ref, linux-6.12, …), if it exists. */
export function defaultExpectationsFile(implementation: string): string | undefined {
  if (!/^[A-Za-z0-9._-]+$/.test(implementation)) return undefined;
  const file = join(EXPECTATIONS_DIR, `${implementation}.json`);
  return existsSync(file) ? file : undefined;
}

/** A difference or violation to look up. */
export interface Divergence {
  readonly program: string;
  /** The profile of the run (entries naming other profiles do not apply). */
  readonly profile?: Profile;
  readonly step: number;
  readonly field: string;
  /** Values on the two sides as printed (for exec: observed and the expect set). */
  readonly values: readonly string[];
}

export function findExpectation(entries: readonly ExpectationEntry[], d: Divergence): ExpectationEntry | undefined {
  return entries.find(
    (e) =>
      e.kind !== 'unsupported' &&
      appliesTo(e, d.profile) &&
      e.program === d.program &&
      e.step === d.step &&
      (e.field === undefined || e.field === d.field) &&
      (e.observed === undefined || d.values.includes(e.observed)) &&
      (e.expected === undefined || d.values.includes(e.expected)),
  );
}
