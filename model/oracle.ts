/**
 * The lifecycle oracle: feed it the requests an implementation served and the
 * responses it gave, one at a time, and it says whether the lifecycle
 * machines agree.
 *
 *   const oracle = createLifecycleOracle('7.3');
 *   const v = oracle.check(request, response);   // request: a SingleRequest with concrete fds and ids
 *   if (v.kind === 'disagree') throw new Error(v.message);
 *
 * Verdicts:
 *   ok       the machines allow what the implementation did (a success they
 *            accept, or the refusal they require) and took it;
 *   open     the machines do not decide this case: an op they do not model, a
 *            refusal whose errno no lifecycle rule decides (an argument error,
 *            fault injection), a result they cannot follow;
 *   disagree the machines forbade a success, required a success that failed
 *            (with an errno a lifecycle rule decides), required another
 *            errno, or the result contradicts them (an id already in use, an
 *            unmap length, a KVM coherency report). It names the machine, its
 *            state, the event, the guard and the clauses.
 *
 * The oracle keeps going after a disagreement (its state then follows the
 * machines, not the implementation); callers usually stop at the first one.
 */
import type { Capabilities, Response, SingleRequest, StructValue } from '../spec/contract/types.ts';
import { errnoName } from '../spec/uapi/errno.ts';
import { commandByName, commandMinSize } from '../spec/uapi/index.ts';
import type { Profile } from '../spec/uapi/profiles.ts';
import { decidesFailure } from './decided.ts';
import { stepper } from './machines/index.ts';
import { decide, toSysEvent } from './system/machine.ts';
import { emptySystem, type IommuInfo, type System } from './system/state.ts';
import type { Decision, Observed } from './system/tx.ts';

export type Verdict =
  | { readonly kind: 'ok'; readonly event: string; readonly edges: readonly string[] }
  | {
      readonly kind: 'open';
      readonly event: string;
      readonly reason: string;
      /** Set when the implementation refused: the errno the machines leave open. */
      readonly errno?: string;
      readonly edges: readonly string[];
    }
  | {
      readonly kind: 'disagree';
      readonly event: string;
      /** forbade-success: the machines refuse what succeeded; required-success: they allow what failed with a decided errno;
       * wrong-errno: they require another decided errno; wrong-result: the success contradicts them;
       * model-error: the machines themselves failed on this step (a bug in model/, not in the implementation). */
      readonly how: 'forbade-success' | 'required-success' | 'wrong-errno' | 'wrong-result' | 'model-error';
      readonly machine: string;
      readonly state: string;
      readonly guard?: string;
      readonly clauses: readonly string[];
      /** What the machines require: an errno name or 'ok'. */
      readonly expected: string;
      /** What the implementation did: an errno name or 'ok'. */
      readonly observed: string;
      readonly message: string;
      readonly edges: readonly string[];
    };

export interface LifecycleOracle {
  readonly profile: Profile;
  /** Checks one executed request against the machines and advances them. */
  check(request: SingleRequest, response: Response): Verdict;
  /** The current system state (every object machine's snapshot and the relations). */
  readonly state: System;
}

export interface OracleOptions {
  /** The implementation's capability report: its IOMMU instances (coherency, dirty tracking). */
  readonly capabilities?: Capabilities;
}

function iommusOf(caps: Capabilities | undefined): IommuInfo[] | undefined {
  return caps?.iommus.map((i) => ({ name: i.name, dirty: i.dirtyTracking, coherent: i.enforceCacheCoherency, format: i.format }));
}

/** The machines' view of a response. */
export function observe(req: SingleRequest, res: Extract<Response, { ok: true }>): Observed {
  const r = res.result as unknown as Record<string, unknown>;
  if (req.op === 'ioctl') {
    const ret = r['ret'] as number;
    const errno = r['errno'] as number;
    return { ok: ret >= 0 && errno === 0, errno, ret, out: r['out'] as StructValue | undefined };
  }
  if (req.op === 'open' || req.op === 'open_device') {
    const fd = r['fd'] as number;
    const errno = (r['errno'] as number | undefined) ?? 0;
    return { ok: fd >= 0 && errno === 0, errno, ret: fd, result: r };
  }
  if (typeof r['ret'] === 'number' && typeof r['errno'] === 'number') {
    const ret = r['ret'];
    const errno = r['errno'];
    return { ok: ret >= 0 && errno === 0, errno, ret, result: r };
  }
  return { ok: true, errno: 0, result: r };
}

/** A struct argument the dispatch refuses before any handler runs (size below the minimum, a non-zero tail). */
function dispatchSuspect(profile: Profile, req: SingleRequest): boolean {
  if (req.op !== 'ioctl') return false;
  if (typeof req.cmd !== 'string') return true;
  const cmd = commandByName(profile, req.cmd);
  if (!cmd) return true;
  if (cmd.arg === 'int' || cmd.arg === 'none') return req.arg.kind !== 'int' && cmd.arg === 'int';
  if (req.arg.kind !== 'struct') return true;
  const min = commandMinSize(profile, cmd);
  const size = req.arg.fields['size'] ?? req.arg.fields['argsz'];
  if (min !== undefined && typeof size === 'number' && size < min) return true;
  if (req.arg.truncate !== undefined && min !== undefined && req.arg.truncate < min) return true;
  if (req.arg.tail && req.arg.tail.some((b) => b !== 0)) return true;
  return false;
}

const label = (o: Observed): string => (o.ok ? 'ok' : (errnoName(o.errno) ?? `E${o.errno}`));

function refusalMessage(ev: string, d: Extract<Decision, { kind: 'refuse' }>): string {
  return `${d.machine} in ${d.state} refuses ${ev}${d.guard ? ` [${d.guard}]` : ''} with ${d.errno} (${d.clauses.join(', ') || 'no clause'})`;
}

export function createLifecycleOracle(profile: Profile, options: OracleOptions = {}): LifecycleOracle {
  let sys = emptySystem(profile, iommusOf(options.capabilities));
  const check = (request: SingleRequest, response: Response): Verdict => {
    const ev = toSysEvent(profile, request);
    if (!response.ok) return { kind: 'open', event: ev.type, reason: `protocol error (${response.error.code}): ${response.error.message}`, edges: [] };
    const obs = observe(request, response);
    let out: ReturnType<typeof decide>;
    try {
      out = decide(sys, ev, obs);
    } catch (err) {
      const message = `the machines failed on ${ev.type}: ${(err as Error).message}`;
      return { kind: 'disagree', event: ev.type, how: 'model-error', machine: 'model', state: '', clauses: [], expected: '?', observed: label(obs), message, edges: [] };
    }
    const d = out.decision;
    const seen = label(obs);
    if (!obs.ok && dispatchSuspect(profile, request)) {
      if (out.failed && d.kind === 'refuse' && errnoName(obs.errno) === d.errno) sys = out.failed;
      return { kind: 'open', event: ev.type, reason: 'the dispatch refuses the argument (size, tail or kind) before any lifecycle rule', errno: seen, edges: [] };
    }
    if (d.kind === 'open') {
      if (obs.ok && out.ok) sys = out.ok;
      else if (!obs.ok && out.failed) sys = out.failed;
      return { kind: 'open', event: ev.type, reason: d.reason, ...(obs.ok ? {} : { errno: seen }), edges: out.edges };
    }
    if (d.kind === 'accept') {
      if (obs.ok) {
        if (out.mismatch) {
          return { kind: 'disagree', event: ev.type, how: 'wrong-result', machine: 'system', state: 'running', clauses: [], expected: 'ok', observed: seen, message: `${ev.type}: ${out.mismatch}`, edges: out.edges };
        }
        const kvm = kvmReport(sys, request, obs);
        sys = out.ok ?? sys;
        if (kvm) return { ...kvm, edges: out.edges };
        return { kind: 'ok', event: ev.type, edges: out.edges };
      }
      const errno = errnoName(obs.errno) ?? `E${obs.errno}`;
      if (sys.failNth) sys = { ...sys, failNth: false };
      if (decidesFailure(ev.type, errno)) {
        return {
          kind: 'disagree',
          event: ev.type,
          how: 'required-success',
          machine: 'system',
          state: 'running',
          clauses: [],
          expected: 'ok',
          observed: errno,
          message: `the machines allow ${ev.type} here, but it failed with ${errno}, an errno the lifecycle rules decide`,
          edges: out.edges,
        };
      }
      return { kind: 'open', event: ev.type, reason: `${errno} is not decided by a lifecycle rule of ${ev.type}`, errno, edges: out.edges };
    }
    // refuse
    if (obs.ok) {
      return {
        kind: 'disagree',
        event: ev.type,
        how: 'forbade-success',
        machine: d.machine,
        state: d.state,
        ...(d.guard ? { guard: d.guard } : {}),
        clauses: d.clauses,
        expected: d.errno,
        observed: 'ok',
        message: `${refusalMessage(ev.type, d)}, but it succeeded`,
        edges: out.edges,
      };
    }
    if (errnoName(obs.errno) === d.errno) {
      sys = out.failed ?? sys;
      return { kind: 'ok', event: ev.type, edges: out.edges };
    }
    if (sys.failNth) sys = { ...sys, failNth: false };
    if (decidesFailure(ev.type, seen)) {
      return {
        kind: 'disagree',
        event: ev.type,
        how: 'wrong-errno',
        machine: d.machine,
        state: d.state,
        ...(d.guard ? { guard: d.guard } : {}),
        clauses: d.clauses,
        expected: d.errno,
        observed: seen,
        message: `${refusalMessage(ev.type, d)}, but it failed with ${seen}`,
        edges: out.edges,
      };
    }
    return { kind: 'open', event: ev.type, reason: `the machines require ${d.errno}; ${seen} comes first from a check they do not model`, errno: seen, edges: out.edges };
  };
  return {
    profile,
    check,
    get state() {
      return sys;
    },
  };
}

/** kvm_state: the reported WBINVD need must match the KVM machine's state. */
function kvmReport(sys: System, request: SingleRequest, obs: Observed): Omit<Extract<Verdict, { kind: 'disagree' }>, 'edges'> | undefined {
  if (request.op !== 'kvm_state') return undefined;
  const vm = sys.vms[request.vm];
  if (!vm) return undefined;
  const noncoherent = stepper('kvm').matches(vm.snap, 'live.noncoherent');
  const reported = (obs.result as { noncoherentDma?: boolean } | undefined)?.noncoherentDma;
  if (reported === undefined || reported === noncoherent) return undefined;
  return {
    kind: 'disagree',
    event: 'kvm_state',
    how: 'wrong-result',
    machine: 'kvm',
    state: stepper('kvm').leaves(vm.snap).join(','),
    clauses: ['KVM.NONCOHERENT_IFF', 'KVM.REDERIVED'],
    expected: `noncoherentDma=${noncoherent}`,
    observed: `noncoherentDma=${reported}`,
    message: `the KVM machine is in ${stepper('kvm').leaves(vm.snap).join(',')}, the implementation reports noncoherentDma=${reported}`,
  };
}
