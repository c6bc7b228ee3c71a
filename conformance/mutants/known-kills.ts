/**
 * Known kills: the first failing case of each fault in an earlier run of the
 * same budget (its block and its index in the block), replayed before the
 * run from case 0, as Hypothesis replays its example database before it
 * generates. A fault the case still kills is judged on that case alone
 * (fast-check's path regenerates it exactly; the cases before it are not
 * run). One it no longer kills (the generator or the fault changed) runs the
 * whole budget from case 0, as without the file, so a stale entry costs
 * time, never a verdict. `mutants --update-known-kills` writes the file from
 * a run's rows.
 *
 * The registry checks run several hundred faults, most of them killed within
 * a few cases but some only after hundreds (or after a fail-nth sweep of
 * every passing case before): replayed, each costs one case.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Profile } from '../../spec/contract/types.ts';
import { isProfile } from '../../spec/uapi/profiles.ts';
import type { CasePosition, OracleSet } from '../suite/runner.ts';

/** What a recorded case is a case of: the run's seed and budget. */
export interface KillRun {
  readonly seed: number;
  readonly runs: number;
  readonly maxCommands: number;
  readonly blockSize: number;
  readonly oracle: OracleSet;
}

export interface KnownKill extends CasePosition {
  /** The profile the fault ran at (a case is generated for its profile). */
  readonly profile: Profile;
}

export interface KnownKills {
  readonly run: KillRun;
  readonly kills: Readonly<Record<string, KnownKill>>;
}

const FORMAT = 'iommufd-spec known kills 1';

/**
 * The known kills the registry checks replay (catalogue-killed, answer-faults
 * and unseen-killed.test.ts): one file per kind of fault and oracle set, at
 * run's default budget.
 */
export function knownKillsFile(kind: 'catalogue' | 'answer-faults' | 'unseen', oracle: OracleSet): string {
  return fileURLToPath(new URL(`./known-kills/${kind}-${oracle}.json`, import.meta.url));
}

export class KnownKillsError extends Error {}

function field(o: Record<string, unknown>, key: string, where: string, ok: (v: unknown) => boolean, want: string): unknown {
  const v = o[key];
  if (!ok(v)) throw new KnownKillsError(`${where}.${key}: expected ${want}, got ${JSON.stringify(v)}`);
  return v;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;

/** Reads a known-kills file; a malformed one is an error naming the field (never read as empty). */
export function loadKnownKills(file: string): KnownKills {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new KnownKillsError(`${file}: ${(err as Error).message}`);
  }
  if (!isObject(doc)) throw new KnownKillsError(`${file}: expected an object`);
  field(doc, 'format', file, (v) => v === FORMAT, JSON.stringify(FORMAT));
  const run = field(doc, 'run', file, isObject, 'an object') as Record<string, unknown>;
  const where = `${file}: run`;
  const parsedRun: KillRun = {
    seed: field(run, 'seed', where, Number.isSafeInteger, 'an integer') as number,
    runs: field(run, 'runs', where, (v) => isCount(v) && (v as number) > 0, 'a positive integer') as number,
    maxCommands: field(run, 'maxCommands', where, (v) => isCount(v) && (v as number) > 0, 'a positive integer') as number,
    blockSize: field(run, 'blockSize', where, (v) => isCount(v) && (v as number) > 0, 'a positive integer') as number,
    oracle: field(run, 'oracle', where, (v) => v === 'full' || v === 'invariants', 'full or invariants') as OracleSet,
  };
  const kills = field(doc, 'kills', file, isObject, 'an object') as Record<string, unknown>;
  const parsed: Record<string, KnownKill> = {};
  for (const [name, k] of Object.entries(kills)) {
    const w = `${file}: kills.${name}`;
    if (!isObject(k)) throw new KnownKillsError(`${w}: expected an object`);
    parsed[name] = {
      profile: field(k, 'profile', w, (v) => typeof v === 'string' && isProfile(v), 'a profile') as Profile,
      block: field(k, 'block', w, (v) => isCount(v) && (v as number) * parsedRun.blockSize < parsedRun.runs, `a block of the run (0 to ${Math.ceil(parsedRun.runs / parsedRun.blockSize) - 1})`) as number,
      index: field(k, 'index', w, (v) => isCount(v) && (v as number) < parsedRun.blockSize, `an index in a block (0 to ${parsedRun.blockSize - 1})`) as number,
    };
  }
  return { run: parsedRun, kills: parsed };
}

const sameRun = (a: KillRun, b: KillRun): boolean => a.seed === b.seed && a.runs === b.runs && a.maxCommands === b.maxCommands && a.blockSize === b.blockSize && a.oracle === b.oracle;

/**
 * The case to replay first for a fault in this run: none when the file
 * records another run. (The profile is the caller's to compare: it is known
 * once the implementation is open.)
 */
export function knownKillOf(known: KnownKills | undefined, name: string, run: KillRun): KnownKill | undefined {
  const k = known?.kills[name];
  return k && known && sameRun(known.run, run) ? k : undefined;
}

/**
 * The file after a run: each fault this run killed at a known case, kept or
 * replaced; each it ran and did not kill, dropped; the faults it did not run
 * (an --only run), kept when the file is of the same run.
 */
export function updatedKnownKills(before: KnownKills | undefined, run: KillRun, ran: ReadonlyMap<string, KnownKill | undefined>): KnownKills {
  const kills: Record<string, KnownKill> = before && sameRun(before.run, run) ? { ...before.kills } : {};
  for (const [name, k] of ran) {
    if (k) kills[name] = k;
    else delete kills[name];
  }
  const sorted = Object.fromEntries(Object.entries(kills).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return { run, kills: sorted };
}

/** One line per fault, so that a change to the file reads as the faults whose case moved. */
export function saveKnownKills(file: string, known: KnownKills): void {
  const kills = Object.entries(known.kills).map(([name, k]) => `  ${JSON.stringify(name)}: ${JSON.stringify({ profile: k.profile, block: k.block, index: k.index })}`);
  writeFileSync(file, `{\n "format": ${JSON.stringify(FORMAT)},\n "run": ${JSON.stringify(known.run)},\n "kills": {\n${kills.join(',\n')}\n }\n}\n`);
}
