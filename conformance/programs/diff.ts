/**
 * Comparing two runs of one program step by step: status, errno, return value
 * and every output field. Ids (object ids, fds, buffer/device/VM handles, user
 * VAs) are compared symbolically: the runs agree if their values map one to one
 * across the whole run. A difference is accepted only where the program's
 * expect set leaves the value open and both results fall in it, or an
 * expectations entry covers it.
 */
import { errnoName } from './errno.ts';
import { openPaths, render } from './expect.ts';
import { findExpectation, type ExpectationEntry } from './expectations.ts';
import type { ProgramRun, StepOutcome } from './run.ts';

export type Namespace = 'id' | 'fd' | 'buffer' | 'device' | 'group' | 'vm' | 'va';

/** Fields named like ids that carry chosen values, not allocated ids. */
const NOT_IDS = new Set(['virt_id', 'vdev_id', 'option_id', 'cache_id', 'iotlb_id', 'data_type', 'pasid']);

/** Which symbolic namespace a leaf belongs to (by its last path segment), if any. */
export function namespaceOf(op: string, path: string): Namespace | undefined {
  const parts = path.split('.');
  const last = parts[parts.length - 1] as string;
  const leaf = /^\d+$/.test(last) && parts.length > 1 ? (parts[parts.length - 2] as string) : last;
  if (leaf === 'fd' || leaf === 'iommufd' || leaf.endsWith('_fd') || leaf === 'registeredFds') return 'fd';
  if (leaf === 'buffer') return 'buffer';
  if (leaf === 'device' && op !== 'ioctl') return 'device';
  if (leaf === 'group' && op !== 'ioctl') return 'group';
  if (leaf === 'vm') return 'vm';
  if (leaf === 'va' && op === 'mem_alloc') return 'va';
  if (NOT_IDS.has(leaf)) return undefined;
  if (leaf === 'id' || leaf.endsWith('_id')) return 'id';
  return undefined;
}

/** One-to-one maps between the two runs' handles, per namespace. */
export class IdMap {
  private readonly fwd = new Map<string, string>();
  private readonly back = new Map<string, string>();

  /** Records a ↔ b; false when either side is already paired with something else. */
  pair(ns: Namespace, a: unknown, b: unknown): boolean {
    const ka = `${ns}:${String(a)}`;
    const kb = `${ns}:${String(b)}`;
    const fa = this.fwd.get(ka);
    const fb = this.back.get(kb);
    if (fa === undefined && fb === undefined) {
      this.fwd.set(ka, kb);
      this.back.set(kb, ka);
      return true;
    }
    return fa === kb && fb === ka;
  }
}

export type Verdict = 'accepted' | 'known' | 'different';

export interface Difference {
  readonly step: number;
  /** 'status', 'errno', 'ret', 'out.<path>', 'result.<path>', 'buffers.<path>'. */
  readonly field: string;
  readonly a: string;
  readonly b: string;
  readonly verdict: Verdict;
  /** Why accepted: the allowed set, or the expectation entry's kind and reason. */
  readonly why?: string;
  readonly entry?: ExpectationEntry;
}

export interface StepComparison {
  readonly step: number;
  readonly op: string;
  readonly command?: string;
  /** Set when the step was not compared (skipped on one side). */
  readonly skipped?: string;
  readonly differences: readonly Difference[];
}

export interface ProgramDiff {
  readonly program: string;
  readonly file: string;
  readonly skipped?: string;
  readonly steps: readonly StepComparison[];
}

/** Leaves of a value, by dotted path (bytes and scalars are leaves). */
function leaves(v: unknown, prefix: string, into: Map<string, unknown>): Map<string, unknown> {
  if (v instanceof Uint8Array || typeof v !== 'object' || v === null) {
    into.set(prefix, v);
    return into;
  }
  // An empty array (a flexible array member of length 0) carries no value: the
  // same as an absent field, however a codec chose to show it.
  const entries = Array.isArray(v) ? v.map((x, i) => [String(i), x] as const) : Object.entries(v);
  if (entries.length === 0 && !Array.isArray(v)) into.set(prefix, '{}');
  for (const [k, x] of entries) leaves(x, prefix ? `${prefix}.${k}` : k, into);
  return into;
}

function statusOf(o: StepOutcome): string {
  if (o.status === 'ok') return 'ok';
  if (o.status === 'failed') return errnoName(o.errno ?? 0);
  return `${o.status}: ${o.reason ?? ''}`;
}

function sameValue(a: unknown, b: unknown): boolean {
  // The contract: fields left out are zero. A codec that omits a zero field
  // (e.g. the union members of an unknown IOMMU_TEST_CMD op) agrees with one that shows it.
  if (a === undefined && (b === 0 || b === 0n)) return true;
  if (b === undefined && (a === 0 || a === 0n)) return true;
  if (a instanceof Uint8Array && b instanceof Uint8Array) return a.length === b.length && a.every((x, i) => x === b[i]);
  const ba = typeof a === 'number' && Number.isInteger(a) ? BigInt(a) : a;
  const bb = typeof b === 'number' && Number.isInteger(b) ? BigInt(b) : b;
  return ba === bb;
}

/** Raw differences of one step (before acceptance). */
function compareStep(a: StepOutcome, b: StepOutcome, ids: IdMap): { field: string; a: string; b: string }[] {
  const sa = statusOf(a);
  const sb = statusOf(b);
  if (a.status !== b.status || a.status === 'error') {
    // Errors on both sides are reported by the caller as errors, not differences.
    return sa === sb ? [] : [{ field: 'status', a: sa, b: sb }];
  }
  const diffs: { field: string; a: string; b: string }[] = [];
  if (a.status === 'failed' && a.errno !== b.errno) diffs.push({ field: 'errno', a: sa, b: sb });
  if (a.ret !== b.ret && a.op === 'ioctl') diffs.push({ field: 'ret', a: String(a.ret), b: String(b.ret) });
  const symbolic = new Set(a.symbolic);
  const isSymbolic = (path: string): boolean => [...symbolic].some((s) => path === s || path.startsWith(`${s}.`));
  const groups: [string, unknown, unknown][] = [
    ['out', a.out, b.out],
    ['result', a.result, b.result],
    ['buffers', a.buffers, b.buffers],
  ];
  for (const [group, va, vb] of groups) {
    if (va === undefined && vb === undefined) continue;
    const la = leaves(va, '', new Map());
    const lb = leaves(vb, '', new Map());
    for (const path of new Set([...la.keys(), ...lb.keys()])) {
      if (group === 'out' && isSymbolic(path)) continue;
      if (group === 'result' && (a.op === 'open' || a.op === 'open_device') && path === 'errno') continue;
      const x = la.get(path);
      const y = lb.get(path);
      const ns = group === 'buffers' ? undefined : namespaceOf(a.op, path);
      const same = ns !== undefined && x !== undefined && y !== undefined ? ids.pair(ns, x, y) : sameValue(x, y);
      if (!same) diffs.push({ field: path ? `${group}.${path}` : group, a: render(x), b: render(y) });
    }
  }
  return diffs;
}

function fieldOpen(open: Set<string>, field: string): boolean {
  if (open.has(field)) return true;
  if (field === 'errno' && open.has('status')) return true;
  // An open struct/array field leaves its members open too.
  return [...open].some((p) => field.startsWith(`${p}.`));
}

/** Compares run `a` and run `b` of the same program. */
export function diffRuns(a: ProgramRun, b: ProgramRun, entries: readonly ExpectationEntry[]): ProgramDiff {
  const name = a.program.name;
  if (a.skipped || b.skipped) return { program: name, file: a.file, skipped: a.skipped ?? b.skipped, steps: [] };
  const ids = new IdMap();
  const byStep = new Map(b.steps.map((o) => [o.step, o]));
  const steps: StepComparison[] = [];
  for (const oa of a.steps) {
    const ob = byStep.get(oa.step);
    const base = { step: oa.step, op: oa.op, command: oa.command };
    if (!ob) {
      steps.push({ ...base, differences: [{ step: oa.step, field: 'status', a: statusOf(oa), b: 'missing', verdict: 'different' }] });
      continue;
    }
    if (oa.status === 'skipped' || ob.status === 'skipped') {
      steps.push({ ...base, skipped: oa.status === 'skipped' ? `a: ${oa.reason}` : `b: ${ob.reason}`, differences: [] });
      continue;
    }
    const step = a.program.steps[oa.step - 1];
    const open = step?.expect ? openPaths(step.expect) : new Set<string>();
    const bothAllowed = oa.violations.length === 0 && ob.violations.length === 0 && oa.status !== 'error' && ob.status !== 'error';
    const differences = compareStep(oa, ob, ids).map((d): Difference => {
      if (bothAllowed && fieldOpen(open, d.field)) return { step: oa.step, ...d, verdict: 'accepted', why: 'both results are in the program’s allowed set' };
      const entry = findExpectation(entries, { program: name, step: oa.step, field: d.field, values: [d.a, d.b] });
      if (entry) return { step: oa.step, ...d, verdict: 'known', why: `${entry.kind}: ${entry.reason}`, entry };
      return { step: oa.step, ...d, verdict: 'different' };
    });
    steps.push({ ...base, differences });
  }
  return { program: name, file: a.file, steps };
}

export function unacceptedDifferences(d: ProgramDiff): Difference[] {
  return d.steps.flatMap((s) => s.differences.filter((x) => x.verdict === 'different'));
}
