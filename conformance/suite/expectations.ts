/**
 * Expectations of the random suite: the known divergences of one
 * implementation, so CI gates on regressions (wpt's metadata files). An entry
 * is keyed by the property (or the clause) that objects and a divergence
 * signature — the command (with its test op), the expected set, the observed
 * result — each part optional (absent = any), and says why.
 *
 *   { "format": "iommufd-suite-expectations/1", "implementation": "linux-6.12",
 *     "entries": [ { "property": "differential", "command": "IOMMU_IOAS_MAP",
 *                    "expected": "EINVAL", "observed": "EOVERFLOW",
 *                    "kind": "kernel-open", "reason": "…" } ] }
 *
 * `property` matches the objection's property exactly, or a prefix ending in
 * a dot-less family (`invariants` matches every `invariants.*`). `profile`
 * (optional) limits an entry to runs of one kernel profile: the reference
 * serves both, and a bug it reproduces from one kernel is that profile's.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Objection } from './oracles/oracle.ts';
import { isProfile, type Profile } from '../../spec/uapi/profiles.ts';

export const SUITE_EXPECTATIONS_FORMAT = 'iommufd-suite-expectations/1' as const;
export const SUITE_EXPECTATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'expectations');

export const SUITE_EXPECTATION_KINDS = ['reference-bug', 'kernel-open', 'pending', 'kernel-bug', 'untriaged'] as const;

export interface SuiteExpectation {
  readonly property: string;
  /** Only in runs of this profile; absent: every profile. */
  readonly profile?: Profile;
  readonly clause?: string;
  readonly command?: string;
  readonly expected?: string;
  readonly observed?: string;
  readonly kind: (typeof SUITE_EXPECTATION_KINDS)[number];
  readonly reason: string;
}

export interface SuiteExpectationsFile {
  readonly format: typeof SUITE_EXPECTATIONS_FORMAT;
  readonly implementation: string;
  readonly entries: readonly SuiteExpectation[];
}

export class SuiteExpectationsError extends Error {}

export function parseSuiteExpectations(text: string, file: string): SuiteExpectationsFile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new SuiteExpectationsError(`${file}: not JSON: ${(err as Error).message}`);
  }
  const d = data as Record<string, unknown>;
  if (typeof d !== 'object' || d === null || d['format'] !== SUITE_EXPECTATIONS_FORMAT) throw new SuiteExpectationsError(`${file}: format must be "${SUITE_EXPECTATIONS_FORMAT}"`);
  if (typeof d['implementation'] !== 'string') throw new SuiteExpectationsError(`${file}: implementation must be a string`);
  if (!Array.isArray(d['entries'])) throw new SuiteExpectationsError(`${file}: entries must be an array`);
  (d['entries'] as unknown[]).forEach((e, i) => {
    const o = e as Record<string, unknown>;
    const where = `${file}: entries[${i}]`;
    if (typeof o !== 'object' || o === null) throw new SuiteExpectationsError(`${where}: not an object`);
    if (typeof o['property'] !== 'string' || !o['property']) throw new SuiteExpectationsError(`${where}.property: needs the property (or clause) that objects`);
    if (!(SUITE_EXPECTATION_KINDS as readonly unknown[]).includes(o['kind'])) throw new SuiteExpectationsError(`${where}.kind: one of ${SUITE_EXPECTATION_KINDS.join(', ')}`);
    if (typeof o['reason'] !== 'string' || !o['reason']) throw new SuiteExpectationsError(`${where}.reason: needs a reason`);
    if (o['profile'] !== undefined && (typeof o['profile'] !== 'string' || !isProfile(o['profile']))) throw new SuiteExpectationsError(`${where}.profile: a kernel profile (6.12 or 7.3), got ${JSON.stringify(o['profile'])}`);
    for (const k of ['clause', 'command', 'expected', 'observed']) {
      if (o[k] !== undefined && typeof o[k] !== 'string') throw new SuiteExpectationsError(`${where}.${k}: must be a string`);
    }
  });
  return d as unknown as SuiteExpectationsFile;
}

export function loadSuiteExpectations(file: string): SuiteExpectationsFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SuiteExpectationsError(`${file}: cannot read: ${(err as Error).message}`);
  }
  return parseSuiteExpectations(text, file);
}

export function defaultSuiteExpectations(implementation: string): string | undefined {
  if (!/^[A-Za-z0-9._-]+$/.test(implementation)) return undefined;
  const file = join(SUITE_EXPECTATIONS_DIR, `${implementation}.json`);
  return existsSync(file) ? file : undefined;
}

function propertyMatches(entry: string, property: string, clause: string | undefined): boolean {
  return entry === property || entry === clause || property.startsWith(`${entry}.`);
}

export function matchExpectation(entries: readonly SuiteExpectation[], o: Objection, profile?: Profile): SuiteExpectation | undefined {
  return entries.find(
    (e) =>
      propertyMatches(e.property, o.property, o.clause) &&
      (e.profile === undefined || e.profile === profile) &&
      (e.command === undefined || e.command === o.signature.command) &&
      (e.expected === undefined || e.expected === o.signature.expected) &&
      (e.observed === undefined || e.observed === o.signature.observed),
  );
}

/** Entries for objections (one per distinct signature), for --update-expectations. */
export function entriesFor(objections: readonly Objection[], reason: string): SuiteExpectation[] {
  const seen = new Set<string>();
  const out: SuiteExpectation[] = [];
  for (const o of objections) {
    const key = JSON.stringify([o.property, o.signature]);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ property: o.property, ...(o.clause && { clause: o.clause }), command: o.signature.command, expected: o.signature.expected, observed: o.signature.observed, kind: 'untriaged', reason });
  }
  return out;
}

/** Merges new entries into a file (keeping existing ones and their reasons). */
export function writeSuiteExpectations(file: string, implementation: string, add: readonly SuiteExpectation[]): SuiteExpectationsFile {
  const old = existsSync(file) ? loadSuiteExpectations(file) : { format: SUITE_EXPECTATIONS_FORMAT, implementation, entries: [] };
  const keys = new Set(old.entries.map((e) => JSON.stringify([e.property, e.command, e.expected, e.observed])));
  const entries = [...old.entries, ...add.filter((e) => !keys.has(JSON.stringify([e.property, e.command, e.expected, e.observed])))];
  const next: SuiteExpectationsFile = { format: SUITE_EXPECTATIONS_FORMAT, implementation: old.implementation || implementation, entries };
  writeFileSync(file, `${JSON.stringify(next, null, 2)}\n`);
  return next;
}
