/**
 * `--fail-nth`: for adapters that inject allocation failures (the contract's
 * `fail_nth` op; the kernels' /proc/self/task/<tid>/fail-nth), sweep the
 * failure points of each ioctl of a passing case — replay the steps before
 * it on a fresh session, arm fail_nth = 1, 2, 3 … until the ioctl behaves as
 * it did without injection — and check that an ioctl that failed that way
 * left no visible change: the same pins, pinned and locked memory, and
 * translations as just before it — and, once every file and VM the session
 * holds is closed, the same as without it: the same pinned and locked
 * memory, and the same answer when a fresh context binds each device (a
 * failure that leaked its group's DMA ownership shows there, where the
 * context that failed could not see it). Then the rest of the case runs on
 * from there under the invariants (`continueCase`): a failure whose leftovers
 * change nothing at once, a freed table still linked into a live one, a
 * reference dropped one time too many, shows when a later command reuses
 * what it left. The kernel's own iommufd_fail_nth test looks only for
 * crashes and leaks.
 *
 * IOMMU_IOAS_UNMAP, VFIO_IOMMU_UNMAP_DMA and IOMMU_HWPT_INVALIDATE are
 * documented as not atomic (partial progress) and are not swept.
 */
import type { Adapter, Request, Response } from '../../spec/contract/types.ts';
import { render } from '../programs/expect.ts';
import { ResolveError } from '../programs/values.ts';
import type { Objection } from './oracles/oracle.ts';
import { callWithTimeout, type CaseFailure, type Clock, commandName, statusOf, type TraceStep } from './session.ts';
import { bindable, getPath, resolveStep, type StepTemplate } from './step.ts';
import { toBig } from './ranges.ts';

const NOT_ATOMIC = new Set(['IOMMU_IOAS_UNMAP', 'VFIO_IOMMU_UNMAP_DMA', 'IOMMU_HWPT_INVALIDATE']);

export interface FailNthOptions {
  /** The first ioctls swept per case (in case order, the successful ones first). */
  readonly maxSteps?: number;
  /** Highest nth tried per ioctl. */
  readonly maxNth?: number;
  /** Later ioctls swept per case besides the first (default: half of maxSteps, rounded up). */
  readonly windowSteps?: number;
  /**
   * Which later ioctls a case with more than maxSteps sweeps (any integer; the case's probe
   * seed): a window of them that moves with this number, so that across a run every position
   * of a case is swept.
   */
  readonly window?: number;
}

export interface FailNthFinding {
  readonly objection: Objection;
  /** The program that shows it: the prefix, fail_nth, the ioctl, the observation that changed (or the rest of the case to the step that objected). */
  readonly templates: readonly StepTemplate[];
  /** Found by running the case on past the failed ioctl: that run, as its session recorded it, and what its steps bound. */
  readonly failure?: CaseFailure;
  readonly bindings?: ReadonlyMap<string, unknown>;
  readonly bindKinds?: ReadonlyMap<string, { readonly op: string; readonly path: string }>;
}

interface Session {
  readonly adapter: Adapter;
  readonly bindings: Map<string, unknown>;
  /** What the session holds, from its answers: descriptors, VMs, devices. */
  readonly held: { readonly fds: Set<number>; readonly vms: Set<number>; readonly devices: Set<number>; readonly units: Map<number, string> };
}

const newSession = (adapter: Adapter): Session => ({ adapter, bindings: new Map(), held: { fds: new Set(), vms: new Set(), devices: new Set(), units: new Map() } });

/** Descriptors an ioctl's answer hands out (out_access_fd, out_fault_fd, …), at any depth of its out struct. */
function outFds(v: unknown, into: Set<number>): void {
  if (typeof v !== 'object' || v === null || v instanceof Uint8Array || Array.isArray(v)) return;
  for (const [k, x] of Object.entries(v)) {
    if (k.startsWith('out_') && k.endsWith('_fd') && typeof x === 'number') into.add(x);
    else outFds(x, into);
  }
}

/** Follows what a request that succeeded gives the session or takes from it. */
function noteHeld(held: Session['held'], request: Request, response: Response): void {
  if (!response.ok) return;
  const r = response.result as Record<string, unknown>;
  switch (request.op) {
    case 'open':
    case 'open_device':
      if (typeof r['fd'] === 'number' && r['fd'] >= 0) held.fds.add(r['fd']);
      return;
    case 'close':
      if (r['ret'] === 0) held.fds.delete(request.fd);
      return;
    case 'ioctl':
      if (r['errno'] === 0) outFds(r['out'], held.fds);
      return;
    case 'kvm_create':
      if (typeof r['vm'] === 'number') held.vms.add(r['vm']);
      return;
    case 'kvm_destroy':
      held.vms.delete(request.vm);
      return;
    case 'device_create':
      if (typeof r['device'] === 'number') {
        held.devices.add(r['device']);
        if (typeof request.spec.iommu === 'string') held.units.set(r['device'], request.spec.iommu);
      }
      return;
    case 'device_remove':
      held.devices.delete(request.device);
      return;
    default:
      return;
  }
}

/**
 * Closes every file and VM the session holds, then asks what outlives them:
 * pinned and locked memory, and a fresh context's bind of each device (its
 * errno: 0 when the group's DMA ownership went back). Answers rendered, one
 * per line of the comparison.
 */
async function afterClosing(s: Session, ops: Set<string>, timeoutMs: number, clock: Clock): Promise<string[]> {
  const call = (request: Request): Promise<Response> => callWithTimeout(request.op, () => s.adapter.call(request), timeoutMs, clock);
  for (const vm of [...s.held.vms].sort((a, b) => b - a)) await call({ op: 'kvm_destroy', vm });
  for (const fd of [...s.held.fds].sort((a, b) => b - a)) await call({ op: 'close', fd });
  const seen: string[] = [];
  if (ops.has('process_info')) seen.push(`process_info ${render(await call({ op: 'process_info' }))}`);
  if (!ops.has('open_device')) return seen;
  for (const device of [...s.held.devices].sort((a, b) => a - b)) {
    const ctx = await call({ op: 'open', node: 'iommu' });
    const dev = await call({ op: 'open_device', device });
    const fdOf = (r: Response): number | undefined => (r.ok && typeof (r.result as { fd?: number }).fd === 'number' && (r.result as { fd: number }).fd >= 0 ? (r.result as { fd: number }).fd : undefined);
    const [c, d] = [fdOf(ctx), fdOf(dev)];
    const bind = c !== undefined && d !== undefined ? await call({ op: 'ioctl', fd: d, cmd: 'VFIO_DEVICE_BIND_IOMMUFD', arg: { kind: 'struct', fields: { flags: 0, iommufd: c } } }) : undefined;
    const errno = bind?.ok ? (bind.result as { errno: number }).errno : undefined;
    seen.push(`device ${device}: a fresh context's bind answers ${errno === undefined ? (d === undefined ? `open_device ${render(dev)}` : 'nothing') : errno === 0 ? 'ok' : `errno ${errno}`}`);
    if (d !== undefined) await call({ op: 'close', fd: d });
    if (c !== undefined) await call({ op: 'close', fd: c });
  }
  return seen;
}

async function replay(s: Session, steps: readonly TraceStep[], timeoutMs: number, clock: Clock): Promise<void> {
  for (const t of steps) await runStep(s, t.template, timeoutMs, clock);
}

async function runStep(s: Session, t: StepTemplate, timeoutMs: number, clock: Clock): Promise<{ request?: Request; response?: Response }> {
  let request: Request;
  try {
    request = resolveStep(t, (ref, field) => {
      if (!s.bindings.has(ref.name)) throw new ResolveError(field, `$${ref.name} is not bound`);
      return getPath(s.bindings.get(ref.name), ref.path);
    });
  } catch {
    return {};
  }
  const response = await callWithTimeout(commandName(request), () => s.adapter.call(request), timeoutMs, clock);
  noteHeld(s.held, request, response);
  if (statusOf(request, response).status === 'ok' && t.bind && response.ok) {
    const base = bindable(t.op, response.result);
    for (const [name, path] of Object.entries(t.bind)) s.bindings.set(name, getPath(base, path));
  }
  return { request, response };
}

/** What can be seen of the state: pins of every buffer, process accounting, what each device reaches at the mapped IOVAs. */
function snapshotRequests(s: Session, prefix: readonly TraceStep[], step: TraceStep, ops: Set<string>): Request[] {
  const reqs: Request[] = [];
  const iovas = new Set<bigint>();
  for (const t of [...prefix, step]) {
    const r = t.request;
    if (r?.op !== 'ioctl' || r.arg.kind !== 'struct') continue;
    const f = r.arg.fields;
    const out = t.response?.ok ? ((t.response.result as { out?: Record<string, unknown> }).out ?? {}) : {};
    for (const k of ['iova', 'dst_iova']) {
      const v = out[k] ?? f[k];
      if (v !== undefined) iovas.add(toBig(v));
    }
  }
  for (const v of s.bindings.values()) {
    if (typeof v !== 'object' || v === null) continue;
    const o = v as Record<string, unknown>;
    if (typeof o['buffer'] === 'number' && typeof o['length'] === 'number' && ops.has('pin_count')) reqs.push({ op: 'pin_count', buffer: o['buffer'], offset: 0, length: o['length'] });
  }
  for (const t of prefix) {
    if (t.template.op !== 'device_create') continue;
    for (const [name, path] of Object.entries(t.template.bind ?? {})) {
      const device = path === 'device' ? s.bindings.get(name) : undefined;
      if (typeof device === 'number' && ops.has('translate')) for (const iova of iovas) reqs.push({ op: 'translate', device, iova });
    }
  }
  if (ops.has('process_info')) reqs.push({ op: 'process_info' });
  return reqs;
}

/** For a translation, the page-table format of the device's unit, as ` (format)`; else nothing. */
function formatSuffix(s: Session, probe: Request, unitFormat: SweepContext['unitFormat']): string {
  const unit = probe.op === 'translate' ? s.held.units.get(probe.device) : undefined;
  const format = unit === undefined ? undefined : unitFormat?.(unit);
  return format ? ` (${format})` : '';
}

function differs(a: Response | undefined, b: Response | undefined): boolean {
  return render(a) !== render(b);
}

/** What the sweep runs on: fresh sessions of the implementation, and the run's bookkeeping. */
export interface SweepContext {
  readonly open: () => Promise<Adapter>;
  readonly release: (a: Adapter, broken: boolean) => Promise<void>;
  /** The observations and operations the adapter serves. */
  readonly ops: Set<string>;
  readonly timeoutMs: number;
  readonly clock: Clock;
  readonly count: (n: number) => void;
  /** Whether an objection is a known divergence (an expectations entry): recorded there, and the sweep goes on. */
  readonly isKnown?: (o: Objection) => boolean;
  /**
   * Runs a program (the prefix, fail_nth, the failed ioctl, the rest of the
   * case) on a fresh session under the invariants: their first objection
   * that is not a known divergence, and the steps that ran to it.
   */
  readonly continueCase?: (templates: readonly StepTemplate[]) => Promise<FailNthFinding | undefined>;
  /** The page-table format of an IOMMU unit (capabilities.iommus), named in a changed translation's signature. */
  readonly unitFormat?: (unit: string) => string | undefined;
}

/**
 * The steps a case sweeps: its first `head` (bind, the first IOAS and attach: error paths whose
 * leftovers have the whole case left to show in), then a window of `width` of the later ones
 * chosen by `window`. Later ioctls run over the most state (a filled domain, large pages off,
 * tables a map must add), where the deepest error paths are: a page-by-page map that fails at a
 * table allocation half-way, say, is never among a case's first few ioctls.
 */
export function sweptSteps<T>(ordered: readonly T[], head: number, width: number, window: number): T[] {
  const rest = ordered.slice(head);
  if (rest.length <= width) return [...ordered];
  const windows = Math.ceil(rest.length / width);
  const w = ((window % windows) + windows) % windows;
  return [...ordered.slice(0, head), ...rest.slice(w * width, (w + 1) * width)];
}

export async function sweepFailNth(trace: readonly TraceStep[], cx: SweepContext, opts: FailNthOptions = {}): Promise<FailNthFinding | undefined> {
  const { open, release, ops: supportedOps, timeoutMs, clock, count, continueCase } = cx;
  const isKnown = cx.isKnown ?? (() => false);
  const maxSteps = opts.maxSteps ?? 6;
  const maxNth = opts.maxNth ?? 40;
  const ran = trace.filter((t) => t.template.op !== 'end' && t.response !== undefined && t.request !== undefined);
  const candidates = ran.filter((t) => t.request?.op === 'ioctl' && !NOT_ATOMIC.has(commandName(t.request)) && (t.status === 'ok' || t.status === 'failed'));
  // The ioctls that succeeded first: their error paths are the ones to sweep.
  const chosen = sweptSteps([...candidates.filter((t) => t.status === 'ok'), ...candidates.filter((t) => t.status !== 'ok')], maxSteps, opts.windowSteps ?? Math.ceil(maxSteps / 2), opts.window ?? 0);
  for (const step of chosen) {
    const prefix = ran.filter((t) => t.step < step.step);
    const rest = ran.filter((t) => t.step > step.step).map((t) => t.template);
    const base = statusOf(step.request as Request, step.response as Response);
    /** What outlives the session's files after the prefix alone (computed once a failure needs it). */
    let closedBaseline: string[] | undefined;
    const baseline = async (): Promise<string[]> => {
      if (closedBaseline) return closedBaseline;
      const adapter = await open();
      let broken = false;
      try {
        const s = newSession(adapter);
        await replay(s, prefix, timeoutMs, clock);
        closedBaseline = await afterClosing(s, supportedOps, timeoutMs, clock);
        return closedBaseline;
      } catch (err) {
        broken = true;
        throw err;
      } finally {
        await release(adapter, broken);
      }
    };
    for (let nth = 1; nth <= maxNth; nth++) {
      const adapter = await open();
      let broken = false;
      let goOn: StepTemplate[] | undefined;
      /** The failure left a known divergence: what follows it is not judged. */
      let divergent = false;
      try {
        const s = newSession(adapter);
        await replay(s, prefix, timeoutMs, clock);
        const snap = snapshotRequests(s, prefix, step, supportedOps);
        const before = snap.length ? await callWithTimeout('snapshot', () => adapter.batch(snap), timeoutMs, clock) : [];
        await callWithTimeout('fail_nth', () => adapter.call({ op: 'fail_nth', nth }), timeoutMs, clock);
        const { request, response } = await runStep(s, step.template, timeoutMs, clock);
        if (!request || !response) break;
        const now = statusOf(request, response);
        if (now.status === base.status && now.errno === base.errno) break; // past the last failure point
        count(1);
        if (now.status !== 'failed') continue;
        const after = snap.length ? await callWithTimeout('snapshot', () => adapter.batch(snap), timeoutMs, clock) : [];
        // Every probe that changed, in order: a known divergence (an expectations entry) does not hide the next one.
        for (let i = 0; i < snap.length; i++) {
          if (!differs(before[i], after[i])) continue;
          const probe = snap[i] as Request;
          const objection: Objection = {
            oracle: 'invariants',
            property: 'fail-nth',
            step: prefix.length + 2,
            message: `${commandName(request)} failed with an injected failure (fail_nth ${nth}: errno ${now.errno}) but left a visible change: ${probe.op} answered ${render(before[i])} before and ${render(after[i])} after`,
            expected: render(before[i]),
            observed: render(after[i]),
            probe: { request: probe, response: after[i] as Response },
            // A changed translation names the page-table format of the device's unit: the kernels' own leftovers are one driver's.
            signature: { command: commandName(request), expected: 'no change', observed: `${probe.op} changed${formatSuffix(s, probe, cx.unitFormat)}` },
          };
          if (isKnown(objection)) {
            divergent = true;
            continue;
          }
          const templates: StepTemplate[] = [...prefix.map((t) => t.template), { op: 'fail_nth', fields: { nth } }, step.template];
          return { objection, templates };
        }
        // Then every file closed: what outlives them is what it is without the failed ioctl.
        const closed = await afterClosing(s, supportedOps, timeoutMs, clock);
        const expected = await baseline();
        const j = closed.findIndex((line, k) => line !== expected[k]);
        if (j >= 0 || closed.length !== expected.length) {
          const k = j >= 0 ? j : Math.min(closed.length, expected.length);
          const objection: Objection = {
            oracle: 'invariants',
            property: 'fail-nth',
            step: prefix.length + 2,
            message: `${commandName(request)} failed with an injected failure (fail_nth ${nth}: errno ${now.errno}) and left something that outlives the session's files: once every file and VM was closed, ${closed[k] ?? '(nothing)'}, where without the failed ioctl ${expected[k] ?? '(nothing)'}`,
            expected: expected[k] ?? '(nothing)',
            observed: closed[k] ?? '(nothing)',
            signature: { command: commandName(request), expected: 'no change after closing', observed: 'a change after closing' },
          };
          if (isKnown(objection)) {
            divergent = true;
            continue;
          }
          const templates: StepTemplate[] = [...prefix.map((t) => t.template), { op: 'fail_nth', fields: { nth } }, step.template];
          return { objection, templates };
        }
        // Nothing visible: what it left may show once the case goes on, on a fresh session (this one released
        // first). After a known divergence nothing more is judged.
        if (rest.length && continueCase && !divergent) goOn = [...prefix.map((t) => t.template), { op: 'fail_nth', fields: { nth } }, step.template, ...rest];
      } catch (err) {
        broken = true;
        throw err;
      } finally {
        await release(adapter, broken);
      }
      const later = goOn && (await continueCase?.(goOn));
      if (later) return later;
    }
  }
  return undefined;
}
