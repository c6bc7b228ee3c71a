/**
 * `--machines`: every executed step of every program goes through the
 * lifecycle oracle (model/oracle.ts), a fresh one per program. Collected: per
 * program the first step the machines disagree with, per command the
 * refusals the machines leave open (by errno), and the machine edges the run
 * took (for `coverage --machines`).
 */
import { createLifecycleOracle, type LifecycleOracle, type Verdict } from '../../model/oracle.ts';
import type { ExecutedStep } from '../../conformance/programs/run.ts';
import { findExpectation, type ExpectationEntry } from '../../conformance/programs/expectations.ts';
import type { Profile, SingleRequest } from '../../spec/contract/types.ts';
import { requestToWire, responseToWire, type JsonObject } from '../../spec/contract/wire.ts';
import type { ReplayLine } from '../../model/replay.ts';

export interface FirstDisagreement {
  readonly program: string;
  readonly step: number;
  readonly verdict: Extract<Verdict, { kind: 'disagree' }>;
  /** The expectations entry that explains it, if one does. */
  readonly known?: ExpectationEntry;
}

export class MachinesCheck {
  private oracle: LifecycleOracle | undefined;
  private program = '';
  private disagreed = false;
  readonly first: FirstDisagreement[] = [];
  /** Command → errno → count of refusals the machines left open. */
  readonly openRefusals = new Map<string, Map<string, number>>();
  readonly edges = new Set<string>();
  /** With recording on: every executed step, in the form model/replay.ts reads back. */
  readonly recorded: ReplayLine[] | undefined;
  steps = 0;
  ok = 0;
  open = 0;
  disagree = 0;

  constructor(
    readonly profile: Profile | undefined,
    private readonly entries: readonly ExpectationEntry[] = [],
    record = false,
  ) {
    this.recorded = record ? [] : undefined;
  }

  readonly observe = (s: ExecutedStep): void => {
    if (s.program !== this.program || !this.oracle) {
      this.program = s.program;
      this.disagreed = false;
      this.oracle = createLifecycleOracle(this.profile ?? s.capabilities.profile, { capabilities: s.capabilities });
    }
    if (s.request.op === 'batch') return;
    if (this.recorded) {
      if (this.recorded.length === 0 || this.recorded[this.recorded.length - 1]?.program !== s.program) {
        this.recorded.push({ program: s.program, profile: s.capabilities.profile, iommus: s.capabilities.iommus.map((i) => ({ name: i.name, dirty: i.dirtyTracking, coherent: i.enforceCacheCoherency })) });
      }
      const response = responseToWire(s.request, s.response) as { ok: boolean; result?: Record<string, unknown> };
      if (response.result) {
        // The machines read ret, errno, out and op results, never the raw bytes.
        const { bytes: _b, buffers: _f, ptrs: _p, ...rest } = response.result;
        response.result = rest;
      }
      this.recorded.push({ program: s.program, step: s.step, request: requestToWire(s.request), response: response as unknown as JsonObject });
    }
    this.steps++;
    const v = this.oracle.check(s.request as SingleRequest, s.response);
    for (const e of v.edges) this.edges.add(e);
    if (v.kind === 'ok') this.ok++;
    else if (v.kind === 'open') {
      this.open++;
      if (v.errno) {
        const m = this.openRefusals.get(v.event) ?? new Map<string, number>();
        m.set(v.errno, (m.get(v.errno) ?? 0) + 1);
        this.openRefusals.set(v.event, m);
      }
    } else {
      this.disagree++;
      if (!this.disagreed) {
        this.disagreed = true;
        const known = findExpectation(this.entries, { program: s.program, step: s.step, field: 'machines', values: [v.observed, v.expected] });
        this.first.push({ program: s.program, step: s.step, verdict: v, ...(known ? { known } : {}) });
      }
    }
  };

  /** Disagreements no expectations entry explains. */
  get failures(): number {
    return this.first.filter((d) => !d.known).length;
  }

  render(): string {
    const lines: string[] = [];
    lines.push(`machines: ${this.steps} steps: ${this.ok} ok, ${this.open} open, ${this.disagree} disagree`);
    for (const d of this.first) {
      const v = d.verdict;
      const tag = d.known ? `known (${d.known.kind}): ${d.known.reason}` : 'DISAGREE';
      lines.push(`  ${d.program} step ${d.step} ${v.event}: ${tag}`);
      lines.push(`      ${v.how}: ${v.message}`);
    }
    if (this.openRefusals.size > 0) {
      lines.push('refusals the machines leave open, per command:');
      for (const [cmd, m] of [...this.openRefusals].sort((a, b) => a[0].localeCompare(b[0]))) {
        const parts = [...m].sort((a, b) => b[1] - a[1]).map(([e, n]) => `${e} ${n}`);
        lines.push(`  ${cmd.padEnd(40)} ${parts.join(', ')}`);
      }
    }
    return lines.join('\n') + '\n';
  }

  toJSON(): unknown {
    return {
      steps: this.steps,
      ok: this.ok,
      open: this.open,
      disagree: this.disagree,
      first: this.first.map((d) => ({ program: d.program, step: d.step, ...d.verdict, known: d.known?.reason })),
      openRefusals: Object.fromEntries([...this.openRefusals].map(([k, m]) => [k, Object.fromEntries(m)])),
      edges: this.edges.size,
    };
  }
}
