/**
 * Expectations files: the known divergences of one implementation, as wpt's
 * metadata files are for browsers. One file per implementation,
 * conformance/programs/expectations/<implementation>.json (FORMAT.md
 * "Expectations files"); `diff` and `exec` accept a difference or a violated
 * expect set only when an entry covers it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const EXPECTATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'expectations');

export const EXPECTATION_KINDS = ['reference-bug', 'kernel-open', 'pending', 'kernel-bug'] as const;
export type ExpectationKind = (typeof EXPECTATION_KINDS)[number];

export interface ExpectationEntry {
  /** Program name (its `name`, not its file). */
  readonly program: string;
  /** 1-based step number. */
  readonly step: number;
  /** What differs: 'status', 'errno', 'ret', 'out.<path>', 'result.<path>', 'buffers.<path>',
   * or 'expect' (a violated expect set in `exec`). Absent: any field of the step. */
  readonly field?: string;
  /** The value this implementation shows (as diff/exec print it); absent: any. */
  readonly observed?: string;
  /** The value the other side (or the program) wants; absent: any. */
  readonly expected?: string;
  readonly kind: ExpectationKind;
  readonly reason: string;
  /** The roadmap draft that brings a pending feature, e.g. "3-nesting.md". */
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
  d.entries.forEach((e: unknown, i: number) => checkEntry(e, `${file}: entries[${i}]`));
  return d as ExpectationsFile;
}

function checkEntry(e: unknown, where: string): void {
  const o = e as Record<string, unknown>;
  if (typeof o !== 'object' || o === null) throw new ExpectationsError(`${where}: not an object`);
  if (typeof o['program'] !== 'string') throw new ExpectationsError(`${where}.program: needs a program name`);
  if (typeof o['step'] !== 'number' || !Number.isInteger(o['step']) || o['step'] < 1) throw new ExpectationsError(`${where}.step: needs a step number >= 1`);
  if (!(EXPECTATION_KINDS as readonly unknown[]).includes(o['kind'])) throw new ExpectationsError(`${where}.kind: one of ${EXPECTATION_KINDS.join(', ')}`);
  if (typeof o['reason'] !== 'string' || !o['reason']) throw new ExpectationsError(`${where}.reason: needs a reason`);
  for (const k of ['field', 'observed', 'expected', 'roadmap']) {
    if (o[k] !== undefined && typeof o[k] !== 'string') throw new ExpectationsError(`${where}.${k}: must be a string`);
  }
  if (o['kind'] === 'pending' && typeof o['roadmap'] !== 'string') throw new ExpectationsError(`${where}.roadmap: a pending entry names the roadmap draft`);
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
  readonly step: number;
  readonly field: string;
  /** Values on the two sides as printed (for exec: observed and the expect set). */
  readonly values: readonly string[];
}

export function findExpectation(entries: readonly ExpectationEntry[], d: Divergence): ExpectationEntry | undefined {
  return entries.find(
    (e) =>
      e.program === d.program &&
      e.step === d.step &&
      (e.field === undefined || e.field === d.field) &&
      (e.observed === undefined || d.values.includes(e.observed)) &&
      (e.expected === undefined || d.values.includes(e.expected)),
  );
}
