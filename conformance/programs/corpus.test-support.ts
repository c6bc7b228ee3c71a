/**
 * What the corpus tests share: the reference served over stdio behind a
 * proxy it did not write (conformance/adapter/fixtures/stdio-proxy.mjs in
 * front of `iommufd-spec serve --impl ref`), and a program run's verdict as
 * a comparable text (every step's status, errno and return value, every
 * violation, every failure of the verdict) so two sessions can be compared
 * program by program.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExpectationEntry } from './expectations.ts';
import type { ProgramRun } from './run.ts';
import type { SessionResult } from './session.ts';
import { errnoName } from './errno.ts';
import { judgeRun } from './verdict.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PROXY = join(ROOT, 'conformance/adapter/fixtures/stdio-proxy.mjs');
const BIN = join(ROOT, 'bin/iommufd-spec.mjs');

/** Start-up and per-request bounds for the served reference: generous, since two node
 * processes compile TypeScript before the hello on a machine that may be busy. */
export const SLOW_START = { handshakeTimeoutMs: 300_000, timeoutMs: 300_000 } as const;

/** `cmd:` spec of the reference behind the proxy. */
export const SERVED_REFERENCE = `cmd:${process.execPath} ${PROXY} ${process.execPath} ${BIN} serve --impl ref`;

/** One run's verdict as text: a skipped program's reason kind, else a line per step, then the verdict's failures. */
export function verdictOf(run: ProgramRun, entries: readonly ExpectationEntry[]): string {
  const lines = run.skipped
    ? [`skipped (${run.skipKind ?? ''})`]
    : run.steps.map((o) => {
        const what = o.status === 'failed' ? errnoName(o.errno ?? 0) : o.status;
        return `${o.step} ${o.op} ${what}${o.ret !== undefined ? ` ret=${o.ret}` : ''}${o.violations.length ? ` violates: ${o.violations.join('; ')}` : ''}`;
      });
  const failures = judgeRun(run, entries).failures.map((f) => `FAIL ${f.step ?? '-'} ${f.kind}: ${f.message}`);
  return [...lines, ...failures].join('\n');
}

/** Program name → verdict. */
export function verdictsOf(session: SessionResult, entries: readonly ExpectationEntry[]): Map<string, string> {
  return new Map(session.runs.map((r) => [r.program.name, verdictOf(r, entries)]));
}

/** Where two sets of verdicts differ: one line per program, with its first differing line. */
export function verdictDifferences(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  for (const name of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(name);
    const y = b.get(name);
    if (x === y) continue;
    if (x === undefined || y === undefined) {
      out.push(`${name}: only in ${x === undefined ? 'the second' : 'the first'} session`);
      continue;
    }
    const xl = x.split('\n');
    const yl = y.split('\n');
    const i = xl.findIndex((l, k) => l !== yl[k]);
    const at = i < 0 ? xl.length : i;
    out.push(`${name}: ${xl[at] ?? '(end)'}  ≠  ${yl[at] ?? '(end)'}`);
  }
  return out;
}
