/**
 * The differential oracle: the reference implementation (its own fresh
 * in-process instance, never the one under test) runs every step in lockstep
 * and predicts its result as an allowed set:
 *
 *  - object ids, fds, buffer/device/group/VM handles and user VAs are compared
 *    symbolically: the reference's side resolves a step's ids through a table
 *    that pairs each of the implementation's values with the reference's;
 *  - an automatic IOVA (IOAS_MAP / IOAS_COPY without FIXED_IOVA) is judged by
 *    the kernel's placement rules (io_pagetable.c: iopt_alloc_iova), not by
 *    equality; when the implementation chose another allowed IOVA, the
 *    reference is steered to it (unmap, re-map with FIXED_IOVA there) so the
 *    following steps compare like with like;
 *  - when a request carries several defects whose check order the uAPI leaves
 *    open, any of their errnos is allowed.
 */
import type { Capabilities, IoctlResult, Request, Response, StructValue } from '../../../spec/contract/types.ts';
import type { Profile } from '../../../spec/uapi/profiles.ts';
import { enumValue } from '../../../spec/uapi/lookup.ts';
import { ERRNO, errnoName } from '../../../spec/uapi/errno.ts';
import { render } from '../../programs/expect.ts';
import { stepSkipReason } from '../../programs/run.ts';
import { typeFeaturesOf } from '../../../spec/contract/features.ts';
import { ResolveError } from '../../programs/values.ts';
import { bindable, getPath, Ref, refPaths, resolveStep } from '../step.ts';
import { commandName, statusOf } from '../session.ts';
import { autoIovaAlignment, autoIovaViolation, decodeRanges, hexOf, PAGE, toBig, toNum, type Range } from '../ranges.ts';
import type { CaseContext, Objection, Oracle, PropertyGate, StepEvent } from './oracle.ts';
import type { ReferenceInstance } from '../reference.ts';

export type Namespace = 'id' | 'fd' | 'buffer' | 'device' | 'group' | 'vm' | 'va';

/** Fields named like ids that carry chosen values, not allocated ids. */
const NOT_IDS = new Set(['virt_id', 'vdev_id', 'option_id', 'cache_id', 'iotlb_id', 'data_type', 'pasid', 'object_id_unused']);

const NAMESPACES = new Map<string, Map<string, Namespace | undefined>>();

/** Which symbolic namespace a result leaf belongs to, by its name (as `iommufd-spec diff` does). */
export function namespaceOf(op: string, path: string): Namespace | undefined {
  // Every step asks this for every leaf of two results: the answer depends on (op, path) only.
  let byPath = NAMESPACES.get(op);
  if (byPath === undefined) NAMESPACES.set(op, (byPath = new Map()));
  if (byPath.has(path)) return byPath.get(path);
  const ns = leafNamespace(op, path);
  byPath.set(path, ns);
  return ns;
}

function leafNamespace(op: string, path: string): Namespace | undefined {
  const parts = path.split('.');
  const last = parts[parts.length - 1] as string;
  const leaf = /^\d+$/.test(last) && parts.length > 1 ? (parts[parts.length - 2] as string) : last;
  if (leaf === 'fd' || leaf === 'iommufd' || leaf.endsWith('_fd') || leaf === 'registeredFds') return 'fd';
  if (op === 'ioctl' && leaf === 'ret') return undefined;
  if (leaf === 'buffer') return 'buffer';
  if (leaf === 'device' && op !== 'ioctl') return 'device';
  if (leaf === 'group' && op !== 'ioctl') return 'group';
  if (leaf === 'vm') return 'vm';
  if (leaf === 'va' && op === 'mem_alloc') return 'va';
  if (NOT_IDS.has(leaf)) return undefined;
  if (leaf === 'id' || leaf.endsWith('_id') || leaf === 'out_devid') return 'id';
  return undefined;
}

/** Ops whose namespaced results are new handles (paired afresh, not checked against old pairs). */
const CREATORS = new Set(['open', 'open_device', 'mem_alloc', 'device_create', 'kvm_create']);

/** The two sides' values, paired per namespace. */
export class Symbols {
  private readonly fwd = new Map<string, unknown>();
  private readonly back = new Map<string, unknown>();
  private fresh = 0;

  private static key(ns: Namespace, v: unknown): string {
    return `${ns}:${typeof v === 'bigint' ? v.toString() : String(v)}`;
  }

  /** Pairs a (implementation) with b (reference), dropping older pairs of either. */
  pair(ns: Namespace, a: unknown, b: unknown): void {
    const ka = Symbols.key(ns, a);
    const kb = Symbols.key(ns, b);
    const oldB = this.fwd.get(ka);
    if (oldB !== undefined) this.back.delete(Symbols.key(ns, oldB));
    const oldA = this.back.get(kb);
    if (oldA !== undefined) this.fwd.delete(Symbols.key(ns, oldA));
    this.fwd.set(ka, b);
    this.back.set(kb, a);
  }

  /** The reference's value for an implementation value: its pair; itself when neither side knows it; else a value nothing has. */
  toRef(ns: Namespace, a: unknown): unknown {
    const b = this.fwd.get(Symbols.key(ns, a));
    if (b !== undefined) return b;
    if (!this.back.has(Symbols.key(ns, a))) return a;
    this.fresh++;
    return ns === 'fd' ? 900 + this.fresh : 0x7ff00000 + this.fresh;
  }

  /** Whether a and b are (or can be made) each other's pair. */
  same(ns: Namespace, a: unknown, b: unknown): boolean {
    const fb = this.fwd.get(Symbols.key(ns, a));
    const fa = this.back.get(Symbols.key(ns, b));
    if (fb === undefined && fa === undefined) {
      this.pair(ns, a, b);
      return true;
    }
    return fb !== undefined && Symbols.key(ns, fb) === Symbols.key(ns, b);
  }
}

interface Diff {
  readonly field: string;
  readonly expected: string;
  readonly observed: string;
}

/** Every leaf of a result by its dotted path (array items by index; bytes are leaves). */
export function leaves(v: unknown, prefix: string, into: Map<string, unknown>): Map<string, unknown> {
  if (v instanceof Uint8Array || typeof v !== 'object' || v === null) {
    into.set(prefix, v);
    return into;
  }
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) leaves(v[i], prefix ? `${prefix}.${i}` : String(i), into);
    return into;
  }
  for (const k in v) leaves((v as Record<string, unknown>)[k], prefix ? `${prefix}.${k}` : k, into);
  return into;
}

/** The keys of a, then those of b that a has not: the union, in order, without building it. */
function* unionKeys<K>(a: ReadonlyMap<K, unknown>, b: ReadonlyMap<K, unknown>): Generator<K> {
  yield* a.keys();
  for (const k of b.keys()) if (!a.has(k)) yield k;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === undefined && (b === 0 || b === 0n)) return true;
  if (b === undefined && (a === 0 || a === 0n)) return true;
  if (a instanceof Uint8Array && b instanceof Uint8Array) return a.length === b.length && a.every((x, i) => x === b[i]);
  // A number and a bigint are the same integer when they compare equal (== does not coerce a fraction to a bigint).
  if ((typeof a === 'number' && typeof b === 'bigint') || (typeof a === 'bigint' && typeof b === 'number')) return Number.isInteger(typeof a === 'number' ? a : b) && a == b;
  return false;
}


export class DifferentialOracle implements Oracle {
  readonly name = 'differential' as const;
  private ref: ReferenceInstance | undefined;
  private ctx!: CaseContext;
  private refBindings = new Map<string, unknown>();
  private kinds = new Map<string, Namespace | 'object'>();
  private symbols = new Symbols();
  /** Allowed IOVA ranges per (reference fd, IOAS id), from ALLOW_IOVAS the reference accepted. */
  private allowed = new Map<string, Range[]>();
  private expected = new Map<number, Response>();
  /** Set when a known divergence made the two states part: no more comparisons this case. */
  private dormant: string | undefined;
  /** The reference's own capability report: what it does not model, it cannot predict. */
  private refCaps: Capabilities | undefined;

  constructor(
    private readonly profile: Profile,
    private readonly openRef: () => Promise<ReferenceInstance>,
  ) {}

  gates(): readonly PropertyGate[] {
    return [{ property: 'differential' }];
  }

  async begin(ctx: CaseContext): Promise<void> {
    this.ctx = ctx;
    this.ref = await this.openRef();
    this.refCaps = await referenceCapabilities(this.profile, this.ref);
  }

  expectedOf(step: number): Response | undefined {
    return this.expected.get(step);
  }

  /** Known divergences (expectations) part the states: stop comparing. */
  sleep(why: string): void {
    this.dormant = why;
  }

  private lookup(ev: StepEvent) {
    return (ref: Ref, field: string): unknown => {
      const kind = this.kinds.get(ref.name);
      if (!this.refBindings.has(ref.name) || kind === undefined) throw new ResolveError(field, `$${ref.name} is not bound on the reference's side`);
      if (kind !== 'object' && ref.path === '' && (kind === 'id' || kind === 'fd')) return this.symbols.toRef(kind, ev.bindings.get(ref.name));
      const v = getPath(this.refBindings.get(ref.name), ref.path);
      if (v === undefined) throw new ResolveError(field, `$${ref.name}.${ref.path} has no value on the reference's side`);
      return v;
    };
  }

  step(ev: StepEvent): readonly Objection[] | Promise<readonly Objection[]> {
    if (this.dormant || !this.ref) return [];
    let refReq: Request;
    try {
      refReq = resolveStep(ev.template, this.lookup(ev));
    } catch (err) {
      if (!(err instanceof ResolveError)) throw err;
      this.dormant = err.message;
      return [];
    }
    // A command (or test op) the reference does not model: no prediction. An implementation that
    // refused it changed nothing, so the two sides stay comparable; one that carried it out has a
    // state the reference cannot follow, so comparisons stop for the rest of the case.
    const unmodelled = this.refCaps ? stepSkipReason(refReq, this.refCaps) : undefined;
    if (unmodelled) {
      if (statusOf(ev.request, ev.response).status === 'ok') this.dormant = `the reference does not model ${unmodelled}`;
      return [];
    }
    const answer = this.ref.call(refReq);
    return answer instanceof Promise ? answer.then((refRes) => this.judge(ev, refReq, refRes)) : this.judge(ev, refReq, answer);
  }

  /** The step against the reference's answer: synchronous unless the reference must be steered. */
  private judge(ev: StepEvent, refReq: Request, refRes: Response): readonly Objection[] | Promise<readonly Objection[]> {
    const gap = this.referenceGap(refReq, refRes);
    if (gap) {
      if (statusOf(ev.request, ev.response).status === 'ok') this.dormant = `the reference does not model ${gap}`;
      return [];
    }
    this.expected.set(ev.step, refRes);
    this.ctx.count('differential');
    const objections = this.compare(ev, refReq, refRes);
    const done = (): readonly Objection[] => {
      this.bind(ev, refReq, refRes);
      this.track(refReq, refRes);
      return objections;
    };
    if (objections.length === 0 && this.autoIovaDiffers(ev, refReq, refRes)) return this.steer(ev, refReq, refRes, objections).then(done);
    return done();
  }

  /**
   * A type value the reference reports unsupported (ADAPTER.md §4 features: a
   * nested data type, say), refused by it with EOPNOTSUPP: the reference made
   * the core's checks before the driver and then stopped where the kernel's
   * driver decides, so its EOPNOTSUPP is its gap, not a prediction (the
   * driver may build the HWPT, or refuse its data with EINVAL). An answer
   * from the core's checks before that point (EINVAL for a parent that is no
   * nesting parent, say) is still judged.
   */
  private referenceGap(refReq: Request, refRes: Response): string | undefined {
    if (refReq.op !== 'ioctl' || refReq.arg.kind !== 'struct' || typeof refReq.cmd !== 'string' || !this.refCaps) return undefined;
    if (statusOf(refReq, refRes).errno !== ERRNO.EOPNOTSUPP) return undefined;
    for (const name of typeFeaturesOf(this.profile, refReq.cmd, refReq.arg.fields)) {
      const support = this.refCaps.features?.[name];
      if (!support?.supported) return `${refReq.cmd} with ${name}: ${support ? support.reason : 'not reported'}`;
    }
    return undefined;
  }

  /** Whether the implementation placed an automatic IOVA where the reference did not (steer's work). */
  private autoIovaDiffers(ev: StepEvent, refReq: Request, refRes: Response): boolean {
    const path = this.autoIovaPath(ev.request);
    if (!path || refReq.op !== 'ioctl' || refReq.arg.kind !== 'struct' || !this.ref) return false;
    if (statusOf(ev.request, ev.response).status !== 'ok' || statusOf(refReq, refRes).status !== 'ok') return false;
    return toBig(((ev.response as { result: IoctlResult }).result.out as StructValue)[path]) !== toBig(((refRes as { result: IoctlResult }).result.out as StructValue)[path]);
  }

  private objection(ev: StepEvent, message: string, expected: string, observed: string): Objection {
    return {
      oracle: 'differential',
      property: 'differential',
      step: ev.step,
      message,
      expected,
      observed,
      signature: { command: commandName(ev.request), expected, observed },
    };
  }

  private compare(ev: StepEvent, refReq: Request, refRes: Response): Objection[] {
    const a = statusOf(ev.request, ev.response);
    const b = statusOf(refReq, refRes);
    const show = (s: { status: string; errno?: number; reason?: string }): string =>
      s.status === 'ok' ? 'ok' : s.status === 'failed' ? errnoName(s.errno ?? 0) ?? `E#${s.errno}` : s.status === 'error' ? `error (${(s.reason ?? '').split(':')[0]})` : 'skipped';
    if (b.status === 'skipped' || a.status === 'skipped') return [];
    if (a.status !== b.status) {
      return [this.objection(ev, `the reference answers ${show(b)}, the implementation ${show(a)}`, show(b), show(a))];
    }
    if (a.status === 'error') {
      const ca = !ev.response.ok ? ev.response.error.code : '';
      const cb = !refRes.ok ? refRes.error.code : '';
      return ca === cb ? [] : [this.objection(ev, `the reference refuses the request with ${cb}, the implementation with ${ca}`, cb, ca)];
    }
    if (a.status === 'failed' && a.errno !== b.errno) {
      const allowed = new Set([b.errno ?? 0]);
      const defects = ev.template.defects ?? [];
      if (ev.request.op === 'ioctl' && !defects.some((d) => d.dispatch)) {
        for (const d of defects) {
          const n = errnoNumberOf(d.errno);
          if (n !== undefined) allowed.add(n);
        }
      }
      if (!allowed.has(a.errno ?? 0)) {
        const set = [...allowed].map((e) => errnoName(e) ?? `E#${e}`).join('|');
        return [this.objection(ev, `the reference answers ${set}, the implementation ${show(a)}`, set, show(a))];
      }
    }
    const diffs = this.compareValues(ev, refReq, refRes);
    if (diffs.length === 0) return [];
    const head = diffs.slice(0, 4).map((d) => `${d.field}: expected ${d.expected}, got ${d.observed}`).join('; ');
    return [this.objection(ev, `${show(a)} on both sides, but ${head}${diffs.length > 4 ? ` (+${diffs.length - 4} more)` : ''}`, diffs.map((d) => `${d.field}=${d.expected}`).join(','), diffs.map((d) => `${d.field}=${d.observed}`).join(','))];
  }

  private autoIovaPath(req: Request): string | undefined {
    if (req.op !== 'ioctl' || req.arg.kind !== 'struct') return undefined;
    const fixed = enumValue(this.profile, 'IOMMU_IOAS_MAP_FIXED_IOVA') ?? 1;
    const flags = toNum(req.arg.fields['flags']);
    if (flags & fixed) return undefined;
    if (req.cmd === 'IOMMU_IOAS_MAP') return 'iova';
    if (req.cmd === 'IOMMU_IOAS_COPY') return 'dst_iova';
    return undefined;
  }

  private compareValues(ev: StepEvent, refReq: Request, refRes: Response): Diff[] {
    if (!ev.response.ok || !refRes.ok) return [];
    const op = ev.request.op;
    if (op === 'iotlb' || op === 'capabilities') return [];
    const diffs: Diff[] = [];
    const creator = CREATORS.has(op);
    const inputRefs = refPaths(ev.template);
    if (op === 'ioctl') {
      const ra = ev.response.result as IoctlResult;
      const rb = refRes.result as IoctlResult;
      if (ra.ret !== rb.ret) diffs.push({ field: 'ret', expected: String(rb.ret), observed: String(ra.ret) });
      const auto = this.autoIovaPath(ev.request);
      const la = leaves(ra.out, '', new Map());
      const lb = leaves(rb.out, '', new Map());
      const sent = ev.request.arg.kind === 'struct' ? ev.request.arg.fields : {};
      const refSent = refReq.op === 'ioctl' && refReq.arg.kind === 'struct' ? refReq.arg.fields : {};
      const autoOk = auto !== undefined && statusOf(ev.request, ev.response).status === 'ok';
      // Pointer members the step filled ({data} / {room}) hold each side's own scratch address: not compared.
      const pointers = pointerPaths(ev.template.fields['arg']);
      for (const path of unionKeys(la, lb)) {
        if (autoOk && path === auto) continue; // judged by the placement rules (steer)
        if (pointers !== undefined && pointers.has(path)) continue;
        const x = la.get(path);
        const y = lb.get(path);
        const ns = namespaceOf('ioctl', path);
        const fromRef = inputRefs.size > 0 ? inputRefs.get(`arg.fields.${path}`) : undefined;
        if ((ns === 'id' || ns === 'fd') && fromRef) {
          // An id or fd the step sent by reference (an access fd in `id`, an IOAS in `pt_id`): each
          // side sent its own value; both must leave it, or both replace it with paired values.
          const keptA = sameValue(x, getPath(sent, path));
          const keptB = sameValue(y, getPath(refSent, path));
          if (keptA !== keptB || (!keptA && x !== undefined && y !== undefined && !this.symbols.same(ns, x, y))) diffs.push({ field: `out.${path}`, expected: keptB ? 'unchanged' : render(y), observed: keptA ? 'unchanged' : render(x) });
          continue;
        }
        if (ns === 'id' || ns === 'fd') {
          if (path.split('.').pop()?.startsWith('out_')) {
            if (x !== undefined && y !== undefined) this.symbols.pair(ns, x, y);
            continue;
          }
          if (x !== undefined && y !== undefined && !this.symbols.same(ns, x, y)) diffs.push({ field: `out.${path}`, expected: render(y), observed: render(x) });
          continue;
        }
        if (fromRef) {
          // An input the two sides resolve differently (a VA, a bound IOVA): both must leave it as sent.
          const inA = getPath(sent, path);
          const inB = getPath(refSent, path);
          if (sameValue(x, inA) !== sameValue(y, inB)) diffs.push({ field: `out.${path}`, expected: sameValue(y, inB) ? 'unchanged' : render(y), observed: sameValue(x, inA) ? 'unchanged' : render(x) });
          continue;
        }
        if (!sameValue(x, y)) diffs.push({ field: `out.${path}`, expected: render(y), observed: render(x) });
      }
      for (const key of new Set([...Object.keys(ra.buffers ?? {}), ...Object.keys(rb.buffers ?? {})])) {
        const x = ra.buffers?.[key];
        const y = rb.buffers?.[key];
        if (!sameValue(x, y)) diffs.push({ field: `buffers.${key}`, expected: render(y), observed: render(x) });
      }
      return diffs;
    }
    const la = leaves(ev.response.result, '', new Map());
    const lb = leaves(refRes.result, '', new Map());
    for (const path of unionKeys(la, lb)) {
      const x = la.get(path);
      const y = lb.get(path);
      const ns = namespaceOf(op, path);
      if (ns) {
        if (x === undefined || y === undefined) {
          if (x !== y) diffs.push({ field: `result.${path}`, expected: render(y), observed: render(x) });
          continue;
        }
        if (creator) this.symbols.pair(ns, x, y);
        else if (!this.symbols.same(ns, x, y)) diffs.push({ field: `result.${path}`, expected: render(y), observed: render(x) });
        continue;
      }
      if (!sameValue(x, y)) diffs.push({ field: `result.${path}`, expected: render(y), observed: render(x) });
    }
    return diffs;
  }

  /** Binds the step's names on the reference's side and pairs ids/fds with the implementation's. */
  private bind(ev: StepEvent, refReq: Request, refRes: Response): void {
    if (!ev.template.bind) return;
    const ok = statusOf(refReq, refRes).status === 'ok';
    const base = bindable(ev.template.op, refRes.ok ? refRes.result : undefined);
    for (const [name, path] of Object.entries(ev.template.bind)) {
      const v = ok ? getPath(base, path) : undefined;
      if (v === undefined) {
        this.refBindings.delete(name);
        this.kinds.delete(name);
        continue;
      }
      this.refBindings.set(name, v);
      const ns = typeof v === 'object' ? undefined : namespaceOf(ev.template.op, path === '.' ? '' : path);
      this.kinds.set(name, ns ?? 'object');
      const mine = ev.bound.get(name);
      if (ns && mine !== undefined) this.symbols.pair(ns, mine, v);
    }
  }

  /** What the placement judgement needs that no query returns: the allowed ranges. */
  private track(refReq: Request, refRes: Response): void {
    if (refReq.op !== 'ioctl' || refReq.cmd !== 'IOMMU_IOAS_ALLOW_IOVAS' || refReq.arg.kind !== 'struct') return;
    if (statusOf(refReq, refRes).status !== 'ok') return;
    const f = refReq.arg.fields;
    const n = toNum(f['num_iovas']);
    const p = f['allowed_iovas'] as { data?: Uint8Array } | undefined;
    this.allowed.set(`${refReq.fd}:${toNum(f['ioas_id'])}`, n === 0 || !p?.data ? [] : decodeRanges(p.data, n));
  }

  /** Judges an automatic IOVA the implementation chose, and steers the reference to it. */
  private async steer(ev: StepEvent, refReq: Request, refRes: Response, objections: Objection[]): Promise<void> {
    const path = this.autoIovaPath(ev.request);
    if (!path || refReq.op !== 'ioctl' || refReq.arg.kind !== 'struct' || !this.ref) return;
    if (statusOf(ev.request, ev.response).status !== 'ok' || statusOf(refReq, refRes).status !== 'ok') return;
    const x = toBig(((ev.response as { result: IoctlResult }).result.out as StructValue)[path]);
    const y = toBig(((refRes as { result: IoctlResult }).result.out as StructValue)[path]);
    if (x === y) return;
    const f = refReq.arg.fields;
    const ioasField = refReq.cmd === 'IOMMU_IOAS_MAP' ? 'ioas_id' : 'dst_ioas_id';
    const length = toBig(f['length']);
    // The alignment follows the implementation's own user address (its process's mapping);
    // IOAS_COPY places by the source pages' user address, which the request does not carry.
    const implFields = ev.request.op === 'ioctl' && ev.request.arg.kind === 'struct' ? ev.request.arg.fields : {};
    const uptr = refReq.cmd === 'IOMMU_IOAS_MAP' ? toBig(implFields['user_va']) : 'unknown';
    const why = await this.placementViolation(refReq.fd, toNum(f[ioasField]), x, length, uptr);
    if (why) {
      objections.push(this.objection(ev, `automatic IOVA ${hexOf(x)} is not one the kernel's placement can choose: ${why}`, `an IOVA by iopt_alloc_iova's rules (the reference chose ${hexOf(y)})`, hexOf(x)));
      return;
    }
    // Steer: remove the reference's area, map again at the implementation's IOVA.
    const unmap = await this.ref.call({ op: 'ioctl', fd: refReq.fd, cmd: 'IOMMU_IOAS_UNMAP', arg: { kind: 'struct', fields: { ioas_id: f[ioasField] ?? 0, iova: y, length } } });
    const fixed = BigInt(enumValue(this.profile, 'IOMMU_IOAS_MAP_FIXED_IOVA') ?? 1);
    const again: Request = { ...refReq, arg: { kind: 'struct', fields: { ...f, flags: toNum(f['flags']) | Number(fixed), [path]: x } } };
    const remap = await this.ref.call(again);
    const s = statusOf(again, remap);
    if (statusOf(refReq, unmap).status !== 'ok' || s.status !== 'ok') {
      objections.push(this.objection(ev, `automatic IOVA ${hexOf(x)} collides with what the IOAS holds: the reference refuses a fixed map there (${s.status === 'failed' ? errnoName(s.errno ?? 0) : s.reason})`, `a free IOVA (the reference chose ${hexOf(y)})`, hexOf(x)));
      return;
    }
    ((refRes as { result: IoctlResult }).result.out as Record<string, unknown>)[path] = x;
  }

  /** iopt_alloc_iova's rules that a fixed map does not check: window, allowed ranges, alignment. */
  private async placementViolation(fd: number, ioasId: number, x: bigint, length: bigint, uptr: bigint | 'unknown'): Promise<string | undefined> {
    if (length === 0n) return 'length 0';
    const outside = autoIovaViolation({ start: x, last: x + length - 1n }, this.allowed.get(`${fd}:${ioasId}`) ?? []);
    if (outside) return outside;
    if (uptr === 'unknown') return undefined;
    const align = autoIovaAlignment(uptr, length);
    const pageOffset = uptr % PAGE;
    if (((x & ~(align - 1n)) | pageOffset) !== x) return `not aligned as the user address asks (alignment ${hexOf(align)}, page offset ${hexOf(pageOffset)})`;
    return undefined;
  }

  async end(): Promise<readonly Objection[]> {
    return [];
  }

  async close(): Promise<void> {
    await this.ref?.close();
    this.ref = undefined;
  }
}

/** The dotted member paths of a struct argument's template that are {data}/{room} pointers (undefined when none). */
function pointerPaths(arg: unknown): Set<string> | undefined {
  const fields = typeof arg === 'object' && arg !== null ? (arg as { fields?: unknown }).fields : undefined;
  let out: Set<string> | undefined;
  const walk = (v: unknown, path: string): void => {
    if (isPointerArg(v)) {
      (out ??= new Set()).add(path);
      return;
    }
    if (typeof v !== 'object' || v === null || v instanceof Uint8Array || v instanceof Ref) return;
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}.${i}`));
    else for (const k in v) walk((v as Record<string, unknown>)[k], path ? `${path}.${k}` : k);
  };
  walk(fields, '');
  return out;
}

function isPointerArg(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && !Array.isArray(v) && ('room' in v || 'data' in v) && Object.keys(v).length === 1;
}

const refCapsCache = new Map<Profile, Capabilities>();

/** The reference's capability report (the same for every instance of a profile). */
async function referenceCapabilities(profile: Profile, ref: ReferenceInstance): Promise<Capabilities | undefined> {
  const known = refCapsCache.get(profile);
  if (known) return known;
  const r = await ref.call({ op: 'capabilities' });
  if (!r.ok) return undefined;
  refCapsCache.set(profile, r.result as Capabilities);
  return r.result as Capabilities;
}

function errnoNumberOf(name: string): number | undefined {
  return (ERRNO as unknown as Record<string, number>)[name];
}

