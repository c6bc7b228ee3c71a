/**
 * fast-check commands for every ioctl the adapter reports and every
 * environment op it serves (fc.commands + fc.asyncModelRun). A command is a
 * *choice* generated before anything runs; at run time it picks its operands
 * from the model's pools (gen/model.ts), builds a step template, runs it
 * through the case session (all oracles), and files what the implementation
 * bound back into the pools.
 *
 * The struct fields, flag bits, sizes and reserved fields come from spec/uapi
 * (gen/abi.ts applies the ABI defects to every struct argument); the value
 * strategies here only say which pool or which interesting value feeds which
 * field. Commands the capability report lacks are not generated.
 */
import fc from 'fast-check';
import type { Capabilities, IommuInstanceInfo } from '../../../spec/contract/types.ts';
import { commandByName, commandsFor, enumValue, testOpByName } from '../../../spec/uapi/lookup.ts';
import { MOCK_ACCESS_RW_WRITE, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES, MOCK_FLAGS_ACCESS_WRITE, MOCK_PAGE_SIZE } from '../../../spec/uapi/constants.ts';
import type { Profile } from '../../../spec/uapi/profiles.ts';
import { arbStruct } from '../../../spec/abi/arbitrary.ts';
import { buildIoctlArg } from '../../../spec/abi/arg.ts';
import { requireLayout } from '../../../spec/uapi/layout.ts';
import { decodeRanges, encodeRanges, PAGE, U64_MAX, type Range } from '../ranges.ts';
import type { CaseSession, TraceStep } from '../session.ts';
import { type Defect, Ref, type StepTemplate, type Tmpl } from '../step.ts';
import { type AbiChoice, abiChoiceFor, applyAbi, otherRequest, type RequestBits } from './abi.ts';
import { type AccEntry, type AreaEntry, type BufEntry, type CaseSetting, type CtxEntry, DEFAULT_SETTING, type DevEntry, type DfdEntry, GenModel, type ItemEntry, type ObjEntry, type ObjKind, pick, type VmEntry } from './model.ts';
import { HPAGE, type IdChoice, idChoice, idOf, type IovaBounds, type IovaChoice, iovaChoice, iovaOf, type LenChoice, lenChoice, lengthOf, smallBytes, type VaChoice, vaChoice, vaOf } from './values.ts';

export type SuiteCommand = fc.AsyncCommand<GenModel, CaseSession>;

/** One kind of command: its choice arbitrary, when it can run, and how it builds its step. */
export interface CommandSpec<C> {
  /** Swarm key and name (an ioctl name, `ioctl/test op`, or an op). */
  readonly kind: string;
  readonly weight: number;
  readonly arb: fc.Arbitrary<C>;
  /** What must exist first; missing ones are created by their constructors (syzkaller's createResource). */
  readonly needs?: readonly Need[];
  ready(m: GenModel): boolean;
  build(m: GenModel, c: C): StepTemplate | undefined;
  after?(m: GenModel, c: C, t: StepTemplate, step: TraceStep, s: CaseSession): void;
  /** The steps that complete this one, run right after it (after `after`), in order: part of the same command, shrunk with it. */
  follow?(m: GenModel, c: C, t: StepTemplate, step: TraceStep): StepTemplate | readonly StepTemplate[] | undefined;
  /** Book-keeping of each follow-up step, where one changes what the model tracks. */
  afterFollow?(m: GenModel, c: C, t: StepTemplate, step: TraceStep): void;
}

/** One command of a spec: build, run, book-keep, and its follow-up step if it has one. */
async function runSpec<C>(spec: CommandSpec<C>, m: GenModel, s: CaseSession, choice: C): Promise<void> {
  const t = spec.build(m, choice);
  if (!t) return;
  const step = await s.exec(t);
  spec.after?.(m, choice, t, step, s);
  const next = spec.follow?.(m, choice, t, step);
  for (const n of Array.isArray(next) ? (next as readonly StepTemplate[]) : next ? [next as StepTemplate] : []) {
    const done = await s.exec(n);
    spec.afterFollow?.(m, choice, n, done);
  }
}

export type Need = 'setting' | 'sharedDomain' | 'ctx' | 'ioas' | 'buf' | 'area' | 'dev' | 'dfd' | 'bound' | 'attached' | 'mappedDevice' | 'devid' | 'hwpt' | 'vm' | 'acc' | 'compat' | 'stdev' | 'ctx2' | 'groupPair' | 'groupAttached' | 'looseSibling' | 'peerPair' | 'areaPair' | 'vmMixed' | 'vmHeldMapped' | 'groupBothAttached' | 'allowedIoas' | 'compatV1Device' | 'bareArea' | 'accSiblings' | 'spanPair' | 'wholeSpan' | 'loneSpan' | 'crossUnit' | 'unalignedIoas' | 'tightHole' | 'awayHwpt' | 'roSpan' | 'leafRun' | 'mixedGroup' | 'barePair' | 'mockPair' | 'freshCtx' | 'groupSpread' | 'compatAccess' | 'twoUnits' | 'ctx2Pinning' | 'growPair' | 'tagReuse';

/**
 * Runs the constructors of what a command needs (set by caseArb once the
 * specs exist); undefined when the need is met already (no promise to await:
 * each await is a turn of the microtask queue).
 */
export type Ensure = (m: GenModel, s: CaseSession, need: Need) => Promise<void> | undefined;

class GenCommand<C> implements SuiteCommand {
  constructor(
    readonly spec: CommandSpec<C>,
    readonly choice: C,
    private readonly ensure: Ensure,
  ) {}
  check(m: Readonly<GenModel>): boolean {
    return m.on(this.spec.kind) && this.spec.ready(m as GenModel);
  }
  async run(m: GenModel, s: CaseSession): Promise<void> {
    const setting = this.ensure(m, s, 'setting');
    if (setting) await setting;
    for (const need of this.spec.needs ?? []) await this.ensure(m, s, need);
    await runSpec(this.spec, m, s, this.choice);
  }
  toString(): string {
    return `${this.spec.kind}(${fc.stringify(this.choice)})`;
  }
}

// ---------------------------------------------------------------- helpers

interface GenEnv {
  readonly profile: Profile;
  readonly caps: Capabilities;
  /** The ABI choices of one command's struct (gen/abi.ts abiChoiceFor); `detaching`: a read-only
   * argument too for a command whose faulting answer detaches (the caller drops it where that is no unwind). */
  /** The ABI choices of a command (of one IOMMU_TEST_CMD op, where its answer fault unwinds). */
  abiFor(cmd: string, detaching?: boolean, testOp?: string): fc.Arbitrary<AbiChoice>;
}

const ok = (step: TraceStep): boolean => step.status === 'ok';

const PAGE_BYTES = Number(PAGE);
/** Pages of a new buffer that get their own bytes (a write of the buffer's start). */
const STAMP_PAGES = 4;
/** Pseudo-random bytes (mulberry32, fixed seed): no two pages or buffers of a case start alike. */
const STAMP = ((): Uint8Array => {
  const out = new Uint8Array(2 * STAMP_PAGES * PAGE_BYTES);
  let a = 0x1f2e3d4c;
  for (let i = 0; i < out.length; i += 4) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const x = (t ^ (t >>> 14)) >>> 0;
    out[i] = x & 0xff;
    out[i + 1] = (x >>> 8) & 0xff;
    out[i + 2] = (x >>> 16) & 0xff;
    out[i + 3] = x >>> 24;
  }
  return out;
})();

/** The stamp of the k-th buffer of a case: a window of STAMP at an offset of its own (a view: nothing is copied). */
function stampOf(k: number, pages: number): Uint8Array {
  const at = (k * 1031) % (STAMP_PAGES * PAGE_BYTES);
  return STAMP.subarray(at, at + Math.min(pages, STAMP_PAGES) * PAGE_BYTES);
}

/** What a caller's buffer holds before an ioctl writes it: none of it zero, so a byte written shows. */
const SLACK_BYTES = new Uint8Array(256).map((_, i) => (0xa5 ^ i) | 1);

/** IOMMU_IOAS_MAP's flag bits. */
function mapFlags(p: Profile): { fixed: number; write: number; read: number } {
  return { fixed: v(p, 'IOMMU_IOAS_MAP_FIXED_IOVA'), write: v(p, 'IOMMU_IOAS_MAP_WRITEABLE'), read: v(p, 'IOMMU_IOAS_MAP_READABLE') };
}

function v(p: Profile, name: string): number {
  const n = enumValue(p, name);
  if (n === undefined) throw new Error(`spec/uapi has no ${name} in profile ${p}`);
  return n;
}

function ioctlStep(env: GenEnv, cmdName: string, fd: Tmpl, fields: { [k: string]: Tmpl }, abi: AbiChoice, opts: { bind?: { [n: string]: string }; defects?: Defect[] } = {}): StepTemplate | undefined {
  const cmd = commandByName(env.profile, cmdName);
  if (!cmd) return undefined;
  const applied = applyAbi(env.profile, cmd, fields, abi);
  const defects = [...(opts.defects ?? []), ...applied.defects];
  return {
    op: 'ioctl',
    fields: { fd, cmd: cmdName, arg: applied.arg as unknown as Tmpl },
    ...(opts.bind && { bind: opts.bind }),
    ...(defects.length > 0 && { defects }),
  };
}

const requestBits = fc.constantFrom<RequestBits>('type', 'dir', 'dir', 'size', 'size');

/**
 * A command issued with a request number that is no command's (gen/abi.ts
 * otherRequest: its nr with other type, direction or size bits), its argument
 * literal: the struct of `fields` as raw bytes, or `value` as an integer (the
 * number names no struct to encode). Every dispatcher matches whole numbers
 * (iommufd_fops_ioctl: op->ioctl_num != cmd; VFIO's switches): refused before
 * anything runs. Only commands whose argument needs no earlier binding qualify.
 */
function otherRequestStep(env: GenEnv, fd: Tmpl, cmdName: string, bits: RequestBits, arg: { readonly fields: { readonly [k: string]: number | bigint } } | { readonly value: bigint }): StepTemplate | undefined {
  const cmd = commandByName(env.profile, cmdName);
  const request = otherRequest(env.profile, cmdName, bits);
  if (!cmd || request === undefined) return undefined;
  let built: Tmpl;
  if ('value' in arg) built = { kind: 'int', value: arg.value };
  else {
    const b = buildIoctlArg(env.profile, cmd, { kind: 'struct', fields: arg.fields });
    if (b.kind !== 'bytes') return undefined;
    built = { kind: 'raw', bytes: b.bytes };
  }
  const defects: Defect[] = [{ what: `request number 0x${request.toString(16)} (${cmdName}'s nr with other ${bits} bits)`, errno: 'ENOTTY', abi: true, dispatch: true }];
  return { op: 'ioctl', fields: { fd, cmd: request, arg: built }, defects };
}

/** A context fd: mostly an open one, sometimes one already closed (EBADF). */
/** Open contexts whose object table never held anything (the accounting mode can still change). */
function freshCtxs(m: GenModel): CtxEntry[] {
  return m.openCtxs().filter((x) => !m.objs.some((o) => o.ctx === x.name));
}

/** A page range of a buffer (a pool pick; `page` and `pages` cut to the buffer): the fields of pin_count, mem_unmap, mem_protect. */
function bufPages(m: GenModel, c: { k: number; page: number; pages: number }): { [k: string]: Tmpl } {
  const b = pick(m.bufs, c.k) as { name: string; length: number };
  const total = Math.max(1, Math.floor(b.length / 4096));
  const first = c.page % total;
  const n = Math.min(c.pages, total - first);
  return { buffer: new Ref(b.name, 'buffer'), offset: first * 4096, length: n * 4096 };
}

function ctxOf(m: GenModel, k: number): CtxEntry | undefined {
  if (k % 23 === 22) return pick(m.ctxs, k);
  return pick(m.openCtxs(), k) ?? pick(m.ctxs, k);
}

/** An id defect the uAPI names (ENOENT for an id that does not exist). */
function idDefects(c: IdChoice, o: ObjEntry | undefined): Defect[] {
  if (c.kind === 'live') return [];
  if (!o || !o.alive || c.kind === 'otherCtx') return [{ what: 'an id that does not exist', errno: 'ENOENT' }];
  return [{ what: `an id of the wrong type (${o.kind})`, errno: 'ENOENT' }, { what: 'an id of the wrong type', errno: 'EINVAL' }];
}

function supported(caps: Capabilities, cmd: string): boolean {
  return caps.commands[cmd]?.supported === true;
}

function testOpSupported(env: GenEnv, op: string): boolean {
  return supported(env.caps, 'IOMMU_TEST_CMD') && env.caps.testOps[op]?.supported === true && testOpByName(env.profile, op) !== undefined;
}

function opSupported(caps: Capabilities, op: keyof Capabilities['ops']): boolean {
  return caps.ops[op]?.supported === true;
}

function areasFor(m: GenModel, ctx: CtxEntry | undefined, ioas: string | undefined): AreaEntry[] {
  const exact = m.liveAreas(ctx?.name, ioas);
  return exact.length > 0 ? exact : m.liveAreas(ctx?.name);
}

/**
 * What bounds an IOAS's IOVAs: what it is known to reserve, its own ranges
 * (IOMMU_TEST_OP_ADD_RESERVED) and the region of each device with one of its
 * own attached to it, and the units of the devices attached to it.
 */
function boundsFor(m: GenModel, ioas: string | undefined): IovaBounds {
  const own = m.objs.find((o) => o.name === ioas && o.kind === 'ioas')?.reserved ?? [];
  const attached = m.dfds.filter((d) => d.open && m.objs.find((h) => h.name === d.attached && h.alive)?.ioas === ioas);
  const held = attached.some((d) => d.dev.resv);
  const units = ioas === undefined ? [] : [...new Set(attached.map((d) => d.dev.iommu))];
  return { reserved: held ? [...own, { start: DEVICE_RESV_IOVA, last: DEVICE_RESV_IOVA + BigInt(DEVICE_RESV_PAGES) * PAGE - 1n }] : [...own], units };
}

/**
 * The context a device file binds to: usually `ctxOf(k)`; for one k in four, a
 * context other than the one a device of the same iommu group is bound to, when
 * there is one (the group-ownership rule: iommu_device_claim_dma_owner, EPERM).
 */
function bindCtx(m: GenModel, d: DfdEntry, k: number, to?: string): CtxEntry {
  const named = to === undefined ? undefined : m.ctxs.find((x) => x.name === to);
  if (named) return named;
  const chosen = ctxOf(m, k) as CtxEntry;
  if (k % 4 !== 3) return chosen;
  const sibling = m.dfds.find((x) => x !== d && x.open && x.ctx && x.dev.group === d.dev.group);
  if (!sibling || chosen.name !== sibling.ctx) return chosen;
  // Another context, one that pins pages where there is one: a refused bind must leave it as it
  // was, and what it pins is what shows a reference the refusal kept on it once it is closed.
  const others = m.openCtxs().filter((x) => x.name !== sibling.ctx);
  const pinning = others.find((x) => m.liveAreas(x.name).length > 0 && m.objs.some((o) => o.alive && o.kind === 'hwpt' && o.ctx === x.name));
  return pinning ?? others[0] ?? chosen;
}

/**
 * For one dfd pick in four: when another device of the same iommu group is
 * attached in this context, a live IOAS other than its HWPT's (the one-HWPT-
 * per-group rule: iommufd_hw_pagetable_attach, EINVAL).
 */
function siblingPt(m: GenModel, d: DfdEntry, ctx: string, k: number, c: IdChoice): { id: Tmpl; obj?: ObjEntry } | undefined {
  if (k % 4 !== 3 || c.kind !== 'live') return undefined;
  const sibling = m.dfds.find((x) => x !== d && x.open && x.ctx === ctx && x.attached && x.dev.group === d.dev.group);
  const hwpt = sibling && m.objs.find((o) => o.name === sibling.attached);
  if (!hwpt?.ioas) return undefined;
  const other = m.objs.find((o) => o.alive && o.kind === 'ioas' && o.ctx === ctx && o.name !== hwpt.ioas);
  return other && { id: new Ref(other.name), obj: other };
}

/** Pairs of live areas of one IOAS, lower first, the upper one longer than a page (so a range can end inside it). */
function areaPairs(m: GenModel): [AreaEntry, AreaEntry][] {
  const live = m.liveAreas().filter((a) => m.ctxs.find((c) => c.name === a.ctx)?.open);
  return live.flatMap((lo) => live.filter((hi) => hi !== lo && hi.ctx === lo.ctx && hi.ioas === lo.ioas && hi.iova > lo.iova && hi.length > PAGE).map((hi): [AreaEntry, AreaEntry] => [lo, hi]));
}

/** Live areas longer than a page, page-aligned, that an access item the model knows pins pages of. */
function pinnedAreas(m: GenModel): AreaEntry[] {
  return m.liveAreas().filter((a) => a.length > PAGE && a.length % PAGE === 0n && a.iova % PAGE === 0n && m.items.some((i) => i.alive && i.pin?.area === a.name));
}

/**
 * A unit that enforces cache coherency for every device, the case's own when
 * there are several (CaseSetting.unit): the constructors that need one spread
 * over every driver that can, not the first in the report.
 */
function enforcingUnit(m: GenModel): number {
  const units = m.caps.iommus.flatMap((i, k) => (i.enforceCacheCoherency ? [k] : []));
  return units.length ? (units[m.setting.unit % units.length] as number) : -1;
}

/** areaPairs that touch (no gap between them), page-aligned, both of user memory the model knows. */
function touchingPairs(m: GenModel): [AreaEntry, AreaEntry][] {
  return areaPairs(m).filter(([lo, hi]) => lo.iova + lo.length === hi.iova && lo.iova % PAGE === 0n && lo.length % PAGE === 0n && lo.buf !== undefined && hi.buf !== undefined);
}

/** The span one leaf table of the IO page table covers (4 KiB leaves, 512 to a table). */
const TABLE_SPAN = 2n << 20n;

/**
 * Pairs of live areas of one IOAS in one 2 MiB span of the IO page table, the
 * upper one starting after the lower and running past the span's end.
 */
function spanPairs(m: GenModel): [AreaEntry, AreaEntry][] {
  const live = m.liveAreas().filter((a) => m.ctxs.find((c) => c.name === a.ctx)?.open);
  return live.flatMap((lo) =>
    live
      .filter((hi) => hi !== lo && hi.ctx === lo.ctx && hi.ioas === lo.ioas && hi.iova >= lo.iova + lo.length && hi.iova / TABLE_SPAN === lo.iova / TABLE_SPAN && hi.iova + hi.length > (hi.iova / TABLE_SPAN + 1n) * TABLE_SPAN)
      .map((hi): [AreaEntry, AreaEntry] => [lo, hi]),
  );
}

/** Where whole-span areas go: 1 GiB up (inside every unit's aperture, below the usual MSI windows). */
const SPAN_BASE = 0x40000000n;

/** The `skip`-th 2 MiB-aligned span from SPAN_BASE that no live area of the IOAS meets. */
function freeSpan(m: GenModel, ctx: string, ioas: string, skip = 0): bigint | undefined {
  const areas = m.liveAreas(ctx, ioas);
  for (let i = 0; i < 64; i++) {
    const at = SPAN_BASE + BigInt(i) * TABLE_SPAN;
    if (!areas.some((a) => a.iova < at + TABLE_SPAN && at < a.iova + a.length) && skip-- === 0) return at;
  }
  return undefined;
}

/**
 * Live areas that fill one whole 2 MiB span of an IOAS a domain holds, from a
 * buffer of scattered pages (so 4 KiB leaves, one leaf table for the span).
 */
function wholeSpans(m: GenModel): AreaEntry[] {
  const held = new Set(m.live('hwpt').map((h) => h.ioas));
  return m.liveAreas().filter((a) => held.has(a.ioas) && a.length === TABLE_SPAN && a.iova % TABLE_SPAN === 0n && m.ctxs.find((c) => c.name === a.ctx)?.open && !m.bufs.find((b) => b.name === a.buf)?.huge);
}

/**
 * Live areas of less than a page table's span, each alone in its 2 MiB span of
 * an IOAS an attached device's domain holds (4 KiB leaves in a leaf table of
 * their own): unmapped, they leave that table empty but linked.
 */
function loneSpanAreas(m: GenModel): AreaEntry[] {
  const held = new Set(m.dfds.filter((d) => d.open && d.attached).map((d) => m.objs.find((o) => o.name === d.attached && o.alive)?.ioas));
  const live = m.liveAreas();
  return live.filter((a) => {
    const span = a.iova / TABLE_SPAN;
    return held.has(a.ioas) && a.iova >= SPAN_BASE && (a.iova + a.length - 1n) / TABLE_SPAN === span && m.ctxs.find((c) => c.name === a.ctx)?.open && !live.some((x) => x !== a && x.ioas === a.ioas && x.iova < (span + 1n) * TABLE_SPAN && x.iova + x.length > span * TABLE_SPAN);
  });
}

/** A writable huge-aligned buffer of at least one page table's span (backed by 2 MiB blocks: maps with a large leaf). */
/**
 * IOMMU_IOAS_MAP/tight-hole: one-page walls at `low` and `high` leave the hole
 * [low + PAGE, high), `len` long but starting off a `len` boundary; an
 * automatic map of `len` from a 2 MiB-aligned buffer wants a `len`-aligned
 * IOVA (iopt_alloc_iova keeps the buffer's alignment), which the hole cannot
 * give once aligned. The search starts at the window's first aligned IOVA
 * (`len`), so the hole is the first one it looks at.
 */
const TIGHT = { low: 2n * PAGE, high: 5n * PAGE, len: 2n * PAGE } as const;
/** A byte offset into a page the selftest's mock domains map from (their page size, iommufd_test.h MOCK_PAGE_SIZE). */
const MOCK_SUB_PAGE = BigInt(MOCK_PAGE_SIZE);

/** A fixed-IOVA IOMMU_IOAS_MAP of a buffer into a named IOAS, once it succeeded, as the model's area. */
function recordFixedMap(m: GenModel, t: StepTemplate, step: TraceStep, map: { read: number; write: number }): void {
  const f = (t.fields['arg'] as { fields: { ioas_id: Ref; user_va: Ref; iova: bigint; length: bigint; flags: number } }).fields;
  const o = m.objs.find((x) => x.name === f.ioas_id.name);
  if (!ok(step) || !o) return;
  const read = (f.flags & map.read) !== 0;
  const write = (f.flags & map.write) !== 0;
  m.areas.push({ name: Object.keys(t.bind ?? {})[0] as string, ctx: o.ctx, ioas: o.name, iova: f.iova, length: f.length, buf: f.user_va.name, bufOff: Number(f.user_va.add), read, write, alive: true });
}

/** IOASes with the high wall of a tight hole and nothing else below it and the page above it. */
function tightHoles(m: GenModel): ObjEntry[] {
  return m.live('ioas').filter((o) => {
    if (o.allowed?.length || !m.ctxs.find((c) => c.name === o.ctx)?.open) return false;
    const low = m.liveAreas(o.ctx, o.name).filter((a) => a.iova < TIGHT.high + PAGE);
    return low.length === 1 && low[0]!.iova === TIGHT.high;
  });
}

/** A 2 MiB-aligned buffer to map the hole's length from. */
function tightBuf(m: GenModel): BufEntry | undefined {
  return m.bufs.find((b) => b.huge && BigInt(b.length) >= TIGHT.len);
}

/**
 * A read-only one-page area first in a 2 MiB span (at its second page) of an
 * IOAS an attached device reaches, with the page after it free (or, once the
 * writable page is there, `taken`), and that device.
 */
function roSpanTargets(m: GenModel, taken = false): { area: AreaEntry; dev: string }[] {
  return m.dfds.flatMap((d) => {
    const h = d.open && d.attached ? m.objs.find((o) => o.name === d.attached && o.alive) : undefined;
    if (!h?.ioas) return [];
    const areas = m.liveAreas(h.ctx, h.ioas);
    return areas
      .filter((a) => !a.write && a.length === PAGE && a.iova >= SPAN_BASE && a.iova % TABLE_SPAN === PAGE && areas.some((x) => x.iova === a.iova + PAGE) === taken && areas.every((x) => x === a || x.iova === a.iova + PAGE || x.iova + x.length <= a.iova - PAGE || x.iova >= a.iova - PAGE + TABLE_SPAN))
      .map((area) => ({ area, dev: d.dev.name }));
  });
}

/** Pages of a run of large leaves: two whole 2 MiB spans and a page of a third. */
const LEAF_RUN_PAGES = 2 * Number(TABLE_SPAN / PAGE) + 1;

/** Live areas of a huge buffer that start at a 2 MiB boundary and run past a second one, in an IOAS an attached device's domain holds. */
function leafRuns(m: GenModel): AreaEntry[] {
  const held = new Set(m.dfds.filter((d) => d.open && d.attached).map((d) => m.objs.find((o) => o.name === d.attached && o.alive)?.ioas));
  return m.liveAreas().filter((a) => held.has(a.ioas) && a.iova % TABLE_SPAN === 0n && a.length > 2n * TABLE_SPAN && m.bufs.find((b) => b.name === a.buf)?.huge && m.ctxs.find((c) => c.name === a.ctx)?.open);
}

function superpageBuf(m: GenModel): BufEntry | undefined {
  return m.bufs.find((b) => b.huge && !b.readonly && BigInt(b.length) >= TABLE_SPAN);
}

/** IOAS_UNMAP of exactly one area the model knows. */
function unmapAreaStep(env: GenEnv, a: AreaEntry): StepTemplate | undefined {
  return ioctlStep(env, 'IOMMU_IOAS_UNMAP', new Ref(a.ctx), { ioas_id: new Ref(a.ioas), iova: new Ref(a.name), length: a.length }, NONE);
}

/** The area an unmapAreaStep removed, once it succeeded. */
function unmappedArea(m: GenModel, t: StepTemplate, step: TraceStep): AreaEntry | undefined {
  const at = (t.fields['arg'] as { fields: { iova: Tmpl } }).fields.iova;
  return ok(step) && at instanceof Ref ? m.areas.find((a) => a.name === at.name) : undefined;
}

/** After a DMA that went through: the area it reached, when the IOVA was given by one (GenModel.used). */
function noteUsed(m: GenModel, t: StepTemplate, step: TraceStep): void {
  const at = t.fields['iova'];
  if (ok(step) && at instanceof Ref && m.areas.some((a) => a.alive && a.name === at.name)) m.used = at.name;
}

/** After an ACCESS_PAGES: its item, with what it pins when the IOVA was given by an area (ItemEntry.pin). */
function notePin(m: GenModel, t: StepTemplate, step: TraceStep): void {
  if (!ok(step)) return;
  const f = (t.fields['arg'] as { fields: { id: Ref; access_pages: { flags: number; iova: Tmpl; length: bigint; uptr: Tmpl } } }).fields;
  const { flags, iova, length, uptr } = f.access_pages;
  const item = { name: Object.keys(t.bind ?? {})[0] as string, acc: f.id.name, alive: true };
  m.items.push(iova instanceof Ref && m.areas.some((a) => a.name === iova.name) ? { ...item, pin: { area: iova.name, iova, length, uptr, flags } } : item);
}

/** The area a failed ACCESS_PAGES named, every other time (by its choice's offset). */
function failedPinArea(m: GenModel, c: { off: number }, t: StepTemplate, step: TraceStep): AreaEntry | undefined {
  if (ok(step) || c.off % 2 !== 0) return undefined;
  const iova = (t.fields['arg'] as { fields: { access_pages: { iova: Tmpl } } }).fields.access_pages.iova;
  return iova instanceof Ref ? m.areas.find((a) => a.alive && a.name === iova.name) : undefined;
}

/** Whether the model knows of anything holding an IOAS: a HWPT on it, a device attached to it, an open access. */
function ioasHeld(m: GenModel, ioas: string): boolean {
  return m.objs.some((o) => o.alive && o.ioas === ioas) || m.dfds.some((d) => d.open && d.attached === ioas) || m.accs.some((a) => a.open && a.ioas === ioas);
}

/**
 * A pinning access with a page-aligned area of its own IOAS to pin, and an
 * IOAS of its context that no domain holds with an area at a byte offset
 * into a page: moving the access there must fail (an access pins whole
 * pages: iopt_calculate_iova_alignment, EADDRINUSE) and leave it where it was.
 */
function unalignedTargets(m: GenModel): { acc: AccEntry; area: AreaEntry; to: string }[] {
  const held = new Set(m.live('hwpt').map((h) => h.ioas));
  return m.accs.flatMap((acc) => {
    const area = acc.open && acc.pin ? m.liveAreas(acc.ctx, acc.ioas).find((a) => a.buf && a.iova % PAGE === 0n) : undefined;
    if (!area) return [];
    const to = m.liveAreas(acc.ctx).find((a) => a.ioas !== acc.ioas && a.iova % PAGE !== 0n && !held.has(a.ioas));
    return to ? [{ acc, area, to: to.ioas }] : [];
  });
}

/** What a successful attach bound: the HWPT (auto-allocated for an IOAS, or the one asked for). */
function recordAttach(m: GenModel, d: DfdEntry, t: StepTemplate): void {
  const f = (t.fields['arg'] as { fields: { pt_id: Tmpl } }).fields;
  const asked = f.pt_id instanceof Ref ? m.objs.find((o) => o.name === (f.pt_id as Ref).name) : undefined;
  const name = Object.keys(t.bind ?? {})[0] as string;
  const ioas = asked?.kind === 'ioas' ? asked.name : asked?.ioas;
  m.objs.push({ name, kind: 'hwpt', ctx: d.ctx as string, alive: true, ...(ioas && { ioas }), auto: asked?.kind === 'ioas' });
  if (d.attached) noteLeft(m, d);
  else d.left = undefined;
  d.attached = name;
}

/** A device file leaving the HWPT it is attached to (detach, replace): remember it and what its IOAS maps now. */
function noteLeft(m: GenModel, d: DfdEntry): void {
  if (!d.attached) return;
  const h = m.objs.find((o) => o.name === d.attached && o.alive);
  d.left = h?.ioas ? { hwpt: h.name, areas: m.liveAreas(h.ctx, h.ioas).map((a) => a.name) } : undefined;
}

/**
 * Device files away from a HWPT they left that is still there, with what to
 * attach back to (the HWPT, or for an automatic one its IOAS, which finds the
 * domain again while another device keeps it) and whether its IOAS lost an
 * area since: a domain nobody was attached to while its IOVA was unmapped
 * must not answer from its old IOTLB entries when the device comes back.
 */
function awayFrom(m: GenModel): { d: DfdEntry; to: ObjEntry; lost: boolean }[] {
  return m.openDfds().flatMap((d) => {
    const left = d.left;
    const h = left && d.ctx ? m.objs.find((o) => o.name === left.hwpt && o.alive && o.ctx === d.ctx) : undefined;
    const to = h && (h.auto ? m.objs.find((o) => o.name === h.ioas && o.alive) : h);
    if (!left || !to) return [];
    return [{ d, to, lost: left.areas.some((n) => !m.areas.find((a) => a.name === n)?.alive) }];
  });
}

/**
 * The device file a kvm-vfio ADD or DEL names: for three picks in four, one
 * the VM does not hold yet (ADD) or one it holds (DEL), so a VM collects files
 * of devices with different coherency and loses them one by one — the
 * sequences whose WBINVD state kvm_vfio_update_coherency re-derives on every
 * ADD and DEL; otherwise one that takes the op's error path, a file the VM
 * holds already (ADD: EEXIST) or does not hold (DEL: ENOENT), and failing
 * that any device file.
 */
function kvmFile(m: GenModel, vm: VmEntry, op: 'kvm_vfio_add' | 'kvm_vfio_del', k: number): DfdEntry | undefined {
  const open = m.openDfds();
  const held = (d: DfdEntry): boolean => vm.files.includes(d.name);
  const wantHeld = k % 4 === 3 ? op === 'kvm_vfio_add' : op === 'kvm_vfio_del';
  const aimed = open.filter((d) => held(d) === wantHeld);
  return pick(aimed, k) ?? pick(m.dfds, k);
}

/** The model after a device fd's close: the file is gone from the pools, and its device binding with it (as far as the model knows: a VM may still hold the file). */
function dfdClosed(m: GenModel, d: DfdEntry): void {
  d.open = false;
  for (const o of m.objs) if (o.name === d.devid) o.alive = false;
}

type HwptData = 'none' | 'lenOnly' | 'typeOnly';

const ctxK = fc.nat(31);
const k16 = fc.nat(15);

// ---------------------------------------------------------------- environment

type DeviceCreate = { iommu: number; join: number; peer: number; sibling?: number; ecc: 'default' | 'yes' | 'no'; noSnoop: boolean; resv?: boolean; noDirty?: boolean };

/**
 * Where a device made with a reserved region of its own has it: inside every
 * unit's aperture, away from where areas are usually placed. Attaching the
 * device reserves it in the IOAS; only that device's detach frees it.
 */
const DEVICE_RESV_IOVA = 0x4000000n;
const DEVICE_RESV_PAGES = 4;

/** A fixed read-write MAP of a buffer's first pages into a device's reserved region (page `page` on): EADDRINUSE while the device is attached to that IOAS. */
function reservedMapStep(env: GenEnv, ctx: string, ioas: string, buf: string, page: number, pages: number, bind?: { [n: string]: string }): StepTemplate | undefined {
  const flags = mapFlags(env.profile);
  return ioctlStep(env, 'IOMMU_IOAS_MAP', new Ref(ctx), { flags: flags.read | flags.write | flags.fixed, ioas_id: new Ref(ioas), user_va: new Ref(buf, 'va'), length: BigInt(pages) * PAGE, iova: DEVICE_RESV_IOVA + BigInt(page) * PAGE }, NONE, bind ? { bind } : {});
}

function envSpecs(env: GenEnv): CommandSpec<never>[] {
  const { caps } = env;
  const specs: CommandSpec<never>[] = [];
  const add = <C,>(spec: CommandSpec<C>): void => {
    specs.push(spec as unknown as CommandSpec<never>);
  };
  const iommus = caps.iommus;

  add({
    kind: 'open',
    weight: 3,
    arb: fc.record({ vfio: fc.oneof({ weight: 6, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }), mode: fc.boolean() }),
    ready: (m) => m.ctxs.length < 4,
    build: (m, c) => {
      const name = m.fresh('ctx');
      return { op: 'open', fields: { node: c.vfio ? 'vfio' : 'iommu' }, bind: { [name]: 'fd' } };
    },
    after: (m, c, t, step) => {
      if (ok(step)) m.ctxs.push({ name: Object.keys(t.bind ?? {})[0] as string, vfio: c.vfio, open: true });
    },
    // Now and then the new context's accounting mode, which the node it was opened as sets
    // (iommufd_fops_open: MM for /dev/vfio/vfio, USER for /dev/iommu) and nothing else shows
    // until memory is pinned without CAP_IPC_LOCK.
    follow: (_m, c, t, step) =>
      ok(step) && c.mode && supported(caps, 'IOMMU_OPTION')
        ? ioctlStep(env, 'IOMMU_OPTION', new Ref(Object.keys(t.bind ?? {})[0] as string), { option_id: v(env.profile, 'IOMMU_OPTION_RLIMIT_MODE'), op: v(env.profile, 'IOMMU_OPTION_OP_GET'), object_id: 0, val64: 0n }, NONE, {})
        : undefined,
  } satisfies CommandSpec<{ vfio: boolean; mode: boolean }>);

  add({
    kind: 'close',
    weight: 1,
    arb: fc.record({ what: fc.constantFrom('ctx' as const, 'dfd' as const, 'dfd' as const, 'afd' as const, 'bad' as const), k: k16 }),
    needs: ['ctx'], ready: () => true,
    build: (m, c) => {
      const fd: Tmpl | undefined =
        c.what === 'ctx' ? (pick(m.ctxs, c.k) ? new Ref((pick(m.ctxs, c.k) as CtxEntry).name) : undefined)
        : c.what === 'dfd' ? (pick(m.dfds, c.k) ? new Ref((pick(m.dfds, c.k) as DfdEntry).name) : undefined)
        : c.what === 'afd' ? (pick(m.accs, c.k) ? new Ref(pick(m.accs, c.k)!.name) : undefined)
        : m.badFd;
      return fd === undefined ? undefined : { op: 'close', fields: { fd } };
    },
    after: (m, c, _t, step) => {
      if (!ok(step)) return;
      if (c.what === 'ctx') {
        const e = pick(m.ctxs, c.k);
        if (e) {
          e.open = false;
          m.dropCtx(e.name);
        }
      } else if (c.what === 'dfd') {
        const d = pick(m.dfds, c.k);
        if (d) dfdClosed(m, d);
      } else if (c.what === 'afd') {
        const a = pick(m.accs, c.k);
        if (a) a.open = false;
      }
    },
  } satisfies CommandSpec<{ what: 'ctx' | 'dfd' | 'afd' | 'bad'; k: number }>);

  if (testOpSupported(env, 'IOMMU_TEST_OP_CREATE_ACCESS') && supported(caps, 'IOMMU_DESTROY')) {
    // An open access file closed (iommufd_access_destroy_object), then its IOAS destroyed when
    // nothing else holds it: a destroy that kept the access's reference on its IOAS shows only
    // there (EBUSY with no holder).
    const openAccs = (m: GenModel): AccEntry[] => m.accs.filter((a) => a.open && m.ctxs.some((c) => c.open && c.name === a.ctx));
    const closing = new WeakMap<StepTemplate, AccEntry>();
    add({
      kind: 'close/access',
      weight: 1,
      arb: k16,
      needs: ['acc'], ready: () => true,
      build: (m, k) => {
        const a = pick(openAccs(m), k);
        if (!a) return undefined;
        const t: StepTemplate = { op: 'close', fields: { fd: new Ref(a.name) } };
        closing.set(t, a);
        return t;
      },
      after: (_m, _k, t, step) => {
        const a = closing.get(t);
        if (a && ok(step)) a.open = false;
      },
      follow: (m, _k, t, step) => {
        const a = ok(step) ? closing.get(t) : undefined;
        const ioas = a && m.objs.find((o) => o.name === a.ioas && o.kind === 'ioas' && o.alive);
        if (!ioas || ioasHeld(m, ioas.name)) return undefined;
        ioas.alive = false;
        for (const x of m.areas) if (x.ioas === ioas.name) x.alive = false;
        return ioctlStep(env, 'IOMMU_DESTROY', new Ref(ioas.ctx), { id: new Ref(ioas.name) }, NONE, {});
      },
    } satisfies CommandSpec<number>);
  }

  if (opSupported(caps, 'kvm_vfio_add')) {
    // The fd of a device file a VM holds, closed: KVM's reference keeps the file open, so the
    // device stays bound and attached (kvm_vfio_file_add takes get_file) until the VM lets go.
    add({
      kind: 'close/kvmHeld',
      weight: 1,
      arb: k16,
      needs: ['vmHeldMapped'], ready: () => true,
      build: (m, k) => {
        const held = m.openDfds().filter((d) => m.vms.some((vm) => vm.alive && vm.files.includes(d.name)));
        const d = pick(held.filter((x) => x.attached), k) ?? pick(held, k);
        return d ? { op: 'close', fields: { fd: new Ref(d.name) } } : undefined;
      },
      after: (m, _k, t, step) => {
        const d = m.dfds.find((x) => x.name === (t.fields['fd'] as Ref).name);
        if (ok(step) && d) dfdClosed(m, d);
      },
    } satisfies CommandSpec<number>);
  }

  if (opSupported(caps, 'mem_alloc')) {
    add({
      kind: 'mem_alloc',
      weight: 3,
      arb: fc.record({ pages: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 1, max: 16 }) }, { weight: 1, arbitrary: fc.constant(512) }), huge: fc.boolean(), ro: fc.oneof({ weight: 8, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }) }),
      ready: (m) => m.bufs.length < 6,
      build: (m, c) => {
        const name = m.fresh('buf');
        return { op: 'mem_alloc', fields: { length: c.pages * 4096, ...(c.ro && { prot: 'r' }), ...(c.huge && { hugeAligned: true }) }, bind: { [name]: '.' } };
      },
      after: (m, c, t, step) => {
        if (ok(step)) m.bufs.push({ name: Object.keys(t.bind ?? {})[0] as string, length: c.pages * 4096, readonly: c.ro, huge: c.huge });
      },
      // Zero-filled memory hides a DMA that reads or writes the wrong page: every page of a new
      // buffer (up to STAMP_PAGES) gets its own bytes, which the invariants' data checks read back.
      ...(opSupported(caps, 'mem_write') &&
        opSupported(caps, 'mem_read') && {
          follow: (m: GenModel, c: { pages: number }, t: StepTemplate, step: TraceStep): StepTemplate | undefined => {
            const name = Object.keys(t.bind ?? {})[0] as string;
            return ok(step) ? { op: 'mem_write', fields: { buffer: new Ref(name, 'buffer'), offset: 0, data: stampOf(m.bufs.length, c.pages) } } : undefined;
          },
        }),
    } satisfies CommandSpec<{ pages: number; huge: boolean; ro: boolean }>);
  }
  if (opSupported(caps, 'mem_write')) {
    add({
      kind: 'mem_write',
      weight: 1,
      arb: fc.record({ k: k16, page: fc.nat(15), data: smallBytes }),
      needs: ['buf'], ready: () => true,
      build: (m, c) => {
        const b = pick(m.bufs, c.k) as { name: string; length: number };
        const off = (c.page % Math.max(1, Math.floor(b.length / 4096))) * 4096;
        return { op: 'mem_write', fields: { buffer: new Ref(b.name, 'buffer'), offset: off, data: c.data } };
      },
    } satisfies CommandSpec<{ k: number; page: number; data: Uint8Array }>);
  }
  // The user mapping going away or changing under what is pinned and mapped
  // (munmap, mprotect of a page-aligned sub-range): pins outlive munmap, a
  // later MAP or access of the range must fail, DMA still reaches pinned pages.
  for (const op of ['mem_unmap', 'mem_protect'] as const) {
    if (!opSupported(caps, op)) continue;
    add({
      kind: op,
      weight: 1,
      arb: fc.record({ k: k16, page: fc.nat(15), pages: fc.oneof({ weight: 3, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: 2, max: 16 }) }), prot: fc.constantFrom('r' as const, 'none' as const, 'rw' as const) }),
      needs: ['buf'], ready: () => true,
      build: (m, c) => {
        const fields: { [k: string]: Tmpl } = bufPages(m, c);
        if (op === 'mem_protect') fields['prot'] = c.prot;
        return { op, fields };
      },
    } satisfies CommandSpec<{ k: number; page: number; pages: number; prot: 'r' | 'none' | 'rw' }>);
  }
  if (opSupported(caps, 'mem_unmap') && opSupported(caps, 'mem_alloc')) {
    // munmap of pages an area pins, then a new buffer of that size: the pins keep the old
    // frames alive (pin_user_pages holds a page reference), so the new buffer cannot get them,
    // and the device still reaches the old pages, not the new buffer.
    add({
      kind: 'mem_unmap/pinned',
      weight: 1,
      arb: fc.record({ k: k16, page: fc.nat(3), pages: fc.constantFrom(1, 1, 4) }),
      needs: ['mappedDevice'],
      ready: (m) => m.bufs.length < 6,
      build: (m, c) => {
        const a = pick(m.liveAreas().filter((x) => x.buf !== undefined), c.k);
        const b = a && m.bufs.find((x) => x.name === a.buf);
        if (!a || !b) return undefined;
        const first = Math.floor(a.bufOff / 4096) + (c.page % Math.max(1, Number(a.length / PAGE)));
        const n = Math.min(c.pages, Math.floor(b.length / 4096) - first);
        return n > 0 ? { op: 'mem_unmap', fields: { buffer: new Ref(b.name, 'buffer'), offset: first * 4096, length: n * 4096 } } : undefined;
      },
      follow: (m, c, _t, step) => {
        if (!ok(step)) return undefined;
        const name = m.fresh('buf');
        m.bufs.push({ name, length: c.pages * 4096, readonly: false });
        return { op: 'mem_alloc', fields: { length: c.pages * 4096 }, bind: { [name]: '.' } };
      },
    } satisfies CommandSpec<{ k: number; page: number; pages: number }>);
  }
  if (opSupported(caps, 'device_create') && iommus.length > 0) {
    const f = caps.deviceFeatures;
    add({
      kind: 'device_create',
      weight: 3,
      arb: fc.record({
        // Every unit alike (fc.nat leans to small values, and 16 values over six units to the first four).
        iommu: fc.constantFrom(...iommus.map((_, i) => i)),
        join: fc.oneof({ weight: 3, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.nat(7) }),
        // A peer: behind the same unit as an existing device, with the other coherency
        // (whether the two may share a domain is the driver's paging_domain_compatible).
        peer: fc.oneof({ weight: 3, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.nat(7) }),
        // A sibling: behind the same unit as an existing device, alike, in a group of its own. What a
        // driver keeps per unit (a domain's list of units and their counts, domain ids, the IOTLB and
        // its tags) is shared by devices of different groups only there.
        sibling: fc.oneof({ weight: 3, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.nat(7) }),
        ecc: fc.constantFrom<'default' | 'yes' | 'no'>('default', 'default', 'default', 'yes', 'no'),
        noSnoop: fc.boolean(),
        resv: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
        noDirty: fc.oneof({ weight: 2, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      }),
      ready: (m) => m.devs.length < 5,
      build: (m, c) => {
        let iommu = pick(iommus, c.iommu) as IommuInstanceInfo;
        const spec: { [k: string]: Tmpl } = {};
        let group: string | undefined;
        if (c.join >= 0 && f.multiDeviceGroups.supported) {
          const other = pick(m.devs, c.join);
          if (other) {
            iommu = other.iommu;
            group = other.group;
            spec['group'] = new Ref(other.group);
          }
        }
        // A joining device takes its peer's place: the other coherency than the member it joins
        // (a group whose members differ: KVM must see the one that cannot enforce).
        const joined = group !== undefined ? m.devs.find((d) => d.group === group) : undefined;
        const peer = c.peer < 0 ? undefined : (joined ?? pick(m.devs, c.peer));
        let ecc = c.ecc;
        if (peer) {
          iommu = peer.iommu;
          ecc = (peer.ecc ?? peer.iommu.enforceCacheCoherency) ? 'no' : peer.iommu.enforceCacheCoherency ? 'yes' : 'default';
        } else if (group === undefined && (c.sibling ?? -1) >= 0) {
          const sibling = pick(m.devs, c.sibling as number);
          if (sibling) {
            iommu = sibling.iommu;
            const same = sibling.ecc ?? sibling.iommu.enforceCacheCoherency;
            ecc = same === sibling.iommu.enforceCacheCoherency ? 'default' : same ? 'yes' : 'no';
          }
        }
        spec['iommu'] = iommu.name;
        if (ecc !== 'default' && f.enforceCacheCoherency.supported) spec['enforceCacheCoherency'] = ecc === 'yes';
        if (c.noSnoop && f.noSnoop.supported) spec['noSnoop'] = true;
        // A device its unit cannot track dirty pages for (GET_HW_INFO must say so: the capability is the device's).
        if (c.noDirty && f.dirtyTracking.supported) spec['dirtyTracking'] = false;
        // (Mock devices report none: the selftest's mock IOMMU has no reserved regions.)
        if (c.resv && f.reservedRegions.supported && !iommu.format.includes('mock')) spec['reservedRegions'] = [{ start: DEVICE_RESV_IOVA, last: DEVICE_RESV_IOVA + BigInt(DEVICE_RESV_PAGES) * PAGE - 1n }];
        const dev = m.fresh('dev');
        const grp = group ?? m.fresh('grp');
        return { op: 'device_create', fields: { spec }, bind: group ? { [dev]: 'device' } : { [dev]: 'device', [grp]: 'group' }, note: `iommu ${iommu.name}` };
      },
      after: (m, c, t, step) => {
        if (!ok(step)) return;
        const names = Object.keys(t.bind ?? {});
        const spec = t.fields['spec'] as { iommu: string; group?: Ref; enforceCacheCoherency?: boolean; reservedRegions?: unknown[] };
        const iommu = iommus.find((i) => i.name === spec.iommu) as IommuInstanceInfo;
        const ecc = spec.enforceCacheCoherency ?? iommu.enforceCacheCoherency;
        m.devs.push({ name: names[0] as string, iommu, group: spec.group ? spec.group.name : (names[1] as string), ecc, resv: spec.reservedRegions !== undefined, alive: true });
        void c;
      },
    } satisfies CommandSpec<DeviceCreate>);
  }
  if (opSupported(caps, 'device_remove')) {
    add({
      kind: 'device_remove',
      weight: 1,
      arb: fc.record({ k: k16 }),
      needs: ['dev'], ready: () => true,
      build: (m, c) => ({ op: 'device_remove', fields: { device: new Ref((pick(m.devs, c.k) as DevEntry).name) } }),
      after: (m, c, _t, step) => {
        if (ok(step)) (pick(m.devs, c.k) as DevEntry).alive = false;
      },
    } satisfies CommandSpec<{ k: number }>);
    // Hot-unplug of a device whose group a sibling still owns (bound, attached, mapped): the
    // sibling must keep its attachment; the group stays owned (no other context may take it).
    add({
      kind: 'device_remove/sibling',
      weight: 1,
      arb: fc.record({ k: k16 }),
      needs: ['looseSibling'],
      ready: () => true,
      build: (m, c) => {
        const loose = m.devs.filter((d) => d.alive && !m.dfds.some((x) => x.open && x.dev === d) && m.dfds.some((x) => x.open && x.ctx && x.dev !== d && x.dev.group === d.group));
        const d = pick(loose, c.k);
        return d ? { op: 'device_remove', fields: { device: new Ref(d.name) } } : undefined;
      },
      after: (m, _c, t, step) => {
        const name = (t.fields['device'] as Ref).name;
        if (ok(step)) for (const d of m.devs) if (d.name === name) d.alive = false;
      },
    } satisfies CommandSpec<{ k: number }>);
    // Hot-unplug of a device with a file open, mostly one not bound yet (an open cdev file holds
    // the device's registration from open, not from BIND): the removal must wait (be refused).
    add({
      kind: 'device_remove/open',
      weight: 1,
      arb: k16,
      needs: ['dfd'], ready: () => true,
      build: (m, k) => {
        const open = m.openDfds().filter((d) => d.dev.alive);
        const d = pick(open.filter((x) => !x.ctx), k) ?? pick(open, k);
        return d ? { op: 'device_remove', fields: { device: new Ref(d.dev.name) } } : undefined;
      },
      after: (m, _k, t, step) => {
        const name = (t.fields['device'] as Ref).name;
        if (ok(step)) for (const d of m.devs) if (d.name === name) d.alive = false;
      },
    } satisfies CommandSpec<number>);
  }
  if (opSupported(caps, 'open_device')) {
    add({
      kind: 'open_device',
      weight: 3,
      arb: fc.record({ k: k16 }),
      needs: ['dev'], ready: () => true,
      build: (m, c) => {
        const d = pick(m.devs.filter((x) => x.alive), c.k) as DevEntry;
        const name = m.fresh('dfd');
        return { op: 'open_device', fields: { device: new Ref(d.name) }, bind: { [name]: 'fd' } };
      },
      after: (m, c, t, step) => {
        if (ok(step)) m.dfds.push({ name: Object.keys(t.bind ?? {})[0] as string, dev: pick(m.devs.filter((x) => x.alive), c.k) as DevEntry, open: true });
      },
    } satisfies CommandSpec<{ k: number }>);
  }
  const devIova = (m: GenModel, c: { dev: number; iova: IovaChoice }, len: bigint): { device: Ref; iova: Tmpl } | undefined => {
    // Mostly a device that is attached somewhere (its DMA goes through an IOAS), sometimes any.
    const attached = m.devs.filter((d) => m.dfds.some((x) => x.dev === d && x.open && x.attached));
    const d = c.dev % 4 === 3 ? pick(m.devs, c.dev) : (pick(attached, c.dev) ?? pick(m.devs, c.dev));
    if (!d) return undefined;
    const dfd = m.dfds.find((x) => x.dev === d && x.open && x.attached);
    const hwpt = dfd ? m.objs.find((o) => o.name === dfd.attached) : undefined;
    const areas = hwpt?.ioas ? areasFor(m, m.ctxs.find((x) => x.name === hwpt.ctx), hwpt.ioas) : m.liveAreas();
    return { device: new Ref(d.name), iova: iovaOf(c.iova, m, areas, len, boundsFor(m, hwpt?.ioas)) };
  };
  if (opSupported(caps, 'dma')) {
    add({
      kind: 'dma',
      weight: 4,
      arb: fc.record({ dev: k16, iova: iovaChoice, write: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 2, arbitrary: fc.constant(true) }), len: fc.oneof(fc.constantFrom(1, 8, 64), fc.constant(4097)), data: smallBytes }),
      needs: ['mappedDevice'], ready: () => true,
      build: (m, c) => {
        const at = devIova(m, c, BigInt(c.len));
        if (!at) return undefined;
        const data = c.write ? (c.len > c.data.length ? new Uint8Array(c.len).fill(c.data[0] ?? 0x5a) : c.data) : undefined;
        return { op: 'dma', fields: { device: at.device, iova: at.iova, dir: c.write ? 'write' : 'read', ...(data ? { data } : { length: c.len }) } };
      },
      after: (m, _c, t, step) => noteUsed(m, t, step),
    } satisfies CommandSpec<{ dev: number; iova: IovaChoice; write: boolean; len: number; data: Uint8Array }>);
    // Across the boundary of two touching areas (one of them read-only every other pair, areaPair):
    // the access must reach each area's own pages, and a write into a read-only one fault there and
    // change nothing of it.
    add({
      kind: 'dma/straddle',
      weight: 2,
      arb: fc.record({ k: k16, write: fc.boolean(), before: fc.constantFrom(1, 4, 8), len: fc.constantFrom(8, 16, 4096), data: smallBytes }),
      needs: ['mappedDevice', 'areaPair'],
      ready: () => true,
      build: (m, c) => {
        const pairs = areaPairs(m).filter(([lo, hi]) => lo.iova + lo.length === hi.iova);
        const pair = pick(pairs, c.k);
        if (!pair) return undefined;
        const [lo] = pair;
        const dfd = m.dfds.find((x) => x.open && x.attached && m.objs.find((o) => o.name === x.attached)?.ioas === lo.ioas);
        if (!dfd) return undefined;
        const len = Math.max(c.len, c.before + 1);
        const data = c.write ? (len > c.data.length ? new Uint8Array(len).fill(c.data[0] ?? 0xa5) : c.data.subarray(0, len)) : undefined;
        const iova = lo.iova + lo.length - BigInt(c.before);
        return { op: 'dma', fields: { device: new Ref(dfd.dev.name), iova, dir: c.write ? 'write' : 'read', ...(data ? { data } : { length: len }) } };
      },
    } satisfies CommandSpec<{ k: number; write: boolean; before: number; len: number; data: Uint8Array }>);
  }
  if (opSupported(caps, 'translate')) {
    add({
      kind: 'translate',
      weight: 2,
      arb: fc.record({ dev: k16, iova: iovaChoice }),
      needs: ['mappedDevice'], ready: () => true,
      build: (m, c) => {
        const at = devIova(m, c, PAGE);
        return at ? { op: 'translate', fields: { device: at.device, iova: at.iova } } : undefined;
      },
    } satisfies CommandSpec<{ dev: number; iova: IovaChoice }>);
  }
  if (opSupported(caps, 'pin_count')) {
    add({
      kind: 'pin_count',
      weight: 1,
      arb: fc.record({ k: k16, page: fc.nat(15), pages: fc.integer({ min: 1, max: 4 }) }),
      needs: ['buf'], ready: () => true,
      build: (m, c) => ({ op: 'pin_count', fields: bufPages(m, c) }),
    } satisfies CommandSpec<{ k: number; page: number; pages: number }>);
  }
  if (opSupported(caps, 'process_info')) {
    add({ kind: 'process_info', weight: 1, arb: fc.constant(0), ready: () => true, build: () => ({ op: 'process_info', fields: {} }) } satisfies CommandSpec<number>);
  }
  if (opSupported(caps, 'iotlb') && iommus.length > 0) {
    add({ kind: 'iotlb', weight: 1, arb: k16, ready: () => true, build: (_m, k) => ({ op: 'iotlb', fields: { iommu: (pick(iommus, k) as IommuInstanceInfo).name } }) } satisfies CommandSpec<number>);
  }
  if (opSupported(caps, 'set_process')) {
    add({
      kind: 'set_process',
      weight: 1,
      // CAP_IPC_LOCK is mostly flipped: pages are charged by the privilege they were mapped under
      // (iopt_alloc_pages records the account mode) and uncharged the same way whatever the caller
      // holds by then, which only a change between the two shows.
      arb: fc.record(
        { capIpcLock: fc.constantFrom<boolean | 'flip'>('flip', 'flip', true, false), capSysResource: fc.boolean(), rlimit: fc.constantFrom<null | bigint>(null, 32768n, 65536n, 1n << 20n, 8n << 20n) },
        { requiredKeys: [] },
      ),
      ready: () => true,
      build: (m, c) => {
        const fields: { [k: string]: Tmpl } = {};
        if (c.capIpcLock !== undefined) fields['capIpcLock'] = c.capIpcLock === 'flip' ? !m.capIpcLock : c.capIpcLock;
        if (c.capSysResource !== undefined) fields['capSysResource'] = c.capSysResource;
        if (c.rlimit !== undefined) fields['rlimitMemlock'] = c.rlimit;
        return { op: 'set_process', fields };
      },
      after: noteCapIpcLock,
    } satisfies CommandSpec<{ capIpcLock?: boolean | 'flip'; capSysResource?: boolean; rlimit?: bigint | null }>);
  }
  // CAP_IPC_LOCK changed while a domain holds pages pinned, then everything of that IOAS unmapped:
  // the pages are uncharged as they were charged (iopt_alloc_pages recorded the account mode when
  // they were mapped), whatever the caller holds at the unmap.
  if (opSupported(caps, 'set_process') && supported(caps, 'IOMMU_IOAS_UNMAP')) {
    const heldAreas = (m: GenModel): AreaEntry[] => {
      const held = new Set(m.openDfds().map((d) => m.objs.find((o) => o.name === d.attached && o.alive)?.ioas));
      return m.liveAreas().filter((a) => held.has(a.ioas) && m.ctxs.find((x) => x.name === a.ctx)?.open);
    };
    add({
      kind: 'set_process/flip-while-pinned',
      weight: 1,
      arb: k16,
      needs: ['mappedDevice'], ready: (m) => heldAreas(m).length > 0,
      build: (m) => ({ op: 'set_process', fields: { capIpcLock: !m.capIpcLock } }),
      after: noteCapIpcLock,
      follow: (m, k, _t, step) => {
        const a = ok(step) ? pick(heldAreas(m), k) : undefined;
        if (!a) return undefined;
        for (const x of m.areas) if (x.ctx === a.ctx && x.ioas === a.ioas) x.alive = false;
        return ioctlStep(env, 'IOMMU_IOAS_UNMAP', new Ref(a.ctx), { ioas_id: new Ref(a.ioas), iova: 0n, length: U64_MAX }, NONE);
      },
    } satisfies CommandSpec<number>);
  }
  if (opSupported(caps, 'kvm_create')) {
    add({
      kind: 'kvm_create',
      weight: 1,
      arb: fc.constant(0),
      ready: (m) => m.vms.filter((x) => x.alive).length < 2,
      build: (m) => {
        const name = m.fresh('vm');
        return { op: 'kvm_create', fields: {}, bind: { [name]: 'vm' } };
      },
      after: (m, _c, t, step) => {
        if (ok(step)) m.vms.push({ name: Object.keys(t.bind ?? {})[0] as string, alive: true, files: [] });
      },
    } satisfies CommandSpec<number>);
    if (opSupported(caps, 'kvm_destroy')) {
      add({
        kind: 'kvm_destroy',
        weight: 1,
        arb: k16,
        needs: ['vm'], ready: () => true,
        build: (m, k) => ({ op: 'kvm_destroy', fields: { vm: new Ref(pick(m.vms.filter((x) => x.alive), k)!.name) } }),
        after: (m, k, _t, step) => {
          if (ok(step)) pick(m.vms.filter((x) => x.alive), k)!.alive = false;
        },
      } satisfies CommandSpec<number>);
    }
    // `to`: a device file by name (constructors only).
    type KvmFileOp = { vm: number; fd: number; ctx: boolean; to?: string };
    for (const op of ['kvm_vfio_add', 'kvm_vfio_del'] as const) {
      if (!opSupported(caps, op)) continue;
      add({
        kind: op,
        weight: op === 'kvm_vfio_add' ? 2 : 1,
        arb: fc.record({ vm: k16, fd: k16, ctx: fc.oneof({ weight: 8, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }) }),
        needs: ['vm', 'dfd'], ready: () => true,
        build: (m, c) => {
          const vm = pick(m.vms.filter((x) => x.alive), c.vm);
          const named = c.to === undefined ? undefined : m.dfds.find((d) => d.name === c.to);
          const fd = vm && (named ?? (c.ctx ? pick(m.ctxs, c.fd) : (kvmFile(m, vm, op, c.fd) ?? pick(m.ctxs, c.fd))));
          return vm && fd ? { op, fields: { vm: new Ref(vm.name), fd: new Ref(fd.name) } } : undefined;
        },
        after: (m, _c, t, step) => {
          if (!ok(step)) return;
          const vm = m.vms.find((x) => x.name === (t.fields['vm'] as Ref).name);
          const fd = (t.fields['fd'] as Ref).name;
          if (!vm) return;
          const i = vm.files.indexOf(fd);
          if (op === 'kvm_vfio_add' && i < 0) vm.files.push(fd);
          if (op === 'kvm_vfio_del' && i >= 0) vm.files.splice(i, 1);
        },
      } satisfies CommandSpec<KvmFileOp>);
    }
    if (opSupported(caps, 'kvm_vfio_del')) {
      // DEL from a VM holding files of both coherencies: WBINVD is re-derived from what stays.
      add({
        kind: 'kvm_vfio_del/mixed',
        weight: 1,
        arb: k16,
        needs: ['vmMixed'], ready: () => true,
        build: (m, k) => {
          const vm = m.vms.find((x) => x.alive && x.files.length > 1) ?? m.vms.find((x) => x.alive);
          const d = vm && pick(m.openDfds().filter((x) => vm.files.includes(x.name)), k);
          return vm && d ? { op: 'kvm_vfio_del', fields: { vm: new Ref(vm.name), fd: new Ref(d.name) } } : undefined;
        },
        after: (m, _k, t, step) => {
          const vm = m.vms.find((x) => x.name === (t.fields['vm'] as Ref).name);
          const i = vm ? vm.files.indexOf((t.fields['fd'] as Ref).name) : -1;
          if (ok(step) && vm && i >= 0) vm.files.splice(i, 1);
        },
      } satisfies CommandSpec<number>);
    }
    if (opSupported(caps, 'kvm_state')) {
      add({ kind: 'kvm_state', weight: 1, arb: k16, needs: ['vm'], ready: () => true, build: (m, k) => ({ op: 'kvm_state', fields: { vm: new Ref(pick(m.vms.filter((x) => x.alive), k)!.name) } }) } satisfies CommandSpec<number>);
    }
  }
  for (const op of ['poll', 'read'] as const) {
    if (!opSupported(caps, op)) continue;
    add({
      kind: op,
      weight: 1,
      arb: fc.record({ k: k16, count: fc.constantFrom(0, 40, 64), offset: fc.constantFrom(0, 0, 1) }),
      needs: ['ctx'], ready: () => true,
      build: (m, c) => {
        const f = pick([...m.ctxs, ...m.accs, ...m.dfds.filter((d) => !d.ctx)], c.k);
        if (!f) return undefined;
        const fields: { [k: string]: Tmpl } = op === 'poll' ? { fd: new Ref(f.name), events: 0x1 | 0x4 } : { fd: new Ref(f.name), count: c.count, ...(c.offset && { offset: c.offset }) };
        return { op, fields };
      },
    } satisfies CommandSpec<{ k: number; count: number; offset: number }>);
  }
  return specs;
}

// ---------------------------------------------------------------- iommufd ioctls

function ioasSpecs(env: GenEnv): CommandSpec<never>[] {
  const { profile: p, caps } = env;
  const specs: CommandSpec<never>[] = [];
  const add = <C,>(spec: CommandSpec<C>): void => {
    specs.push(spec as unknown as CommandSpec<never>);
  };
  const MAP = mapFlags(p);
  const prot = fc.oneof({ weight: 6, arbitrary: fc.constant(MAP.read | MAP.write) }, { weight: 2, arbitrary: fc.constant(MAP.read) }, { weight: 1, arbitrary: fc.constant(MAP.write) }, { weight: 1, arbitrary: fc.constant(0) });
  const has = (c: string): boolean => supported(caps, c);

  if (has('IOMMU_IOAS_ALLOC')) {
    add({
      kind: 'IOMMU_IOAS_ALLOC',
      weight: 3,
      arb: fc.record({ ctx: ctxK, abi: env.abiFor('IOMMU_IOAS_ALLOC') }),
      needs: ['ctx'], ready: (m) => m.objs.filter((o) => o.kind === 'ioas').length < 8,
      build: (m, c) => {
        const ctx = ctxOf(m, c.ctx) as CtxEntry;
        const name = m.fresh('ioas');
        return ioctlStep(env, 'IOMMU_IOAS_ALLOC', new Ref(ctx.name), {}, c.abi, { bind: { [name]: 'out.out_ioas_id' } });
      },
      after: (m, c, t, step) => {
        if (ok(step)) m.objs.push({ name: Object.keys(t.bind ?? {})[0] as string, kind: 'ioas', ctx: (ctxOf(m, c.ctx) as CtxEntry).name, alive: true });
      },
    } satisfies CommandSpec<{ ctx: number; abi: AbiChoice }>);
  }

  // Commands of the iommufd file, under numbers no command has (otherRequestStep): the
  // extensible table's dispatch and the VFIO compat switch alike.
  const otherRequests = (
    [
      ['IOMMU_IOAS_ALLOC', { fields: {} }],
      ['IOMMU_OPTION', { fields: { option_id: enumValue(p, 'IOMMU_OPTION_RLIMIT_MODE') ?? 0, op: enumValue(p, 'IOMMU_OPTION_OP_GET') ?? 1 } }],
      ['VFIO_CHECK_EXTENSION', { value: 1n }],
      ['VFIO_GET_API_VERSION', { value: 0n }],
    ] as const
  ).filter(([name]) => has(name));
  if (otherRequests.length > 0) {
    add({
      kind: 'ioctl/other-request',
      weight: 1,
      arb: fc.record({ ctx: ctxK, k: k16, bits: requestBits }),
      needs: ['ctx'], ready: () => true,
      build: (m, c) => {
        const [name, arg] = pick(otherRequests, c.k) as (typeof otherRequests)[number];
        return otherRequestStep(env, new Ref((ctxOf(m, c.ctx) as CtxEntry).name), name, c.bits, arg);
      },
    } satisfies CommandSpec<{ ctx: number; k: number; bits: RequestBits }>);
  }

  if (has('IOMMU_DESTROY')) {
    add({
      kind: 'IOMMU_DESTROY',
      weight: 2,
      arb: fc.record({ ctx: ctxK, id: idChoice, kind: fc.constantFrom<ObjKind>('ioas', 'hwpt', 'hwpt', 'devid', 'stdev'), abi: env.abiFor('IOMMU_DESTROY') }),
      needs: ['ioas'], ready: () => true,
      build: (m, c) => {
        const ctx = ctxOf(m, c.ctx) as CtxEntry;
        const { id, obj } = idOf(c.id, m, ctx.name, [c.kind]);
        return ioctlStep(env, 'IOMMU_DESTROY', new Ref(ctx.name), { id }, c.abi, { defects: idDefects(c.id, obj).filter((d) => d.errno === 'ENOENT') });
      },
      after: (m, c, t, step) => {
        if (!ok(step)) return;
        const arg = t.fields['arg'] as { fields: { id: Tmpl } };
        const id = arg.fields.id;
        if (id instanceof Ref) {
          const o = m.objs.find((x) => x.name === id.name);
          if (o) o.alive = false;
          if (o?.kind === 'ioas') for (const a of m.areas) if (a.ioas === o.name) a.alive = false;
        }
        void c;
      },
      // In a context with a compat IOAS, IOMMU_VFIO_IOAS GET right after: the compat IOAS is the
      // same object as before unless this destroyed it (then ENODEV), whatever id comes next.
      ...(has('IOMMU_VFIO_IOAS') && {
        follow: (m: GenModel, c: { ctx: number }, _t: StepTemplate, step: TraceStep): StepTemplate | undefined => {
          const ctx = ok(step) ? ctxOf(m, c.ctx) : undefined;
          return ctx?.compat !== undefined && ctx.open ? ioctlStep(env, 'IOMMU_VFIO_IOAS', new Ref(ctx.name), { op: v(p, 'IOMMU_VFIO_IOAS_GET'), ioas_id: 0 }, NONE, {}) : undefined;
        },
      }),
    } satisfies CommandSpec<{ ctx: number; id: IdChoice; kind: ObjKind; abi: AbiChoice }>);
  }

  if (has('IOMMU_IOAS_MAP')) {
    add({
      kind: 'IOMMU_IOAS_MAP',
      weight: 8,
      arb: fc.record({ ctx: ctxK, ioas: idChoice, prot, fixed: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 2, arbitrary: fc.constant(false) }), va: vaChoice, len: lenChoice, iova: iovaChoice, abi: env.abiFor('IOMMU_IOAS_MAP') }),
      needs: ['ioas', 'buf'], ready: () => true,
      build: (m, c) => {
        const ctx = ctxOf(m, c.ctx) as CtxEntry;
        const { id, obj } = idOf(c.ioas, m, ctx.name, ['ioas']);
        const va = vaOf(c.va, m);
        let len = lengthOf(c.len, undefined, va.room);
        if (c.len.kind === 'pages' && va.room > 0n && len > va.room) len = va.room - (va.room % PAGE) || PAGE;
        const areas = areasFor(m, ctx, obj?.name);
        const iova = c.fixed ? iovaOf(c.iova, m, areas, len, boundsFor(m, obj?.name)) : 0n;
        const name = m.fresh('area');
        const flags = c.prot | (c.fixed ? MAP.fixed : 0);
        const defects: Defect[] = [...idDefects(c.ioas, obj)];
        if (len === 0n) defects.push({ what: 'length 0', errno: 'EINVAL' });
        if (c.prot === 0) defects.push({ what: 'neither READABLE nor WRITEABLE', errno: 'EINVAL' });
        return ioctlStep(env, 'IOMMU_IOAS_MAP', new Ref(ctx.name), { flags, ioas_id: id, user_va: va.va, length: len, iova }, c.abi, { bind: { [name]: 'out.iova' }, defects });
      },
      after: (m, c, t, step) => {
        if (!ok(step)) return;
        const ctx = ctxOf(m, c.ctx) as CtxEntry;
        const f = (t.fields['arg'] as { fields: { ioas_id: Tmpl; user_va: Tmpl; length: bigint; flags: number } }).fields;
        const name = Object.keys(t.bind ?? {})[0] as string;
        const ioas = f.ioas_id instanceof Ref ? f.ioas_id.name : '';
        const iova = (step.response?.ok ? ((step.response.result as { out?: { iova?: bigint } }).out?.iova ?? 0n) : 0n) as bigint;
        const buf = f.user_va instanceof Ref ? f.user_va : undefined;
        m.areas.push({ name, ctx: ctx.name, ioas, iova, length: f.length, ...(buf && { buf: buf.name }), bufOff: buf ? Number(buf.add) : 0, read: (f.flags & MAP.read) !== 0, write: (f.flags & MAP.write) !== 0, alive: true });
      },
    } satisfies CommandSpec<{ ctx: number; ioas: IdChoice; prot: number; fixed: boolean; va: VaChoice; len: LenChoice; iova: IovaChoice; abi: AbiChoice }>);
  }

  if (has('IOMMU_IOAS_MAP')) {
    // A fixed map into a device's own reserved region, in the IOAS the device is attached to
    // (EADDRINUSE while it is; a detach of another device, even of its group, changes nothing).
    add({
      kind: 'IOMMU_IOAS_MAP/reserved',
      weight: 1,
      arb: fc.record({ k: k16, page: fc.nat(DEVICE_RESV_PAGES - 1), pages: fc.constantFrom(1, 2) }),
      needs: ['area'], ready: () => true,
      build: (m, c) => {
        const held = m.dfds.filter((d) => d.dev.resv && d.ctx && m.objs.find((h) => h.name === d.attached && h.alive)?.ioas);
        const d = pick(held, c.k);
        const h = d && m.objs.find((o) => o.name === d.attached);
        const a = pick(m.liveAreas().filter((x) => x.buf !== undefined && m.ctxs.find((y) => y.name === x.ctx)?.open), c.k);
        const ctx = h?.ctx ?? a?.ctx;
        const ioas = h?.ioas ?? a?.ioas;
        const b = m.bufs[0];
        if (!ctx || !ioas || !b) return undefined;
        return reservedMapStep(env, ctx, ioas, b.name, c.page, c.pages, { [m.fresh('area')]: 'out.iova' });
      },
    } satisfies CommandSpec<{ k: number; page: number; pages: number }>);
  }

  if (has('IOMMU_IOAS_MAP') && has('IOMMU_IOAS_UNMAP')) {
    // The user memory of an area mapped a second time and unmapped again at once: every page the
    // MAP pinned and charged (to the user's or the mm's locked memory) goes back on UNMAP, so
    // cycles of this in an unprivileged process never run into RLIMIT_MEMLOCK.
    add({
      kind: 'IOMMU_IOAS_MAP/cycle',
      weight: 2,
      arb: k16,
      needs: ['area'], ready: () => true,
      build: (m, k) => {
        const a = pick(m.liveAreas().filter((x) => x.buf !== undefined && m.ctxs.find((c) => c.name === x.ctx)?.open), k);
        if (!a?.buf) return undefined;
        const flags = (a.read ? MAP.read : 0) | (a.write ? MAP.write : 0);
        return ioctlStep(env, 'IOMMU_IOAS_MAP', new Ref(a.ctx), { flags, ioas_id: new Ref(a.ioas), user_va: new Ref(a.buf, 'va', BigInt(a.bufOff)), length: a.length, iova: 0n }, NONE, { bind: { [m.fresh('area')]: 'out.iova' } });
      },
      follow: (_m, _k, t, step) => {
        if (!ok(step)) return undefined;
        const f = (t.fields['arg'] as { fields: { ioas_id: Tmpl; length: bigint } }).fields;
        return ioctlStep(env, 'IOMMU_IOAS_UNMAP', t.fields['fd'] as Tmpl, { ioas_id: f.ioas_id, iova: new Ref(Object.keys(t.bind ?? {})[0] as string), length: f.length }, NONE, {});
      },
    } satisfies CommandSpec<number>);
  }

  if (has('IOMMU_IOAS_UNMAP')) {
    type Unmap = { ctx: number; ioas: IdChoice; how: 'area' | 'all' | 'partial' | 'superset' | 'range' | 'empty' | 'zero'; a: number; b: number; len: LenChoice; iova: IovaChoice; abi: AbiChoice };
    add({
      kind: 'IOMMU_IOAS_UNMAP',
      weight: 5,
      arb: fc.record({
        ctx: ctxK,
        ioas: idChoice,
        how: fc.constantFrom<Unmap['how']>('area', 'area', 'area', 'area', 'all', 'partial', 'superset', 'range', 'empty', 'zero'),
        a: k16,
        b: k16,
        len: lenChoice,
        iova: iovaChoice,
        abi: env.abiFor('IOMMU_IOAS_UNMAP'),
      }),
      needs: ['area'], ready: () => true,
      build: (m, c) => {
        const ctx = ctxOf(m, c.ctx) as CtxEntry;
        const areas = m.liveAreas(ctx.name);
        const a = pick(areas, c.a);
        // Unmap where areas are: aim at the IOAS of the chosen area.
        const target = a && c.ioas.kind === 'live' ? { id: new Ref(a.ioas) as Tmpl, obj: m.objs.find((o) => o.name === a.ioas) } : idOf(c.ioas, m, ctx.name, ['ioas']);
        let iova: Tmpl;
        let length: bigint;
        switch (c.how) {
          case 'all':
            iova = 0n;
            length = U64_MAX;
            break;
          case 'area':
            if (!a) return undefined;
            iova = new Ref(a.name);
            length = a.length;
            break;
          case 'partial':
            if (!a) return undefined;
            iova = new Ref(a.name, '', a.length > PAGE ? PAGE : 0n);
            length = a.length > PAGE ? a.length - PAGE : a.length + PAGE;
            break;
          case 'superset': {
            if (!a) return undefined;
            const b = pick(areas.filter((x) => x.ioas === a.ioas), c.b) ?? a;
            const lo = a.iova < b.iova ? a : b;
            const hi = a.iova < b.iova ? b : a;
            if (lo !== hi && hi.length > PAGE && c.a % 3 === 2) {
              // Straddle: all of lo and the first page of hi. The kernel unmaps lo, then fails
              // ENOENT at hi (io_pagetable.c iopt_unmap_iova_range: no splitting, not atomic).
              iova = new Ref(lo.name);
              length = hi.iova + PAGE - lo.iova;
              break;
            }
            const below = lo.iova >= PAGE ? PAGE : 0n;
            iova = new Ref(lo.name, '', -below);
            length = hi.iova + hi.length - lo.iova + below + PAGE;
            break;
          }
          case 'empty':
            iova = a ? new Ref(a.name, '', a.length + 64n * PAGE) : 1n << 40n;
            length = PAGE;
            break;
          case 'zero':
            // Length 0, refused (iopt_unmap_iova: EINVAL): half the time at IOVA 0, type1's
            // spelling of unmap-all, which is no unmap-all here (that is length U64_MAX).
            iova = a && c.b % 2 === 1 ? new Ref(a.name) : 0n;
            length = 0n;
            break;
          default:
            length = lengthOf(c.len, a, a?.length ?? PAGE);
            iova = iovaOf(c.iova, m, areas, length, boundsFor(m, target.obj?.name));
        }
        return ioctlStep(env, 'IOMMU_IOAS_UNMAP', new Ref(ctx.name), { ioas_id: target.id, iova, length }, c.abi, { defects: idDefects(c.ioas, target.obj) });
      },
      after: (m, c, t, step) => {
        if (!ok(step)) return;
        const f = (t.fields['arg'] as { fields: { ioas_id: Tmpl; iova: Tmpl; length: bigint } }).fields;
        const ioas = f.ioas_id instanceof Ref ? f.ioas_id.name : undefined;
        const ctx = (ctxOf(m, c.ctx) as CtxEntry).name;
        const start = f.iova instanceof Ref ? (m.areas.find((x) => x.name === (f.iova as Ref).name)?.iova ?? 0n) + (f.iova as Ref).add : (f.iova as bigint);
        const last = c.how === 'all' ? U64_MAX : start + f.length - 1n;
        for (const a of m.areas) if (a.alive && a.ctx === ctx && a.ioas === ioas && a.iova >= start && a.iova + a.length - 1n <= last) a.alive = false;
      },
    } satisfies CommandSpec<Unmap>);
  }

  if (has('IOMMU_IOAS_UNMAP')) {
    // A range across an area boundary: from an area's start (or inside it) into
    // the next area of the same IOAS. The kernel does not split areas and is not
    // atomic: areas wholly inside go, the cut one fails ENOENT, and the bytes
    // unmapped so far are not reported (io_pagetable.c iopt_unmap_iova_range).
    type Straddle = { k: number; from: 'start' | 'inside'; pages: number; abi: AbiChoice };
    add({
      kind: 'IOMMU_IOAS_UNMAP/straddle',
      weight: 2,
      arb: fc.record({ k: k16, from: fc.constantFrom<Straddle['from']>('start', 'start', 'inside'), pages: fc.integer({ min: 1, max: 8 }), abi: env.abiFor('IOMMU_IOAS_UNMAP') }),
      needs: ['areaPair'], ready: () => true,
      build: (m, c) => {
        const pairs = areaPairs(m);
        const p = pick(pairs, c.k);
        if (!p) return undefined;
        const [lo, hi] = p;
        const from = c.from === 'inside' && lo.length > PAGE ? PAGE : 0n;
        // Whole pages into hi, ending before its last byte (hi.length need not be a page multiple).
        const room = (hi.length - 1n) / PAGE > 1n ? (hi.length - 1n) / PAGE : 1n;
        const cut = (1n + (BigInt(c.pages - 1) % room)) * PAGE;
        return ioctlStep(env, 'IOMMU_IOAS_UNMAP', new Ref(lo.ctx), { ioas_id: new Ref(lo.ioas), iova: new Ref(lo.name, '', from), length: hi.iova + cut - lo.iova - from }, c.abi);
      },
      after: (m, c, t, step) => {
        // The first area goes when the range begins at its start, even though the call fails (ENOENT at the
        // cut one); a call with an ABI defect fails before unmapping anything.
        const lo = (t.fields['arg'] as { fields: { iova: Tmpl } }).fields.iova;
        const area = lo instanceof Ref && lo.add === 0n ? m.areas.find((a) => a.name === lo.name) : undefined;
        if (area && c.from === 'start' && (ok(step) || (step.status === 'failed' && !t.defects?.length))) area.alive = false;
      },
    } satisfies CommandSpec<Straddle>);
  }

  if (has('IOMMU_IOAS_UNMAP')) {
    // Two areas sharing one 2 MiB span of a domain's page table, the upper one running past the
    // span's end (spanPair): unmapping either leaves the other's leaves. A range that reaches the
    // span's end without starting at its start must not free the span's table.
    add({
      kind: 'IOMMU_IOAS_UNMAP/span-neighbour',
      weight: 1,
      arb: fc.record({ k: k16, upper: fc.boolean() }),
      needs: ['spanPair'], ready: () => true,
      build: (m, c) => {
        const p = pick(spanPairs(m), c.k);
        const a = p && (c.upper ? p[1] : p[0]);
        return a && unmapAreaStep(env, a);
      },
      after: (m, _c, t, step) => {
        const area = unmappedArea(m, t, step);
        if (area) area.alive = false;
      },
    } satisfies CommandSpec<{ k: number; upper: boolean }>);

    // The area a device has just read or written through (its translation is cached): the unmap
    // that must reach every IOTLB the domain filled, on every unit its devices sit behind.
    add({
      kind: 'IOMMU_IOAS_UNMAP/used',
      weight: 2,
      arb: fc.constant(0),
      needs: ['area'], ready: (m) => m.areas.some((a) => a.alive && a.name === m.used),
      build: (m) => {
        const a = m.areas.find((x) => x.alive && x.name === m.used);
        return a && unmapAreaStep(env, a);
      },
      after: (m, _c, t, step) => {
        const area = unmappedArea(m, t, step);
        if (area) area.alive = false;
      },
    } satisfies CommandSpec<number>);

    // Part of an area an access pins: from inside it to its end, from its start to inside it, or
    // a page within. An unmap must cover whole areas (iopt_unmap_iova_range: ENOENT), and the
    // refusal must come before the accesses are told to let go of anything: the area stays, and
    // so do the pins.
    add({
      kind: 'IOMMU_IOAS_UNMAP/pinned-part',
      weight: 1,
      arb: fc.record({ k: k16, cut: fc.constantFrom('tail' as const, 'head' as const, 'inner' as const) }),
      needs: ['area'], ready: (m) => pinnedAreas(m).length > 0,
      build: (m, c) => {
        const a = pick(pinnedAreas(m), c.k) as AreaEntry;
        const pages = a.length / PAGE;
        const [off, length] = c.cut === 'tail' ? [PAGE, a.length - PAGE] : c.cut === 'head' ? [0n, (pages - 1n) * PAGE] : [PAGE, pages > 2n ? PAGE : a.length - PAGE];
        return ioctlStep(env, 'IOMMU_IOAS_UNMAP', new Ref(a.ctx), { ioas_id: new Ref(a.ioas), iova: new Ref(a.name, '', off), length }, NONE);
      },
    } satisfies CommandSpec<{ k: number; cut: 'tail' | 'head' | 'inner' }>);

    // A whole 2 MiB span of 4 KiB leaves unmapped (wholeSpan): its leaf table is freed, and the
    // entry pointing at it, and the walk caches that hold it, must go too. Then a map in another
    // span, which may take the freed page for its new table: the unmapped span is probed again
    // from then on (the invariants' recently unmapped pages).
    add({
      kind: 'IOMMU_IOAS_UNMAP/whole-span',
      weight: 1,
      arb: fc.record({ k: k16, buf: k16, pages: fc.constantFrom(1, 4, 16) }),
      needs: ['wholeSpan'], ready: () => true,
      build: (m, c) => {
        const a = pick(wholeSpans(m), c.k);
        return a && unmapAreaStep(env, a);
      },
      after: (m, _c, t, step) => {
        const area = unmappedArea(m, t, step);
        if (area) area.alive = false;
      },
      follow: (m, c, t, step) => {
        const f = (t.fields['arg'] as { fields: { ioas_id: Tmpl } }).fields;
        const ioas = ok(step) && f.ioas_id instanceof Ref ? m.objs.find((o) => o.name === (f.ioas_id as Ref).name && o.alive) : undefined;
        const b = pick(m.bufs.filter((x) => x.length >= c.pages * Number(PAGE)), c.buf);
        const at = ioas && freeSpan(m, ioas.ctx, ioas.name, 1);
        return at !== undefined && ioas && b ? ioctlStep(env, 'IOMMU_IOAS_MAP', new Ref(ioas.ctx), { flags: MAP.fixed | MAP.read | MAP.write, ioas_id: new Ref(ioas.name), user_va: new Ref(b.name, 'va'), length: BigInt(c.pages) * PAGE, iova: at }, NONE, {}) : undefined;
      },
    } satisfies CommandSpec<{ k: number; buf: number; pages: number }>);

    // A page alone in its 2 MiB span, which a device has walked, unmapped (its leaf table stays,
    // empty), then the whole span mapped from a huge buffer: the large leaf replaces the empty
    // table, which is freed, so the walk caches that still point at it must be flushed first
    // (generic_pt map_range's iotlb sync of the gather's free list). Half the time the span is
    // the second leaf of a two-leaf run starting at the free span before it: the flush must
    // cover the table's own span, not the run's first.
    add({
      kind: 'IOMMU_IOAS_MAP/superpage-over-table',
      weight: 1,
      arb: fc.record({ k: k16, run: fc.boolean() }),
      needs: ['loneSpan'], ready: () => true,
      build: (m, c) => {
        const a = superpageBuf(m) && pick(loneSpanAreas(m), c.k);
        return a && unmapAreaStep(env, a);
      },
      after: (m, _c, t, step) => {
        const area = unmappedArea(m, t, step);
        if (area) area.alive = false;
      },
      follow: (m, c, t, step) => {
        const area = unmappedArea(m, t, step);
        if (!area) return undefined;
        const span = (area.iova / TABLE_SPAN) * TABLE_SPAN;
        const before = span - TABLE_SPAN;
        const runBuf = m.bufs.find((x) => x.huge && !x.readonly && BigInt(x.length) >= 2n * TABLE_SPAN);
        const run = c.run && runBuf !== undefined && before >= SPAN_BASE && !m.liveAreas(area.ctx, area.ioas).some((x) => x.iova < span && before < x.iova + x.length);
        const b = run ? runBuf : superpageBuf(m);
        if (!b) return undefined;
        const [iova, length] = run ? [before, 2n * TABLE_SPAN] : [span, TABLE_SPAN];
        const name = m.fresh('area');
        m.areas.push({ name, ctx: area.ctx, ioas: area.ioas, iova, length, buf: b.name, bufOff: 0, read: true, write: true, alive: true });
        return ioctlStep(env, 'IOMMU_IOAS_MAP', new Ref(area.ctx), { flags: MAP.fixed | MAP.read | MAP.write, ioas_id: new Ref(area.ioas), user_va: new Ref(b.name, 'va'), length, iova }, NONE, { bind: { [name]: 'out.iova' } });
      },
    } satisfies CommandSpec<{ k: number; run: boolean }>);
  }

  // Two pages across a 2 MiB, 1 GiB or 512 GiB boundary of an IOAS a device reaches, read by the
  // device (the probes after a map), then unmapped: the invalidation of a range is rounded to an
  // aligned block (VT-d's PSI mask, AMD's size code), which here is the boundary's own, and a
  // driver that cannot invalidate a block that large must flush the whole domain instead.
  add({
    kind: 'IOMMU_IOAS_MAP/across-boundary',
    weight: 1,
    arb: fc.record({ k: k16, lg2: fc.constantFrom(21, 30, 30, 39) }),
    needs: ['mappedDevice'], ready: () => true,
    build: (m, c) => {
      const d = pick(m.dfds.filter((x) => x.open && x.attached && m.objs.find((o) => o.name === x.attached && o.alive)?.ioas), c.k);
      const ioas = d && m.objs.find((o) => o.name === m.objs.find((h) => h.name === d.attached)?.ioas && o.alive && !o.allowed?.length);
      const b = m.bufs.find((x) => !x.readonly && x.length >= 2 * PAGE_BYTES);
      if (!d || !ioas || !b) return undefined;
      const block = 1n << BigInt(c.lg2);
      const at = (d.dev.iommu.apertureStart / block + 1n) * block;
      if (at + PAGE - 1n > d.dev.iommu.apertureLast || m.liveAreas(ioas.ctx, ioas.name).some((a) => a.iova < at + PAGE && at - PAGE < a.iova + a.length)) return undefined;
      return ioctlStep(env, 'IOMMU_IOAS_MAP', new Ref(ioas.ctx), { flags: MAP.fixed | MAP.read | MAP.write, ioas_id: new Ref(ioas.name), user_va: new Ref(b.name, 'va'), length: 2n * PAGE, iova: at - PAGE }, NONE, { bind: { [m.fresh('area')]: 'out.iova' } });
    },
    after: (m, _c, t, step) => recordFixedMap(m, t, step, MAP),
    follow: (m, _c, t, step) => {
      const a = ok(step) ? m.areas.find((x) => x.name === Object.keys(t.bind ?? {})[0]) : undefined;
      if (!a) return undefined;
      a.alive = false;
      return unmapAreaStep(env, a);
    },
  } satisfies CommandSpec<{ k: number; lg2: number }>);

  // Large leaves in a run (leafRun: two 2 MiB leaves and a page), read by a device, then unmapped
  // whole: the invalidation must cover every leaf of the range, not one granule per leaf (an
  // SMMUv3 range TLBI counts TG pages, whatever the leaves' size).
  add({
    kind: 'IOMMU_IOAS_UNMAP/leaf-run',
    weight: 1,
    arb: k16,
    needs: ['leafRun'], ready: () => true,
    build: (m, k) => {
      const a = pick(leafRuns(m), k);
      return a && unmapAreaStep(env, a);
    },
    after: (m, _k, t, step) => {
      const area = unmappedArea(m, t, step);
      if (area) area.alive = false;
    },
  } satisfies CommandSpec<number>);

  // The leaf run's buffer mapped again from its last small page before a 2 MiB boundary (a page,
  // a 2 MiB leaf, a page), then unmapped whole: the unmap starts inside no large leaf, and the
  // later leaf it reaches starts where the page before it ended, so it is whole and must be
  // cleared (only the entry a range starts in may refuse a cut: generic_pt __unmap_range).
  add({
    kind: 'IOMMU_IOAS_MAP/pages-then-leaf',
    weight: 1,
    arb: k16,
    needs: ['leafRun'], ready: () => true,
    build: (m, k) => {
      const run = pick(leafRuns(m), k);
      const buf = run && m.bufs.find((b) => b.name === run.buf);
      if (!run || !buf) return undefined;
      let at: bigint | undefined;
      for (let i = 0; at === undefined && i < 60; i++) {
        const first = freeSpan(m, run.ctx, run.ioas, i);
        if (first !== undefined && freeSpan(m, run.ctx, run.ioas, i + 2) === first + 2n * TABLE_SPAN) at = first;
      }
      if (at === undefined) return undefined;
      const head = TABLE_SPAN - PAGE;
      return ioctlStep(env, 'IOMMU_IOAS_MAP', new Ref(run.ctx), { flags: MAP.read | MAP.write | MAP.fixed, ioas_id: new Ref(run.ioas), user_va: new Ref(buf.name, 'va', head), length: TABLE_SPAN + 2n * PAGE, iova: at + head }, NONE, {});
    },
    follow: (_m, _k, t, step) => {
      const f = (t.fields['arg'] as { fields: { ioas_id: Tmpl; iova: bigint; length: bigint } }).fields;
      return ok(step) ? ioctlStep(env, 'IOMMU_IOAS_UNMAP', t.fields['fd'] as Tmpl, { ioas_id: f.ioas_id, iova: f.iova, length: f.length }, NONE, {}) : undefined;
    },
  } satisfies CommandSpec<number>);

  // A power-of-two run of the leaf run's physically contiguous buffer (64 KiB to 1 MiB), at an IOVA
  // and a buffer offset aligned to its size but not to 2 MiB: formats with contiguous leaves
  // (AMD v1's page-size encoding over 2^n entries, Arm's contiguous hint, the 7.3 mock's AMD v1)
  // write it as one large leaf replicated over its entries, each of which must translate; then
  // unmapped whole.
  add({
    kind: 'IOMMU_IOAS_MAP/contig-run',
    weight: 1,
    arb: fc.record({ k: k16, lg2: fc.integer({ min: 4, max: 8 }), span: fc.nat(3) }),
    needs: ['leafRun'], ready: () => true,
    build: (m, c) => {
      const run = pick(leafRuns(m), c.k);
      const buf = run && m.bufs.find((b) => b.name === run.buf);
      const at = run && freeSpan(m, run.ctx, run.ioas, c.span);
      if (!run || !buf || at === undefined) return undefined;
      const size = (1n << BigInt(c.lg2)) * PAGE;
      return ioctlStep(env, 'IOMMU_IOAS_MAP', new Ref(run.ctx), { flags: MAP.read | MAP.write | MAP.fixed, ioas_id: new Ref(run.ioas), user_va: new Ref(buf.name, 'va', size), length: size, iova: at + size }, NONE, {});
    },
    follow: (_m, _c, t, step) => {
      const f = (t.fields['arg'] as { fields: { ioas_id: Tmpl; iova: bigint; length: bigint } }).fields;
      return ok(step) ? ioctlStep(env, 'IOMMU_IOAS_UNMAP', t.fields['fd'] as Tmpl, { ioas_id: f.ioas_id, iova: f.iova, length: f.length }, NONE, {}) : undefined;
    },
  } satisfies CommandSpec<{ k: number; lg2: number; span: number }>);

  // A writable page beside a read-only one that came first in its 2 MiB span (roSpan: that map
  // allocated the span's tables), then a device write to it: each mapping carries its own
  // permission whatever the order (formats with permission bits in table entries, AMD v1's
  // IR/IW and Arm's APTable, leave the tables open: generic_pt sets IR|IW on every table).
  if (opSupported(caps, 'dma')) {
    add({
      kind: 'IOMMU_IOAS_MAP/writable-after-read-only',
      weight: 1,
      arb: fc.record({ k: k16, data: smallBytes }),
      needs: ['roSpan'], ready: () => true,
      build: (m, c) => {
        const t = pick(roSpanTargets(m), c.k);
        const b = m.bufs.find((x) => !x.readonly && x.length >= 2 * PAGE_BYTES);
        if (!t || !b) return undefined;
        const iova = t.area.iova + PAGE;
        return ioctlStep(env, 'IOMMU_IOAS_MAP', new Ref(t.area.ctx), { flags: MAP.fixed | MAP.read | MAP.write, ioas_id: new Ref(t.area.ioas), user_va: new Ref(b.name, 'va', PAGE), length: PAGE, iova }, NONE, { bind: { [m.fresh('area')]: 'out.iova' } });
      },
      after: (m, _c, t, step) => recordFixedMap(m, t, step, MAP),
      follow: (m, c, t, step) => {
        const f = (t.fields['arg'] as { fields: { ioas_id: Ref; iova: bigint } }).fields;
        const d = ok(step) ? roSpanTargets(m, true).find((x) => x.area.ioas === f.ioas_id.name && x.area.iova + PAGE === f.iova) : undefined;
        return d && { op: 'dma', fields: { device: new Ref(d.dev), iova: f.iova, dir: 'write', data: c.data } };
      },
    } satisfies CommandSpec<{ k: number; data: Uint8Array }>);
  }

  // The top of the address space: in an IOAS no domain holds (a domain's aperture ends lower) that
  // maps something already, one or two pages ending on its last byte, then unmapped by their exact
  // range: the walks over areas must stop there, not wrap around to IOVA 0 (the areas below stay,
  // and the unmap reports the top area's bytes alone).
  add({
    kind: 'IOMMU_IOAS_MAP/top-end',
    weight: 1,
    arb: fc.record({ k: k16, pages: fc.constantFrom(1n, 2n) }),
    needs: ['area', 'buf'], ready: () => true,
    build: (m, c) => {
      const held = new Set(m.live('hwpt').map((h) => h.ioas));
      const a = pick(m.liveAreas().filter((x) => !held.has(x.ioas) && m.ctxs.find((y) => y.name === x.ctx)?.open && !m.objs.find((o) => o.name === x.ioas)?.allowed?.length), c.k);
      const b = pick(m.bufs.filter((x) => x.length >= Number(c.pages) * PAGE_BYTES), c.k);
      if (!a || !b) return undefined;
      const map = mapFlags(env.profile);
      return ioctlStep(env, 'IOMMU_IOAS_MAP', new Ref(a.ctx), { flags: map.fixed | map.read, ioas_id: new Ref(a.ioas), user_va: new Ref(b.name, 'va'), length: c.pages * PAGE, iova: U64_MAX - c.pages * PAGE + 1n }, NONE, {});
    },
    follow: (_m, c, t, step) => {
      const f = (t.fields['arg'] as { fields: { ioas_id: Ref; iova: bigint } }).fields;
      return ok(step) ? ioctlStep(env, 'IOMMU_IOAS_UNMAP', t.fields['fd'] as Ref, { ioas_id: f.ioas_id, iova: f.iova, length: c.pages * PAGE }, NONE, {}) : undefined;
    },
  } satisfies CommandSpec<{ k: number; pages: bigint }>);

  // Pages shared in pieces: a new IOAS no domain holds maps four pages of a buffer; its two halves
  // are copied to unrelated spans of an IOAS a device's domain holds, and another buffer's page is
  // mapped right after the first half's copy; then all four pages are copied there once more. The
  // last copy's domain fill reads each piece's PFNs from a domain already holding them
  // (pfn_reader_fill_span), which must stop at that area's end: the page after the first half's
  // copy is another buffer's.
  if (supported(env.caps, 'IOMMU_IOAS_COPY') && supported(env.caps, 'IOMMU_IOAS_ALLOC')) {
    const dests = (m: GenModel): { ctx: string; ioas: string }[] =>
      m.dfds.flatMap((d) => {
        const h = d.open && d.attached ? m.objs.find((o) => o.name === d.attached && o.alive) : undefined;
        const ioas = h?.ioas ? m.objs.find((o) => o.name === h.ioas && o.alive && !o.allowed?.length) : undefined;
        return ioas && m.ctxs.find((c) => c.name === ioas.ctx)?.open ? [{ ctx: ioas.ctx, ioas: ioas.name }] : [];
      });
    add({
      kind: 'IOMMU_IOAS_COPY/halves',
      weight: 1,
      arb: k16,
      needs: ['mappedDevice', 'buf'], ready: (m) => m.objs.filter((o) => o.kind === 'ioas').length < 8 && dests(m).length > 0,
      build: (m, k) => {
        const d = pick(dests(m), k);
        return d && ioctlStep(env, 'IOMMU_IOAS_ALLOC', new Ref(d.ctx), {}, NONE, { bind: { [m.fresh('ioas')]: 'out.out_ioas_id' } });
      },
      after: (m, k, t, step) => {
        const d = pick(dests(m), k);
        if (ok(step) && d) m.objs.push({ name: Object.keys(t.bind ?? {})[0] as string, kind: 'ioas', ctx: d.ctx, alive: true });
      },
      follow: (m, k, t, step) => {
        const d = ok(step) ? pick(dests(m), k) : undefined;
        const src = Object.keys(t.bind ?? {})[0];
        const big = m.bufs.find((x) => !x.readonly && x.length >= 4 * PAGE_BYTES);
        const other = m.bufs.find((x) => x !== big);
        const [s0, s1, s2] = d ? [0, 1, 2].map((i) => freeSpan(m, d.ctx, d.ioas, i)) : [];
        if (!d || !src || !big || !other || s0 === undefined || s1 === undefined || s2 === undefined) return undefined;
        const map = mapFlags(env.profile);
        const flags = map.fixed | map.read | map.write;
        const copy = (from: bigint, length: bigint, to: bigint): StepTemplate | undefined =>
          ioctlStep(env, 'IOMMU_IOAS_COPY', new Ref(d.ctx), { flags, dst_ioas_id: new Ref(d.ioas), src_ioas_id: new Ref(src), length, dst_iova: to, src_iova: SPAN_BASE + from }, NONE, {});
        return [
          ioctlStep(env, 'IOMMU_IOAS_MAP', new Ref(d.ctx), { flags, ioas_id: new Ref(src), user_va: new Ref(big.name, 'va'), length: 4n * PAGE, iova: SPAN_BASE }, NONE, {}),
          copy(0n, 2n * PAGE, s0),
          copy(2n * PAGE, 2n * PAGE, s1),
          ioctlStep(env, 'IOMMU_IOAS_MAP', new Ref(d.ctx), { flags, ioas_id: new Ref(d.ioas), user_va: new Ref(other.name, 'va'), length: PAGE, iova: s0 + 2n * PAGE }, NONE, {}),
          copy(0n, 4n * PAGE, s2),
        ].filter((x): x is StepTemplate => x !== undefined);
      },
    } satisfies CommandSpec<number>);
  }

  // An area unmapped and its memory mapped again at once, where it was: the unmap must have
  // given back every pin and every page charged to RLIMIT_MEMLOCK (under a tight limit the
  // second map needs them), and the new area must reach the same bytes.
  add({
    kind: 'IOMMU_IOAS_UNMAP/remap',
    weight: 1,
    arb: k16,
    needs: ['area'], ready: () => true,
    build: (m, k) => {
      const a = pick(m.liveAreas().filter((x) => x.buf && m.ctxs.find((c) => c.name === x.ctx)?.open), k);
      return a && unmapAreaStep(env, a);
    },
    after: (m, _k, t, step) => {
      const area = unmappedArea(m, t, step);
      if (area) area.alive = false;
    },
    follow: (m, _k, t, step) => {
      const a = unmappedArea(m, t, step);
      if (!a?.buf) return undefined;
      const name = m.fresh('area');
      m.areas.push({ ...a, name, alive: true });
      const flags = MAP.fixed | (a.read ? MAP.read : 0) | (a.write ? MAP.write : 0);
      return ioctlStep(env, 'IOMMU_IOAS_MAP', new Ref(a.ctx), { flags, ioas_id: new Ref(a.ioas), user_va: new Ref(a.buf, 'va', BigInt(a.bufOff)), length: a.length, iova: a.iova }, NONE, { bind: { [name]: 'out.iova' } });
    },
  } satisfies CommandSpec<number>);
  // The lowest hole of an IOAS made as long as a map but not aligned for it: one page mapped
  // at PAGE + length leaves [PAGE, PAGE + length) free, and an automatic map of that length
  // from a 2 MiB-aligned buffer wants an IOVA aligned to its length (iopt_alloc_iova keeps the
  // buffer's alignment), which that hole cannot give once aligned: the search must go past it,
  // never place the area across the page above.
  add({
    kind: 'IOMMU_IOAS_MAP/tight-hole',
    weight: 1,
    arb: k16,
    needs: ['tightHole'], ready: () => true,
    build: (m, k) => {
      const o = pick(tightHoles(m), k);
      const b = tightBuf(m);
      return o && b && ioctlStep(env, 'IOMMU_IOAS_MAP', new Ref(o.ctx), { flags: MAP.fixed | MAP.read, ioas_id: new Ref(o.name), user_va: new Ref(b.name, 'va'), length: PAGE, iova: TIGHT.low }, NONE, { bind: { [m.fresh('area')]: 'out.iova' } });
    },
    after: (m, _k, t, step) => recordFixedMap(m, t, step, MAP),
    follow: (m, _k, t, step) => {
      const f = (t.fields['arg'] as { fields: { ioas_id: Ref; user_va: Ref } }).fields;
      const o = m.objs.find((x) => x.name === f.ioas_id.name);
      if (!ok(step) || !o) return undefined;
      // Where it lands is the implementation's choice (any hole that takes it aligned), so the model
      // does not keep it: the oracles' shadows know it from the answer.
      return ioctlStep(env, 'IOMMU_IOAS_MAP', new Ref(o.ctx), { flags: MAP.read, ioas_id: new Ref(o.name), user_va: new Ref(f.user_va.name, 'va'), length: TIGHT.len, iova: 0n }, NONE, {});
    },
  } satisfies CommandSpec<number>);

  // A map from a byte offset into a page (2 KiB: the mock domains' page size) into an IOAS held by
  // two mock domains of its own (mockPair): each domain maps the area from that offset, the second
  // as the first (iopt_area_fill_domains fills every domain of the IOAS from the same batch).
  add({
    kind: 'IOMMU_IOAS_MAP/sub-page-domains',
    weight: 1,
    arb: fc.record({ k: k16, pages: fc.constantFrom(1, 2, 4), fixed: fc.boolean() }),
    needs: ['mockPair'], ready: () => true,
    build: (m, c) => {
      const o = pick(m.live('ioas').filter((x) => x.mockPair && m.ctxs.find((y) => y.name === x.ctx)?.open), c.k);
      const b = o && m.bufs.find((x) => x.name === o.mockPair);
      if (!o || !b) return undefined;
      // Fixed: at the same offset into a page of the IOVA space, past what the IOAS maps.
      const top = m.liveAreas(o.ctx, o.name).reduce((x, a) => (a.iova + a.length > x ? a.iova + a.length : x), 1n << 24n);
      const iova = c.fixed ? top - (top % PAGE) + 2n * PAGE + MOCK_SUB_PAGE : 0n;
      return ioctlStep(env, 'IOMMU_IOAS_MAP', new Ref(o.ctx), { flags: MAP.read | MAP.write | (c.fixed ? MAP.fixed : 0), ioas_id: new Ref(o.name), user_va: new Ref(b.name, 'va', MOCK_SUB_PAGE), length: BigInt(c.pages) * PAGE, iova }, NONE, { bind: { [m.fresh('area')]: 'out.iova' } });
    },
    after: (m, _c, t, step) => {
      // Where it landed (the implementation's choice unless fixed): the answer's iova.
      const f = (t.fields['arg'] as { fields: { ioas_id: Ref; user_va: Ref; length: bigint } }).fields;
      const o = m.objs.find((x) => x.name === f.ioas_id.name);
      const iova = step.response?.ok ? (step.response.result as { out?: { iova?: bigint } }).out?.iova : undefined;
      if (ok(step) && o && iova !== undefined) m.areas.push({ name: Object.keys(t.bind ?? {})[0] as string, ctx: o.ctx, ioas: o.name, iova, length: f.length, buf: f.user_va.name, bufOff: Number(f.user_va.add), read: true, write: true, alive: true });
    },
    // A fixed one ends inside a CPU page: another area right after it, from the next bytes of the
    // buffer, then the first unmapped alone — the second keeps the rest of that page (an unmap or an
    // unwind that runs to the page's end takes its head).
    follow: (m, c, t, step) => {
      const f = (t.fields['arg'] as { fields: { ioas_id: Ref; user_va: Ref; length: bigint; iova: bigint } }).fields;
      const a = ok(step) && c.fixed ? m.areas.find((x) => x.name === Object.keys(t.bind ?? {})[0] && x.alive) : undefined;
      const o = a && m.objs.find((x) => x.name === f.ioas_id.name);
      if (!a || !o || !has('IOMMU_IOAS_UNMAP')) return undefined;
      const name = m.fresh('area');
      const next = ioctlStep(env, 'IOMMU_IOAS_MAP', new Ref(o.ctx), { flags: MAP.read | MAP.write | MAP.fixed, ioas_id: new Ref(o.name), user_va: new Ref(f.user_va.name, 'va', MOCK_SUB_PAGE + f.length), length: PAGE, iova: f.iova + f.length }, NONE, { bind: { [name]: 'out.iova' } });
      const unmap = unmapAreaStep(env, a);
      if (!next || !unmap) return undefined;
      // A follow has no `after`: the areas are as the steps will leave them.
      m.areas.push({ name, ctx: o.ctx, ioas: o.name, iova: f.iova + f.length, length: PAGE, buf: f.user_va.name, bufOff: Number(MOCK_SUB_PAGE + f.length), read: true, write: true, alive: true });
      a.alive = false;
      return [next, unmap];
    },
  } satisfies CommandSpec<{ k: number; pages: number; fixed: boolean }>);

  if (has('IOMMU_IOAS_COPY')) {
    type Copy = { ctx: number; src: number; dst: IdChoice; off: number; pages: number; prot: number; fixed: boolean; iova: IovaChoice; abi: AbiChoice };
    const copy: CommandSpec<Copy> = {
      kind: 'IOMMU_IOAS_COPY',
      weight: 3,
      arb: fc.record({ ctx: ctxK, src: k16, dst: idChoice, off: fc.nat(15), pages: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 8 })), prot, fixed: fc.boolean(), iova: iovaChoice, abi: env.abiFor('IOMMU_IOAS_COPY') }),
      needs: ['area'], ready: () => true,
      build: (m, c) => {
        const ctx = ctxOf(m, c.ctx) as CtxEntry;
        const a = pick(m.liveAreas(ctx.name), c.src) ?? pick(m.liveAreas(), c.src);
        if (!a) return undefined;
        const { id: dst, obj } = idOf(c.dst, m, ctx.name, ['ioas']);
        const pages = a.length / PAGE;
        const off = pages > 0n ? (BigInt(c.off) % pages) * PAGE : 0n;
        const length = c.pages === 0 ? a.length - off : BigInt(c.pages) * PAGE;
        const name = m.fresh('area');
        const flags = c.prot | (c.fixed ? MAP.fixed : 0);
        const dstIova = c.fixed ? iovaOf(c.iova, m, areasFor(m, ctx, obj?.name), length, boundsFor(m, obj?.name)) : 0n;
        return ioctlStep(env, 'IOMMU_IOAS_COPY', new Ref(ctx.name), { flags, dst_ioas_id: dst, src_ioas_id: new Ref(a.ioas), length, dst_iova: dstIova, src_iova: new Ref(a.name, '', off) }, c.abi, {
          bind: { [name]: 'out.dst_iova' },
          defects: idDefects(c.dst, obj),
        });
      },
      after: (m, c, t, step) => {
        if (!ok(step)) return;
        const f = (t.fields['arg'] as { fields: { dst_ioas_id: Tmpl; src_iova: Ref; length: bigint; flags: number } }).fields;
        const src = m.areas.find((x) => x.name === f.src_iova.name);
        const iova = (step.response?.ok ? ((step.response.result as { out?: { dst_iova?: bigint } }).out?.dst_iova ?? 0n) : 0n) as bigint;
        m.areas.push({
          name: Object.keys(t.bind ?? {})[0] as string,
          ctx: (ctxOf(m, c.ctx) as CtxEntry).name,
          ioas: f.dst_ioas_id instanceof Ref ? f.dst_ioas_id.name : '',
          iova,
          length: f.length,
          ...(src?.buf && { buf: src.buf }),
          bufOff: (src?.bufOff ?? 0) + Number(f.src_iova.add),
          read: (f.flags & MAP.read) !== 0,
          write: (f.flags & MAP.write) !== 0,
          alive: true,
        });
      },
    };
    add(copy);
    /** An area of an IOAS no domain holds, and a whole copy of it into an IOAS of its context a domain holds. */
    const intoDomain = (m: GenModel, k: number): { src: AreaEntry; choice: Copy } | undefined => {
      const held = new Set(m.live('hwpt').map((h) => h.ioas));
      const src = pick(m.liveAreas().filter((a) => !held.has(a.ioas) && m.ctxs.find((c) => c.name === a.ctx)?.open), k);
      const dst = src && m.live('ioas', src.ctx).find((o) => held.has(o.name));
      const ctx = m.openCtxs().findIndex((c) => c.name === src?.ctx);
      if (!src || !dst || ctx < 0 || ctx % 23 === 22) return undefined;
      const k2 = m.live('ioas', src.ctx).indexOf(dst);
      return { src, choice: { ctx, src: m.liveAreas(src.ctx).indexOf(src), dst: { kind: 'live', k: k2 }, off: 0, pages: 0, prot: MAP.read | MAP.write, fixed: false, iova: { kind: 'page', n: 0 }, abi: NONE } };
    };
    /** The copy's new area, in the context of the IOAS it went to. */
    const copyInto = (m: GenModel, t: StepTemplate, step: TraceStep, s: CaseSession): void => {
      const f = (t.fields['arg'] as { fields: { dst_ioas_id: Tmpl } }).fields;
      const dst = f.dst_ioas_id instanceof Ref ? m.objs.find((o) => o.name === (f.dst_ioas_id as Ref).name) : undefined;
      const ctx = m.openCtxs().findIndex((c) => c.name === dst?.ctx);
      copy.after?.(m, { ctx, src: 0, dst: { kind: 'live', k: 0 }, off: 0, pages: 0, prot: 0, fixed: false, iova: { kind: 'page', n: 0 }, abi: NONE }, t, step, s);
    };
    // Pages mapped where no domain holds them, copied whole into an IOAS whose domain does: the
    // copy pins them (iopt_map_pages fills the domains), and charges them against RLIMIT_MEMLOCK
    // there as a MAP would — the limit of an unprivileged case must hold on this path too.
    add({
      kind: 'IOMMU_IOAS_COPY/into-domain',
      weight: 1,
      arb: k16,
      needs: ['bareArea'], ready: () => true,
      build: (m, k) => {
        const r = intoDomain(m, k);
        return r && copy.build(m, r.choice);
      },
      after: (m, _k, t, step, s) => copyInto(m, t, step, s),
    } satisfies CommandSpec<number>);
    // Part of pages mapped where no domain holds them copied into an IOAS whose domain does (the
    // copy pins that part), then the whole: the second copy's pin starts at a page nobody holds and
    // runs into pages already pinned, which it must take from the pages' own pins, not pin again
    // (pfn_reader_fill_span pins up to the hole's end, span->last_hole).
    add({
      kind: 'IOMMU_IOAS_COPY/part-then-whole',
      weight: 1,
      arb: fc.record({ k: k16, from: fc.integer({ min: 1, max: 15 }), pages: fc.constantFrom(0, 1, 2) }),
      needs: ['bareArea'], ready: () => true,
      build: (m, c) => {
        const r = intoDomain(m, c.k);
        if (!r || r.src.length < 2n * PAGE) return undefined;
        const pages = r.src.length / PAGE;
        const off = BigInt(1 + ((c.from - 1) % Number(pages - 1n)));
        return copy.build(m, { ...r.choice, off: Number(off), pages: c.pages === 0 ? 0 : Math.min(c.pages, Number(pages - off)) });
      },
      after: (m, _c, t, step, s) => copyInto(m, t, step, s),
      follow: (m, c) => {
        const r = intoDomain(m, c.k);
        return r && copy.build(m, r.choice);
      },
    } satisfies CommandSpec<{ k: number; from: number; pages: number }>);
    // A copy of two touching areas' pages, from the lower one's last pages into the upper one:
    // iopt_get_pages makes one list entry per area, and every step over that list — the fixed
    // destination checked for the whole length, the domains filled piece by piece and the pieces
    // already filled taken out again when a later one fails — sees more than one piece only here.
    // Fixed, the destination's head lands just before an area or a reservation of the target IOAS,
    // so only the tail would run over it.
    type TwoAreas = { k: number; dst: number; head: number; tail: number; at: 'auto' | 'area' | 'reserved' };
    const twoAreaArb = fc.record({ k: k16, dst: k16, head: fc.constantFrom(1, 1, 2), tail: fc.constantFrom(1, 2, 16), at: fc.constantFrom<TwoAreas['at']>('auto', 'area', 'area', 'reserved') });
    const twoAreaCopy = (m: GenModel, [lo, hi]: [AreaEntry, AreaEntry], dst: ObjEntry, c: TwoAreas): StepTemplate | undefined => {
      const head = BigInt(Math.min(c.head, Number(lo.length / PAGE))) * PAGE;
      const tail = hi.length < BigInt(c.tail) * PAGE ? hi.length : BigInt(c.tail) * PAGE;
      const walls = c.at === 'area' ? m.liveAreas(dst.ctx, dst.name).map((a) => a.iova) : c.at === 'reserved' ? (dst.reserved ?? []).map((r) => r.start) : [];
      const wall = walls.filter((w) => w >= head && w % PAGE === 0n)[c.dst % Math.max(1, walls.length)];
      const flags = MAP.read | (lo.write && hi.write ? MAP.write : 0) | (wall !== undefined ? MAP.fixed : 0);
      return ioctlStep(env, 'IOMMU_IOAS_COPY', new Ref(lo.ctx), { flags, dst_ioas_id: new Ref(dst.name), src_ioas_id: new Ref(lo.ioas), length: head + tail, dst_iova: wall !== undefined ? wall - head : 0n, src_iova: new Ref(lo.name, '', lo.length - head) }, NONE, {});
    };
    add({
      kind: 'IOMMU_IOAS_COPY/two-areas',
      weight: 2,
      arb: twoAreaArb,
      needs: ['areaPair'], ready: () => true,
      build: (m, c) => {
        const pair = pick(touchingPairs(m), c.k);
        const dst = pair && pick(m.live('ioas', pair[0].ctx), c.dst);
        return pair && dst && twoAreaCopy(m, pair, dst, c);
      },
    } satisfies CommandSpec<TwoAreas>);
    // The same from an IOAS no domain holds (its pages mapped but not pinned) into one a domain
    // holds, after the user page behind the upper area's first page went away (munmap): the copy
    // pins the head's pages and fills the domains with them, then fails at the tail (EFAULT), and
    // must take the head out of every domain again and give back its pins and charges.
    if (opSupported(caps, 'mem_unmap')) {
      const failing = (m: GenModel, c: TwoAreas): { pair: [AreaEntry, AreaEntry]; dst: ObjEntry; buf: BufEntry } | undefined => {
        const held = new Set(m.live('hwpt').map((h) => h.ioas));
        const pair = pick(touchingPairs(m).filter(([lo]) => !held.has(lo.ioas) && m.live('ioas', lo.ctx).some((o) => held.has(o.name))), c.k);
        const dst = pair && pick(m.live('ioas', pair[0].ctx).filter((o) => held.has(o.name)), c.dst);
        const buf = pair && m.bufs.find((b) => b.name === pair[1].buf);
        return pair && dst && buf && { pair, dst, buf };
      };
      add({
        kind: 'IOMMU_IOAS_COPY/two-areas-fail',
        weight: 1,
        arb: twoAreaArb,
        needs: ['barePair'], ready: () => true,
        build: (m, c) => {
          const f = failing(m, c);
          return f && { op: 'mem_unmap', fields: { buffer: new Ref(f.buf.name, 'buffer'), offset: Math.floor(f.pair[1].bufOff / 4096) * 4096, length: 4096 } };
        },
        follow: (m, c, _t, step) => {
          const f = ok(step) ? failing(m, c) : undefined;
          return f && twoAreaCopy(m, f.pair, f.dst, c);
        },
      } satisfies CommandSpec<TwoAreas>);
    }
  }

  if (has('IOMMU_IOAS_ALLOW_IOVAS')) {
    const rangeArb = fc.record({ iova: iovaChoice, pages: fc.oneof(fc.constantFrom(1, 16, 512), fc.integer({ min: 1, max: 4096 })), bad: fc.oneof({ weight: 12, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }) });
    add({
      kind: 'IOMMU_IOAS_ALLOW_IOVAS',
      weight: 1,
      arb: fc.record({ ctx: ctxK, ioas: idChoice, ranges: fc.array(rangeArb, { maxLength: 3 }), abi: env.abiFor('IOMMU_IOAS_ALLOW_IOVAS') }),
      needs: ['ioas'], ready: () => true,
      build: (m, c) => {
        const ctx = ctxOf(m, c.ctx) as CtxEntry;
        const { id, obj } = idOf(c.ioas, m, ctx.name, ['ioas']);
        const ranges: Range[] = [];
        for (const r of c.ranges) {
          const at = iovaOf(r.iova, m, m.liveAreas(ctx.name), BigInt(r.pages) * PAGE, boundsFor(m, obj?.name));
          // Ranges are literal: an area's IOVA is resolved now, from what the implementation chose.
          const start = at instanceof Ref ? (m.areas.find((x) => x.name === at.name)?.iova ?? 0n) + at.add : (at as bigint);
          const clamped = start > U64_MAX - BigInt(r.pages) * PAGE ? U64_MAX - BigInt(r.pages) * PAGE : start;
          ranges.push(r.bad ? { start: clamped, last: clamped } : { start: clamped, last: clamped + BigInt(r.pages) * PAGE - 1n });
        }
        const data = encodeRanges(ranges);
        return ioctlStep(env, 'IOMMU_IOAS_ALLOW_IOVAS', new Ref(ctx.name), { ioas_id: id, num_iovas: ranges.length, allowed_iovas: ranges.length ? { data } : 0n }, c.abi, { defects: idDefects(c.ioas, obj) });
      },
      after: (m, _c, t, step) => {
        const f = (t.fields['arg'] as { fields: { ioas_id: Tmpl; num_iovas: number; allowed_iovas: { data: Uint8Array } | bigint } }).fields;
        const o = f.ioas_id instanceof Ref ? m.objs.find((x) => x.name === (f.ioas_id as Ref).name) : undefined;
        if (!ok(step) || !o) return;
        o.allowed = typeof f.allowed_iovas === 'bigint' ? [] : decodeRanges(f.allowed_iovas.data, f.num_iovas);
      },
    } satisfies CommandSpec<{ ctx: number; ioas: IdChoice; ranges: { iova: IovaChoice; pages: number; bad: boolean }[]; abi: AbiChoice }>);

    // An automatic MAP longer than every allowed range of its IOAS: the allocator finds no hole
    // (iopt_alloc_iova, ENOSPC) and must not place it anywhere else — the kernel selftests' allowed-
    // range tests, with ranges low in the address space and at its very top (where ALIGN() of a
    // hole's start can wrap).
    // Over 0: exactly as long as the widest range, then the same again: once the range is full
    // (or holds anything) the second finds no hole inside it either, and must not go past it.
    type Beyond = { k: number; buf: number; over: number; abi: AbiChoice };
    add({
      kind: 'IOMMU_IOAS_MAP/beyond-allowed',
      weight: 1,
      arb: fc.record({ k: k16, buf: k16, over: fc.integer({ min: 0, max: 4 }), abi: env.abiFor('IOMMU_IOAS_MAP') }),
      needs: ['allowedIoas', 'buf'], ready: () => true,
      build: (m, c) => {
        const o = pick(m.live('ioas').filter((x) => x.allowed?.length && m.ctxs.find((y) => y.name === x.ctx)?.open), c.k);
        const b = pick(m.bufs, c.buf);
        if (!o?.allowed || !b) return undefined;
        const widest = o.allowed.reduce((w, r) => (r.last - r.start + 1n > w ? r.last - r.start + 1n : w), 0n);
        const len = widest - (widest % PAGE) + BigInt(c.over) * PAGE;
        if (len > BigInt(b.length)) return undefined;
        return ioctlStep(env, 'IOMMU_IOAS_MAP', new Ref(o.ctx), { flags: MAP.read | MAP.write, ioas_id: new Ref(o.name), user_va: new Ref(b.name, 'va'), length: len, iova: 0n }, c.abi, { bind: { [m.fresh('area')]: 'out.iova' } });
      },
      follow: (_m, c, t) => {
        const f = (t.fields['arg'] as { fields: { ioas_id: Tmpl; user_va: Tmpl; length: bigint } }).fields;
        const ctx = t.fields['fd'] as Tmpl;
        return c.over === 0 && f.length > 0n ? ioctlStep(env, 'IOMMU_IOAS_MAP', ctx, { flags: MAP.read | MAP.write, ioas_id: f.ioas_id, user_va: f.user_va, length: f.length, iova: 0n }, NONE, {}) : undefined;
      },
    } satisfies CommandSpec<Beyond>);

    // ALLOW_IOVAS of a range over a reserved one, on an IOAS that has allowed ranges: refused
    // (EADDRINUSE), and the allowed ranges stay as they were (iopt_set_allow_iova swaps the old
    // tree back) — an automatic MAP right after lands inside them, not in the refused range.
    add({
      kind: 'IOMMU_IOAS_ALLOW_IOVAS/refused',
      weight: 1,
      arb: fc.record({ k: k16, buf: k16 }),
      needs: ['allowedIoas', 'buf'], ready: () => true,
      build: (m, c) => {
        const o = pick(m.live('ioas').filter((x) => x.allowed?.length && x.reserved?.length && m.ctxs.find((y) => y.name === x.ctx)?.open), c.k);
        const r = o?.reserved?.[0];
        if (!o || !r) return undefined;
        // A page either side of the reservation: room an automatic IOVA could take if this were allowed.
        const over = encodeRanges([{ start: r.start - PAGE, last: r.last + PAGE }]);
        return ioctlStep(env, 'IOMMU_IOAS_ALLOW_IOVAS', new Ref(o.ctx), { ioas_id: new Ref(o.name), num_iovas: 1, allowed_iovas: { data: over } }, NONE, {});
      },
      follow: (m, c, t, step) => {
        const id = (t.fields['arg'] as { fields: { ioas_id: Tmpl } }).fields.ioas_id;
        const o = step.status === 'failed' && id instanceof Ref ? m.objs.find((x) => x.name === id.name && x.alive) : undefined;
        const b = pick(m.bufs, c.buf);
        return o && b && ioctlStep(env, 'IOMMU_IOAS_MAP', new Ref(o.ctx), { flags: MAP.read | MAP.write, ioas_id: id, user_va: new Ref(b.name, 'va'), length: PAGE, iova: 0n }, NONE, {});
      },
    } satisfies CommandSpec<{ k: number; buf: number }>);
  }

  if (has('IOMMU_IOAS_IOVA_RANGES')) {
    add({
      kind: 'IOMMU_IOAS_IOVA_RANGES',
      weight: 1,
      // The array runs past num_iovas with bytes of its own now and then: the kernel writes only the ranges that fit.
      arb: fc.record({ ctx: ctxK, ioas: idChoice, n: fc.nat(4), slack: fc.constantFrom(0, 0, 16, 32), abi: env.abiFor('IOMMU_IOAS_IOVA_RANGES') }),
      needs: ['ioas'], ready: () => true,
      build: (m, c) => {
        const ctx = ctxOf(m, c.ctx) as CtxEntry;
        const { id, obj } = idOf(c.ioas, m, ctx.name, ['ioas']);
        const room = c.n * 16;
        const ranges: Tmpl = c.slack ? { data: SLACK_BYTES.subarray(0, room + c.slack) } : c.n ? { room } : 0n;
        return ioctlStep(env, 'IOMMU_IOAS_IOVA_RANGES', new Ref(ctx.name), { ioas_id: id, num_iovas: c.n, allowed_iovas: ranges }, c.abi, { defects: idDefects(c.ioas, obj) });
      },
    } satisfies CommandSpec<{ ctx: number; ioas: IdChoice; n: number; slack: number; abi: AbiChoice }>);
  }

  if (has('IOMMU_OPTION')) {
    const opts = { rlimit: v(p, 'IOMMU_OPTION_RLIMIT_MODE'), huge: v(p, 'IOMMU_OPTION_HUGE_PAGES'), set: v(p, 'IOMMU_OPTION_OP_SET'), get: v(p, 'IOMMU_OPTION_OP_GET') };
    add({
      kind: 'IOMMU_OPTION',
      weight: 1,
      arb: fc.record({ ctx: ctxK, option: fc.constantFrom(opts.rlimit, opts.huge, opts.huge, 7), op: fc.constantFrom(opts.set, opts.get, opts.get, 3), ioas: idChoice, val: fc.constantFrom(0n, 1n, 1n, 2n), abi: env.abiFor('IOMMU_OPTION') }),
      needs: ['ioas'], ready: () => true,
      build: (m, c) => {
        const ctx = ctxOf(m, c.ctx) as CtxEntry;
        const object = c.option === opts.huge ? idOf(c.ioas, m, ctx.name, ['ioas']).id : c.ioas.kind === 'absent' ? 1 : 0;
        // An option or op the uAPI does not define, and a SET of neither 0 nor 1, are refused
        // (iommufd_option, iommufd_option_rlimit_mode, iommufd_ioas_option), never read as something else.
        const defects: Defect[] = [];
        const known = c.option === opts.rlimit || c.option === opts.huge;
        if (!known) defects.push({ what: `an unknown option_id ${c.option}`, errno: 'EOPNOTSUPP', abi: true });
        else if (c.op !== opts.set && c.op !== opts.get) defects.push({ what: `an unknown op ${c.op}`, errno: 'EOPNOTSUPP', abi: true });
        else if (c.op === opts.set && c.val > 1n) defects.push({ what: `val64 ${c.val} (neither 0 nor 1)`, errno: 'EINVAL', abi: true });
        return ioctlStep(env, 'IOMMU_OPTION', new Ref(ctx.name), { option_id: c.option, op: c.op, object_id: object, val64: c.val }, c.abi, { defects });
      },
    } satisfies CommandSpec<{ ctx: number; option: number; op: number; ioas: IdChoice; val: bigint; abi: AbiChoice }>);
    // Large pages turned off on an IOAS with an area at a byte offset into a page: refused
    // (EADDRINUSE, the alignment cannot rise to PAGE_SIZE), and then the option must still read 1.
    const unalignedIoas = (m: GenModel): AreaEntry[] => m.liveAreas().filter((a) => a.iova % PAGE !== 0n && !m.live('hwpt').some((h) => h.ioas === a.ioas));
    const hugeOf = (m: GenModel, k: number, op: number): StepTemplate | undefined => {
      const a = pick(unalignedIoas(m), k);
      return a && ioctlStep(env, 'IOMMU_OPTION', new Ref(a.ctx), { option_id: opts.huge, op, object_id: new Ref(a.ioas), val64: 0n }, NONE, {});
    };
    add({
      kind: 'IOMMU_OPTION/huge-pages-off-refused',
      weight: 1,
      arb: k16,
      needs: ['unalignedIoas'], ready: () => true,
      build: (m, k) => hugeOf(m, k, opts.set),
      follow: (m, k) => hugeOf(m, k, opts.get),
    } satisfies CommandSpec<number>);
    // The accounting mode can change only while the context has no object
    // (iommufd_option_rlimit_mode: EBUSY otherwise), so this one needs no
    // IOAS: it is how a case reaches MM accounting (mm->locked_vm).
    add({
      kind: 'IOMMU_OPTION/rlimit-mode',
      weight: 2,
      arb: fc.record({ ctx: ctxK, op: fc.constantFrom(opts.set, opts.set, opts.get), val: fc.constantFrom(1n, 1n, 0n), object: fc.constantFrom(0, 0, 0, 0, 0, 0, 1), busy: fc.constantFrom(false, false, true) }),
      needs: ['freshCtx'], ready: (m) => freshCtxs(m).length > 0 || m.live('ioas').length > 0,
      build: (m, c) => {
        // A context no object was ever created in (an open one when there is); one time in three
        // one that holds an IOAS, where a SET is refused (EBUSY) and changes nothing.
        const busy = c.busy ? m.openCtxs().filter((x) => m.live('ioas', x.name).length > 0) : [];
        const ctx = pick(busy, c.ctx) ?? pick(freshCtxs(m), c.ctx);
        if (!ctx) return undefined;
        // A global option names no object: iommufd_option_rlimit_mode refuses any object_id first (EOPNOTSUPP).
        const object = c.object ?? 0;
        const defects = object ? [{ what: `object_id ${object} on the global RLIMIT_MODE option`, errno: 'EOPNOTSUPP', field: 'object_id', abi: true }] : [];
        return ioctlStep(env, 'IOMMU_OPTION', new Ref(ctx.name), { option_id: opts.rlimit, op: c.op, object_id: object, val64: c.op === opts.set ? c.val : 0n }, { kind: 'none' }, { defects });
      },
    } satisfies CommandSpec<{ ctx: number; op: number; val: bigint; object?: number; busy?: boolean }>);
    // Huge pages off (or on again) for an IOAS a domain holds with areas in it: turning them off is
    // refused there (iopt_disable_large_pages: EINVAL), since a large IOPTE already in place could
    // not be split by an unmap inside it.
    add({
      kind: 'IOMMU_OPTION/huge-pages',
      weight: 1,
      arb: fc.record({ k: k16, val: fc.constantFrom(0n, 0n, 1n) }),
      needs: ['mappedDevice'], ready: () => true,
      build: (m, c) => {
        const held = new Set(m.live('hwpt').map((h) => h.ioas));
        const ioas = pick(m.live('ioas').filter((o) => held.has(o.name) && m.liveAreas(o.ctx, o.name).length > 0), c.k) ?? pick(m.live('ioas'), c.k);
        return ioas && ioctlStep(env, 'IOMMU_OPTION', new Ref(ioas.ctx), { option_id: opts.huge, op: opts.set, object_id: new Ref(ioas.name), val64: c.val }, NONE, {});
      },
    } satisfies CommandSpec<{ k: number; val: bigint }>);
  }

  if (has('IOMMU_VFIO_IOAS')) {
    const ops = [v(p, 'IOMMU_VFIO_IOAS_GET'), v(p, 'IOMMU_VFIO_IOAS_SET'), v(p, 'IOMMU_VFIO_IOAS_CLEAR')];
    add({
      kind: 'IOMMU_VFIO_IOAS',
      weight: 1,
      arb: fc.record({ ctx: ctxK, op: fc.constantFrom(ops[0], ops[1], ops[1], ops[2], 9) as fc.Arbitrary<number>, ioas: idChoice, abi: env.abiFor('IOMMU_VFIO_IOAS') }),
      needs: ['ioas'], ready: () => true,
      build: (m, c) => {
        const ctx = ctxOf(m, c.ctx) as CtxEntry;
        const { id } = idOf(c.ioas, m, ctx.name, ['ioas']);
        return ioctlStep(env, 'IOMMU_VFIO_IOAS', new Ref(ctx.name), { ioas_id: c.op === ops[1] ? id : 0, op: c.op }, c.abi);
      },
      after: (m, c, t, step) => {
        if (!ok(step) || c.op !== ops[1]) return;
        const id = (t.fields['arg'] as { fields: { ioas_id: Tmpl } }).fields.ioas_id;
        const ctx = ctxOf(m, c.ctx) as CtxEntry;
        if (id instanceof Ref) ctx.compat = id.name;
      },
    } satisfies CommandSpec<{ ctx: number; op: number; ioas: IdChoice; abi: AbiChoice }>);
  }

  if (has('IOMMU_HWPT_ALLOC')) {
    const nest = v(p, 'IOMMU_HWPT_ALLOC_NEST_PARENT');
    const dirty = v(p, 'IOMMU_HWPT_ALLOC_DIRTY_TRACKING');
    // A non-DEFAULT user-data type: with data_len 0 it is EINVAL whatever the driver.
    const someDataType = v(p, 'IOMMU_HWPT_DATA_VTD_S1');
    const faultId = v(p, 'IOMMU_HWPT_FAULT_ID_VALID');
    add({
      kind: 'IOMMU_HWPT_ALLOC',
      weight: 3,
      // data: user data whose type and length disagree (a length without a type, a type without a
      // length) — EINVAL before the device is looked up (iommufd_hwpt_alloc checks __reserved and
      // data_type/data_len first).
      arb: fc.record({ ctx: ctxK, dev: idChoice, pt: idChoice, ptHwpt: fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }), flags: fc.constantFrom(0, 0, 0, nest, dirty, nest | dirty, faultId), data: fc.constantFrom<HwptData>('none', 'none', 'none', 'none', 'none', 'lenOnly', 'typeOnly'), abi: env.abiFor('IOMMU_HWPT_ALLOC') }),
      needs: ['devid', 'ioas'], ready: () => true,
      build: (m, c) => {
        const ctx = ctxOf(m, c.ctx) as CtxEntry;
        const dev = idOf(c.dev, m, ctx.name, ['devid']);
        const pt = idOf(c.pt, m, ctx.name, c.ptHwpt ? ['hwpt'] : ['ioas']);
        const name = m.fresh('hwpt');
        const data: { [k: string]: Tmpl } = c.data === 'lenOnly' ? { data_type: 0, data_len: 8, data_uptr: { data: new Uint8Array(8) } } : c.data === 'typeOnly' ? { data_type: someDataType, data_len: 0 } : { data_type: 0 };
        const dataDefects: Defect[] = c.data === 'none' ? [] : [{ what: c.data === 'lenOnly' ? 'data_len without a data_type' : 'a data_type without data_len', errno: 'EINVAL' }];
        // A fault_id that names the IOAS, not a fault queue: ENOENT once the HWPT is built, which must go again.
        const fault: { [k: string]: Tmpl } = c.flags & faultId ? { fault_id: pt.id } : {};
        const faultDefects: Defect[] = c.flags & faultId ? [{ what: 'a fault_id naming no fault queue', errno: 'ENOENT' }] : [];
        return ioctlStep(env, 'IOMMU_HWPT_ALLOC', new Ref(ctx.name), { flags: c.flags, dev_id: dev.id, pt_id: pt.id, ...fault, ...data }, c.abi, {
          bind: { [name]: 'out.out_hwpt_id' },
          defects: [...dataDefects, ...faultDefects, ...idDefects(c.dev, dev.obj), ...idDefects(c.pt, pt.obj)],
        });
      },
      after: (m, c, t, step) => {
        if (!ok(step)) return;
        const f = (t.fields['arg'] as { fields: { pt_id: Tmpl; dev_id: Tmpl } }).fields;
        const pt = f.pt_id instanceof Ref ? m.objs.find((o) => o.name === (f.pt_id as Ref).name) : undefined;
        const dev = f.dev_id instanceof Ref ? (f.dev_id as Ref).name : undefined;
        const mock = pt?.kind === 'ioas' && m.objs.some((o) => o.kind === 'stdev' && o.ioas === dev);
        m.objs.push({ name: Object.keys(t.bind ?? {})[0] as string, kind: 'hwpt', ctx: (ctxOf(m, c.ctx) as CtxEntry).name, alive: true, ...(pt?.kind === 'ioas' && { ioas: pt.name }), ...(pt?.kind === 'hwpt' && pt.ioas && { ioas: pt.ioas }), nestParent: (c.flags & nest) !== 0, auto: false, ...(mock && { mock })});
      },
      follow: (m, _c, t, step) => rangesAfterFailure(env, m, t, step, (f) => f['pt_id']),
    } satisfies CommandSpec<{ ctx: number; dev: IdChoice; pt: IdChoice; ptHwpt: boolean; flags: number; data: HwptData; abi: AbiChoice }>);
  }

  if (has('IOMMU_GET_HW_INFO')) {
    add({
      kind: 'IOMMU_GET_HW_INFO',
      weight: 2,
      // The buffer runs past data_len with bytes of its own now and then: the kernel writes up to data_len only.
      arb: fc.record({ ctx: ctxK, dev: idChoice, len: fc.constantFrom(0, 4, 8, 64), slack: fc.constantFrom(0, 0, 16), abi: env.abiFor('IOMMU_GET_HW_INFO') }),
      needs: ['devid'], ready: () => true,
      build: (m, c) => {
        const ctx = ctxOf(m, c.ctx) as CtxEntry;
        const dev = idOf(c.dev, m, ctx.name, ['devid']);
        const uptr: Tmpl = c.slack ? { data: SLACK_BYTES.subarray(0, c.len + c.slack) } : c.len ? { room: c.len } : 0n;
        return ioctlStep(env, 'IOMMU_GET_HW_INFO', new Ref(ctx.name), { dev_id: dev.id, data_len: c.len, data_uptr: uptr }, c.abi, { defects: idDefects(c.dev, dev.obj) });
      },
    } satisfies CommandSpec<{ ctx: number; dev: IdChoice; len: number; slack: number; abi: AbiChoice }>);
  }
  return specs;
}

// ---------------------------------------------------------------- VFIO cdev and compat

/** `to`: a context by name (constructors only; generated choices leave it out). */
type Bind = { dfd: number; ctx: number; badFd: boolean; abi: AbiChoice; to?: string };
/** `at`: a device file by name (constructors only). */
type Attach = { dfd: number; pt: IdChoice; hwpt: boolean; abi: AbiChoice; at?: string };

/** An attach step's `after`: what the attach of the device file it names bound, when it succeeded. */
/** After a set_process that succeeded: the CAP_IPC_LOCK it set, as the model follows it. */
function noteCapIpcLock(m: GenModel, _c: unknown, t: StepTemplate, step: TraceStep): void {
  const cap = t.fields['capIpcLock'];
  if (ok(step) && typeof cap === 'boolean') m.capIpcLock = cap;
}

function recordAttachOf(m: GenModel, _c: unknown, t: StepTemplate, step: TraceStep): void {
  const d = m.dfds.find((x) => x.name === (t.fields['fd'] as Ref).name);
  if (ok(step) && d) recordAttach(m, d, t);
}

/** IOAS_IOVA_RANGES of one IOAS with room for eight ranges: what it offers after a step that may have moved a reserved region. */
function rangesOf(env: GenEnv, ctx: string, ioas: string): StepTemplate | undefined {
  return ioctlStep(env, 'IOMMU_IOAS_IOVA_RANGES', new Ref(ctx), { ioas_id: new Ref(ioas), num_iovas: 8, allowed_iovas: { room: 8 * 16 } }, NONE, {});
}

/**
 * The live IOAS a step's object field names: the IOAS itself, or a HWPT's
 * (where a new domain or a device's regions would have gone).
 */
function namedIoas(m: GenModel, id: Tmpl | undefined): ObjEntry | undefined {
  const o = id instanceof Ref ? m.objs.find((x) => x.name === id.name && x.alive) : undefined;
  const name = o?.kind === 'ioas' ? o.name : o?.ioas;
  return name === undefined ? undefined : m.objs.find((x) => x.name === name && x.kind === 'ioas' && x.alive);
}

/**
 * After a command that reserves IOVA (a domain's aperture, a device's
 * regions) failed, not for a defect of its own arguments: IOAS_IOVA_RANGES of
 * the IOAS it was going to, which must be as before (the unwind takes back
 * what it reserved).
 */
function rangesAfterFailure(env: GenEnv, m: GenModel, t: StepTemplate, step: TraceStep, pt: (arg: { [k: string]: Tmpl }) => Tmpl | undefined): StepTemplate | undefined {
  if (step.status !== 'failed' || (t.defects?.length ?? 0) > 0 || !supported(env.caps, 'IOMMU_IOAS_IOVA_RANGES')) return undefined;
  const ioas = namedIoas(m, pt((t.fields['arg'] as { fields: { [k: string]: Tmpl } }).fields));
  return ioas && rangesOf(env, ioas.ctx, ioas.name);
}

/**
 * After an attach failed: IOAS_IOVA_RANGES of the IOAS an attached device
 * with reserved regions of its own stays in (a replace that went wrong: the
 * unwind takes them out of the IOAS it was going to, not this one), else of
 * the IOAS it was going to.
 */
function rangesAfterFailedAttach(env: GenEnv, m: GenModel, t: StepTemplate, step: TraceStep): StepTemplate | undefined {
  if (step.status !== 'failed' || !supported(env.caps, 'IOMMU_IOAS_IOVA_RANGES')) return undefined;
  const d = m.dfds.find((x) => x.name === (t.fields['fd'] as Ref).name);
  // Its own regions, or its unit's (an MSI window the capability report lists).
  const reserves = d && (d.dev.resv || (d.dev.iommu.reservedRegions?.length ?? 0) > 0);
  const h = reserves && d.attached ? m.objs.find((o) => o.name === d.attached && o.alive) : undefined;
  const ioas = h?.ioas ? m.objs.find((o) => o.name === h.ioas && o.kind === 'ioas' && o.alive) : undefined;
  return ioas ? rangesOf(env, ioas.ctx, ioas.name) : rangesAfterFailure(env, m, t, step, (f) => f['pt_id']);
}

/**
 * A bound device and the live HWPT of a device of the same context behind
 * another unit, in either direction (the first of a pair the crossUnit setting
 * makes has reserved regions and sits in another IOAS).
 */
function crossUnitPairs(m: GenModel): { d: DfdEntry; hwpt: ObjEntry }[] {
  return m.dfds.flatMap((d) => {
    if (!d.open || !d.ctx) return [];
    return m.dfds.flatMap((x) => {
      const hwpt = x.open && x.ctx === d.ctx && x.dev.iommu !== d.dev.iommu && x.attached ? m.objs.find((h) => h.name === x.attached && h.alive) : undefined;
      return hwpt?.ioas && d.attached !== hwpt.name ? [{ d, hwpt }] : [];
    });
  });
}

/** The live IOAS an open device file is attached to, through its HWPT. */
function ioasOfDfd(m: GenModel, d: DfdEntry): string | undefined {
  return d.open && d.attached ? m.objs.find((h) => h.name === d.attached && h.alive)?.ioas : undefined;
}

/**
 * IOASes with open device files behind two or more units attached (two
 * domains or more), each with its device files in the order their HWPTs
 * were made (the order their domains joined the IOAS).
 */
function twoUnitIoases(m: GenModel): { ioas: string; dfds: DfdEntry[] }[] {
  const by = new Map<string, DfdEntry[]>();
  for (const d of m.dfds) {
    const at = ioasOfDfd(m, d);
    if (at !== undefined) by.set(at, [...(by.get(at) ?? []), d]);
  }
  const made = (d: DfdEntry): number => m.objs.findIndex((o) => o.name === d.attached);
  return [...by].filter(([, ds]) => new Set(ds.map((d) => d.dev.iommu.name)).size > 1).map(([ioas, ds]) => ({ ioas, dfds: ds.sort((a, b) => made(a) - made(b)) }));
}

/**
 * A device that left a HWPT allocated for it (its domain's tag, a VT-d DID,
 * given back on the last detach), and the IOVA where that HWPT's IOAS and
 * the IOAS a device behind the same unit was attached to since (taking a tag
 * afresh) map different buffers; the second device's DMA there went first.
 */
interface TagReuse {
  readonly away: DfdEntry;
  readonly hwpt: string;
  readonly iova: bigint;
}
const tagReuses = new WeakMap<GenModel, TagReuse>();

/** Where a page above 512 GiB grows a table whose top follows the IOVA (AMD v1, generic_pt's increase_top). */
const GROW_IOVA = 1n << 39n;

/**
 * A device attached to an IOAS that maps a page at GROW_IOVA, and a device
 * behind the same unit bound in the same context and not attached: a domain
 * that grew, and a device that comes to it afterwards.
 */
function growTargets(m: GenModel): { d: DfdEntry; e: DfdEntry }[] {
  return m.dfds.flatMap((d) => {
    const at = ioasOfDfd(m, d);
    if (!at || !d.ctx || !m.liveAreas(d.ctx, at).some((a) => a.iova >= GROW_IOVA)) return [];
    return m.dfds.filter((e) => e !== d && e.open && e.ctx === d.ctx && !e.attached && e.dev.iommu.name === d.dev.iommu.name).map((e) => ({ d, e }));
  });
}

function vfioSpecs(env: GenEnv): CommandSpec<never>[] {
  const { profile: p, caps } = env;
  const specs: CommandSpec<never>[] = [];
  const add = <C,>(spec: CommandSpec<C>): void => {
    specs.push(spec as unknown as CommandSpec<never>);
  };
  const has = (c: string): boolean => supported(caps, c);
  const dfdPick = (m: GenModel, k: number): DfdEntry | undefined => pick(m.openDfds(), k) ?? pick(m.dfds, k);
  const attachDfd = (m: GenModel, c: Attach): DfdEntry =>
    (c.at !== undefined ? m.dfds.find((x) => x.name === c.at) : undefined) ?? pick(m.dfds.filter((x) => x.ctx && x.open), c.dfd) ?? (dfdPick(m, c.dfd) as DfdEntry);

  /** After a bind refused for its argument's copy-back (EFAULT): the same bind of the same file, clean. */
  const rebindAfterFault = (m: GenModel, t: StepTemplate, step: TraceStep): StepTemplate | undefined => {
    const d = step.status === 'failed' ? m.dfds.find((x) => x.name === (t.fields['fd'] as Ref).name) : undefined;
    const f = (t.fields['arg'] as { fields: { iommufd: Tmpl } }).fields;
    return d?.open ? ioctlStep(env, 'VFIO_DEVICE_BIND_IOMMUFD', new Ref(d.name), { flags: 0, iommufd: f.iommufd }, NONE, { bind: { [m.fresh('devid')]: 'out.out_devid' } }) : undefined;
  };
  /** What a successful bind step binds in the model: the file's context and device object. */
  const recordBind = (m: GenModel, t: StepTemplate, step: TraceStep): void => {
    const d = ok(step) ? m.dfds.find((x) => x.name === (t.fields['fd'] as Ref).name) : undefined;
    const ctx = ((t.fields['arg'] as { fields: { iommufd: Tmpl } }).fields.iommufd as Ref).name;
    const name = Object.keys(t.bind ?? {})[0];
    if (!d || !name || !m.ctxs.some((x) => x.name === ctx)) return;
    d.ctx = ctx;
    d.devid = name;
    m.objs.push({ name, kind: 'devid', ctx, alive: true });
  };

  if (has('VFIO_DEVICE_BIND_IOMMUFD')) {
    add({
      kind: 'VFIO_DEVICE_BIND_IOMMUFD',
      weight: 3,
      arb: fc.record({ dfd: k16, ctx: ctxK, badFd: fc.oneof({ weight: 15, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }), abi: env.abiFor('VFIO_DEVICE_BIND_IOMMUFD') }),
      needs: ['dfd', 'ctx'], ready: () => true,
      build: (m, c) => {
        const d = dfdPick(m, c.dfd) as DfdEntry;
        const ctx = bindCtx(m, d, c.ctx, c.to);
        const name = m.fresh('devid');
        return ioctlStep(env, 'VFIO_DEVICE_BIND_IOMMUFD', new Ref(d.name), { flags: 0, iommufd: c.badFd ? m.badFd : new Ref(ctx.name) }, c.abi, { bind: { [name]: 'out.out_devid' } });
      },
      after: (m, _c, t, step) => recordBind(m, t, step),
      // A bind whose out_devid could not be copied back (a read-only argument: EFAULT) must have
      // closed the binding again (out_close_device): the same bind right after goes through.
      follow: (m, c, t, step) => (c.abi.kind === 'readOnly' ? rebindAfterFault(m, t, step) : undefined),
      afterFollow: (m, _c, t, step) => recordBind(m, t, step),
    } satisfies CommandSpec<Bind>);
  }
  if (has('VFIO_DEVICE_ATTACH_IOMMUFD_PT')) {
    add({
      kind: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT',
      weight: 4,
      arb: fc.record({ dfd: k16, pt: idChoice, hwpt: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 2, arbitrary: fc.constant(true) }), abi: env.abiFor('VFIO_DEVICE_ATTACH_IOMMUFD_PT', true) }),
      needs: ['bound', 'ioas'], ready: () => true,
      build: (m, c) => {
        // A read-only argument only for a first attach: its faulting pt_id detaches (out_detach), an unwind
        // there, while a replace would end detached from the HWPT it had. So it goes to a bound device
        // that is not attached, when there is one.
        const first = c.abi.kind === 'readOnly' ? pick(m.openDfds().filter((x) => x.ctx && !x.attached), c.dfd) : undefined;
        const d = first ?? attachDfd(m, c);
        const ctx = d.ctx ?? (m.ctxs[0]?.name as string);
        const pt = siblingPt(m, d, ctx, c.dfd, c.pt) ?? idOf(c.pt, m, ctx, c.hwpt ? ['hwpt'] : ['ioas']);
        const name = m.fresh('hwpt');
        const abi = c.abi.kind === 'readOnly' && d.attached ? NONE : c.abi;
        return ioctlStep(env, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', new Ref(d.name), { flags: 0, pt_id: pt.id }, abi, { bind: { [name]: 'out.pt_id' }, defects: idDefects(c.pt, pt.obj) });
      },
      after: recordAttachOf,
      follow: (m, _c, t, step) => rangesAfterFailedAttach(env, m, t, step),
    } satisfies CommandSpec<Attach>);

    // A first attach, to an IOAS that maps something, whose struct is read-only (ADAPTER.md §3.3):
    // the attach is done when the copy-back of pt_id faults, and its unwind (out_detach) must
    // leave the device unattached, reaching nothing. Drawn on its own: the attach above draws a
    // read-only argument only when some bound device happens to be unattached.
    if (env.caps.readOnlyArgs?.supported === true) {
      const unattached = (m: GenModel): DfdEntry[] => m.openDfds().filter((x) => x.ctx && !x.attached && m.liveAreas(x.ctx).length > 0);
      add({
        kind: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT/answer-fault',
        weight: 1,
        arb: fc.record({ dfd: k16, area: k16 }),
        needs: ['bound', 'area'], ready: (m) => unattached(m).length > 0,
        build: (m, c) => {
          const d = pick(unattached(m), c.dfd) as DfdEntry;
          const a = pick(m.liveAreas(d.ctx), c.area) as AreaEntry;
          return ioctlStep(env, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', new Ref(d.name), { flags: 0, pt_id: new Ref(a.ioas) }, { kind: 'readOnly' });
        },
      } satisfies CommandSpec<{ dfd: number; area: number }>);
      // The same for a HWPT a bound device allocates on such an IOAS: done when the copy-back of
      // out_hwpt_id faults, it must be destroyed again (out_hwpt), its domain out of the IOAS,
      // its aperture no longer reserved there (IOVA_RANGES after).
      if (has('IOMMU_HWPT_ALLOC')) {
        const boundIn = (m: GenModel): DfdEntry[] => m.openDfds().filter((x) => x.ctx && x.devid && m.liveAreas(x.ctx).length > 0);
        add({
          kind: 'IOMMU_HWPT_ALLOC/answer-fault',
          weight: 1,
          arb: fc.record({ dfd: k16, area: k16 }),
          needs: ['bound', 'area'], ready: (m) => boundIn(m).length > 0,
          build: (m, c) => {
            const d = pick(boundIn(m), c.dfd) as DfdEntry;
            const a = pick(m.liveAreas(d.ctx), c.area) as AreaEntry;
            return ioctlStep(env, 'IOMMU_HWPT_ALLOC', new Ref(a.ctx), { flags: 0, dev_id: new Ref(d.devid as string), pt_id: new Ref(a.ioas), data_type: 0 }, { kind: 'readOnly' });
          },
          follow: (m, _c, t, step) => {
            const ioas = step.status === 'failed' ? namedIoas(m, (t.fields['arg'] as { fields: { pt_id: Tmpl } }).fields.pt_id) : undefined;
            return ioas && supported(env.caps, 'IOMMU_IOAS_IOVA_RANGES') ? rangesOf(env, ioas.ctx, ioas.name) : undefined;
          },
        } satisfies CommandSpec<{ dfd: number; area: number }>);
      }
    }

    // A PASID's attach (7.3: VFIO_DEVICE_ATTACH_PASID) to an IOAS that maps something, by a bound
    // device file, attached or not: only that PASID's DMA may reach the IOAS (pasid_attach_ioas;
    // a driver without it refuses, EOPNOTSUPP, vfio_df_ioctl_attach_pt): the device's own requests
    // reach what they did, whatever the answer.
    const pasidFlag = enumValue(p, 'VFIO_DEVICE_ATTACH_PASID');
    if (pasidFlag !== undefined) {
      const bound = (m: GenModel): DfdEntry[] => m.openDfds().filter((x) => x.ctx && m.liveAreas(x.ctx).length > 0);
      add({
        kind: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT/pasid',
        weight: 1,
        arb: fc.record({ dfd: k16, area: k16, pasid: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: (1 << 20) - 1 })) }),
        needs: ['bound', 'area'], ready: (m) => bound(m).length > 0,
        build: (m, c) => {
          const d = pick(bound(m), c.dfd) as DfdEntry;
          const a = pick(m.liveAreas(d.ctx), c.area) as AreaEntry;
          return ioctlStep(env, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', new Ref(d.name), { flags: pasidFlag, pt_id: new Ref(a.ioas), pasid: c.pasid }, NONE);
        },
      } satisfies CommandSpec<{ dfd: number; area: number; pasid: number }>);
    }

    // A device file whose iommu group has another device attached in the same
    // context: attach it to that device's HWPT, to its IOAS, or to another
    // IOAS or HWPT. One group, one domain (iommufd_hw_pagetable_attach: a
    // group's devices share igroup->hwpt, anything else is EINVAL).
    type SiblingAttach = { k: number; to: 'same' | 'sameIoas' | 'otherIoas' | 'otherHwpt'; j: number; abi: AbiChoice };
    const groupAttachable = (m: GenModel): { d: DfdEntry; hwpt: ObjEntry }[] =>
      m.dfds.flatMap((d) => {
        if (!d.open || !d.ctx) return [];
        const x = m.dfds.find((o) => o !== d && o.open && o.ctx === d.ctx && o.dev !== d.dev && o.dev.group === d.dev.group && o.attached && m.objs.find((h) => h.name === o.attached)?.alive);
        const hwpt = x && m.objs.find((h) => h.name === x.attached);
        return hwpt && d.attached !== hwpt.name ? [{ d, hwpt }] : [];
      });
    add({
      kind: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT/group-sibling',
      weight: 2,
      arb: fc.record({ k: k16, to: fc.constantFrom<SiblingAttach['to']>('same', 'sameIoas', 'otherIoas', 'otherIoas', 'otherHwpt'), j: k16, abi: env.abiFor('VFIO_DEVICE_ATTACH_IOMMUFD_PT') }),
      needs: ['groupAttached'], ready: () => true,
      build: (m, c) => {
        const e = pick(groupAttachable(m), c.k);
        if (!e) return undefined;
        const ctx = e.d.ctx as string;
        const other = (kind: ObjKind): ObjEntry | undefined => pick(m.live(kind, ctx).filter((o) => o.name !== e.hwpt.name && o.name !== e.hwpt.ioas), c.j);
        const target = c.to === 'same' ? e.hwpt : c.to === 'sameIoas' ? m.objs.find((o) => o.name === e.hwpt.ioas && o.alive) : c.to === 'otherHwpt' ? (other('hwpt') ?? other('ioas')) : other('ioas');
        if (!target) return undefined;
        return ioctlStep(env, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', new Ref(e.d.name), { flags: 0, pt_id: new Ref(target.name) }, c.abi, { bind: { [m.fresh('hwpt')]: 'out.pt_id' } });
      },
      after: recordAttachOf,
    } satisfies CommandSpec<SiblingAttach>);

    // A group whose members differ in what they can attach to (mixedGroup: one device that can
    // enforce cache coherency, one that cannot, both on a HWPT that does not enforce): the first
    // member replaced onto an enforcing HWPT of another IOAS. The group moves as one, so the
    // other member refuses it (EINVAL), and the first must be back on the HWPT it was on
    // (__iommu_group_set_domain_internal reverts every device it had switched to the old domain):
    // the probes of the group's members after the step read what each reaches.
    add({
      kind: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT/group-refused',
      weight: 1,
      arb: fc.record({ k: k16, abi: env.abiFor('VFIO_DEVICE_ATTACH_IOMMUFD_PT') }),
      needs: ['mixedGroup'], ready: () => true,
      build: (m, c) => {
        const alive = (n: string): boolean => !!m.objs.find((o) => o.name === n && o.alive);
        const g = pick(m.mixed.filter((x) => alive(x.shared) && alive(x.refused) && [x.a, x.b].every((n) => m.dfds.find((d) => d.name === n && d.open)?.attached === x.shared)), c.k);
        return g && ioctlStep(env, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', new Ref(g.a), { flags: 0, pt_id: new Ref(g.refused) }, c.abi, { bind: { [m.fresh('hwpt')]: 'out.pt_id' } });
      },
      after: recordAttachOf,
    } satisfies CommandSpec<{ k: number; abi: AbiChoice }>);

    // Two devices bound in one context, one attached: attach the other to the
    // first one's HWPT or IOAS. Whether they may share the domain is the
    // driver's (paging_domain_compatible: coherency enforcement, dirty
    // tracking, address width); an IOAS finds or makes a compatible one
    // (iommufd_device_auto_get_domain).
    type PeerAttach = { k: number; ioas: boolean; abi: AbiChoice };
    const peers = (m: GenModel): { d: DfdEntry; hwpt: ObjEntry }[] =>
      m.dfds.flatMap((d) => {
        if (!d.open || !d.ctx) return [];
        return m.dfds.flatMap((x) => {
          const hwpt = x !== d && x.open && x.ctx === d.ctx && x.dev !== d.dev && x.attached ? m.objs.find((h) => h.name === x.attached && h.alive) : undefined;
          return hwpt && d.attached !== hwpt.name ? [{ d, hwpt }] : [];
        });
      });
    add({
      kind: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT/peer',
      weight: 2,
      arb: fc.record({ k: k16, ioas: fc.boolean(), abi: env.abiFor('VFIO_DEVICE_ATTACH_IOMMUFD_PT') }),
      needs: ['peerPair'], ready: () => true,
      build: (m, c) => {
        const e = pick(peers(m), c.k);
        if (!e) return undefined;
        const ioas = c.ioas ? m.objs.find((o) => o.name === e.hwpt.ioas && o.alive) : undefined;
        return ioctlStep(env, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', new Ref(e.d.name), { flags: 0, pt_id: new Ref((ioas ?? e.hwpt).name) }, c.abi, { bind: { [m.fresh('hwpt')]: 'out.pt_id' } });
      },
      after: recordAttachOf,
      follow: (m, _c, t, step) => rangesAfterFailedAttach(env, m, t, step),
    } satisfies CommandSpec<PeerAttach>);
    // A device attached to (or, attached, moved to) the HWPT of a device behind another unit: another
    // driver's domain is foreign and one of the same driver must fit the unit (EINVAL otherwise, and
    // a device with reserved regions keeps them in the IOAS it stays in, out of the one it was going
    // to); a domain it takes it must reach all of.
    add({
      kind: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT/cross-unit',
      weight: 2,
      // Mostly the foreign HWPT itself (the replace fails); now and then its IOAS (an automatic domain of its own unit).
      arb: fc.record({ k: k16, ioas: fc.constantFrom(false, false, false, true) }),
      needs: ['crossUnit'], ready: () => true,
      build: (m, c) => {
        const e = pick(crossUnitPairs(m), c.k);
        const ioas = e && c.ioas ? m.objs.find((o) => o.name === e.hwpt.ioas && o.alive) : undefined;
        return e && ioctlStep(env, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', new Ref(e.d.name), { flags: 0, pt_id: new Ref((ioas ?? e.hwpt).name) }, NONE, { bind: { [m.fresh('hwpt')]: 'out.pt_id' } });
      },
      after: recordAttachOf,
      follow: (m, _c, t, step) => rangesAfterFailedAttach(env, m, t, step),
    } satisfies CommandSpec<{ k: number; ioas: boolean }>);
    // A device back on a HWPT it left, mostly one whose IOAS unmapped an area meanwhile: the
    // domain's IOTLB must hold nothing of it (a tag dropped from the invalidation targets while
    // no device used it must have been flushed then, or be now).
    add({
      kind: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT/back',
      weight: 2,
      arb: k16,
      needs: ['awayHwpt'], ready: () => true,
      build: (m, k) => {
        const away = awayFrom(m);
        const e = pick(away.filter((x) => x.lost), k) ?? pick(away, k);
        return e && ioctlStep(env, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', new Ref(e.d.name), { flags: 0, pt_id: new Ref(e.to.name) }, NONE, { bind: { [m.fresh('hwpt')]: 'out.pt_id' } });
      },
      after: recordAttachOf,
    } satisfies CommandSpec<number>);
  }
  if (has('VFIO_DEVICE_BIND_IOMMUFD')) {
    // A bind of a device no file has bound, whose struct is read-only (ADAPTER.md §3.3): the bind
    // is done when the copy-back of out_devid faults, and its unwind (out_close_device) must leave
    // the device unbound, so the same bind right after goes through (the kind above's follow).
    // Drawn on its own: the bind above mostly names a device that is bound already.
    if (env.caps.readOnlyArgs?.supported === true) {
      const unbound = (m: GenModel): DfdEntry[] => m.openDfds().filter((x) => !x.ctx && !m.dfds.some((o) => o !== x && o.open && o.dev === x.dev && o.ctx));
      add({
        kind: 'VFIO_DEVICE_BIND_IOMMUFD/answer-fault',
        weight: 1,
        arb: fc.record({ dfd: k16, ctx: ctxK }),
        needs: ['dfd', 'ctx'], ready: (m) => unbound(m).length > 0,
        build: (m, c) => {
          const d = pick(unbound(m), c.dfd);
          const ctx = d && bindCtx(m, d, c.ctx);
          return d && ctx && ioctlStep(env, 'VFIO_DEVICE_BIND_IOMMUFD', new Ref(d.name), { flags: 0, iommufd: new Ref(ctx.name) }, { kind: 'readOnly' });
        },
        follow: (m, _c, t, step) => rebindAfterFault(m, t, step),
        afterFollow: (m, _c, t, step) => recordBind(m, t, step),
      } satisfies CommandSpec<{ dfd: number; ctx: number }>);
    }
    // The sibling of a device bound to one context, bound to another context
    // (or the same): a group has one DMA owner (iommu_device_claim_dma_owner,
    // EPERM for a different owner).
    type SiblingBind = { k: number; other: boolean; ctx: number; abi: AbiChoice };
    const unboundSiblings = (m: GenModel): { d: DfdEntry; owner: string }[] =>
      m.dfds.flatMap((d) => {
        if (!d.open || d.ctx) return [];
        const x = m.dfds.find((o) => o.open && o.ctx && o.dev !== d.dev && o.dev.group === d.dev.group && m.ctxs.find((c) => c.name === o.ctx)?.open);
        return x ? [{ d, owner: x.ctx as string }] : [];
      });
    add({
      kind: 'VFIO_DEVICE_BIND_IOMMUFD/group-sibling',
      weight: 2,
      arb: fc.record({ k: k16, other: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }), ctx: ctxK, abi: env.abiFor('VFIO_DEVICE_BIND_IOMMUFD') }),
      needs: ['ctx2Pinning', 'groupPair'], ready: () => true,
      build: (m, c) => {
        const e = pick(unboundSiblings(m), c.k);
        if (!e) return undefined;
        // Mostly a context that pins pages: the refusal must leave it as it was, releasable.
        const others = m.openCtxs().filter((x) => x.name !== e.owner);
        const pinning = others.filter((x) => m.live('stdev', x.name).length > 0 && m.liveAreas(x.name).length > 0);
        const ctx = c.other ? (pick(pinning.length > 0 && c.ctx % 3 !== 2 ? pinning : others, c.ctx)?.name ?? e.owner) : e.owner;
        return ioctlStep(env, 'VFIO_DEVICE_BIND_IOMMUFD', new Ref(e.d.name), { flags: 0, iommufd: new Ref(ctx) }, c.abi, { bind: { [m.fresh('devid')]: 'out.out_devid' } });
      },
      after: (m, _c, t, step) => recordBind(m, t, step),
    } satisfies CommandSpec<SiblingBind>);
  }
  if (has('VFIO_DEVICE_DETACH_IOMMUFD_PT')) {
    // The device file's dispatch under numbers no command has (otherRequestStep), mostly on an
    // attached device, where a detach that ran would show.
    add({
      kind: 'ioctl/other-request-device',
      weight: 1,
      arb: fc.record({ dfd: k16, bits: requestBits }),
      needs: ['attached'], ready: () => true,
      build: (m, c) => {
        const d = pick(m.openDfds().filter((x) => x.attached), c.dfd) ?? (dfdPick(m, c.dfd) as DfdEntry);
        return otherRequestStep(env, new Ref(d.name), 'VFIO_DEVICE_DETACH_IOMMUFD_PT', c.bits, { fields: { flags: 0 } });
      },
    } satisfies CommandSpec<{ dfd: number; bits: RequestBits }>);
    /** The IOAS a detach of a device with reserved regions leaves (read before `after` clears it). */
    const detachLeaves = new WeakMap<StepTemplate, string>();
    add({
      kind: 'VFIO_DEVICE_DETACH_IOMMUFD_PT',
      weight: 1,
      arb: fc.record({ dfd: k16, abi: env.abiFor('VFIO_DEVICE_DETACH_IOMMUFD_PT') }),
      needs: ['dfd'], ready: () => true,
      build: (m, c) => {
        const d = dfdPick(m, c.dfd) as DfdEntry;
        const t = ioctlStep(env, 'VFIO_DEVICE_DETACH_IOMMUFD_PT', new Ref(d.name), { flags: 0 }, c.abi);
        const left = d.attached ? m.objs.find((h) => h.name === d.attached && h.alive)?.ioas : undefined;
        // Or another domain stays on that IOAS: the one leaving may be taken out of the middle of
        // the IOAS's domains, and what stays reserved must be the staying domains' apertures.
        const shared = left !== undefined && m.objs.some((h) => h.alive && h.kind === 'hwpt' && h.ioas === left && h.name !== d.attached);
        if (t && left && (d.dev.resv || shared) && supported(env.caps, 'IOMMU_IOAS_IOVA_RANGES')) detachLeaves.set(t, left);
        return t;
      },
      after: (m, c, _t, step) => {
        const d = dfdPick(m, c.dfd) as DfdEntry;
        if (!ok(step)) return;
        noteLeft(m, d);
        d.attached = undefined;
      },
      // A device with reserved regions of its own left an IOAS, or one where another domain stays:
      // what the IOAS reports as usable IOVA right after shows whether its regions went with it and
      // the staying domains' stayed (iopt_remove_reserved_iova by owner).
      // Otherwise the IOAS it left, once nothing else holds it, is destroyed: whatever the
      // attachment took on it (the automatic HWPT, the device's user of the IOAS) must be gone.
      follow: (m, c, t, step) => {
        if (!ok(step)) return undefined;
        const left = detachLeaves.get(t);
        const ioas = left !== undefined ? m.objs.find((o) => o.name === left && o.kind === 'ioas' && o.alive) : undefined;
        if (ioas && left !== undefined) return rangesOf(env, ioas.ctx, left);
        const d = dfdPick(m, c.dfd) as DfdEntry;
        const from = d.left && m.objs.find((h) => h.name === d.left?.hwpt);
        const gone = from?.auto && from.ioas ? m.objs.find((o) => o.name === from.ioas && o.kind === 'ioas' && o.alive && m.ctxs.find((x) => x.name === o.ctx)?.open) : undefined;
        if (!from || !gone || !has('IOMMU_DESTROY')) return undefined;
        const holders = m.objs.filter((o) => o.alive && o.ioas === gone.name);
        if (holders.some((h) => !h.auto || m.dfds.some((x) => x.open && x.attached === h.name)) || m.accs.some((a) => a.open && a.ioas === gone.name)) return undefined;
        for (const h of holders) h.alive = false;
        gone.alive = false;
        for (const a of m.areas) if (a.ioas === gone.name) a.alive = false;
        return ioctlStep(env, 'IOMMU_DESTROY', new Ref(gone.ctx), { id: new Ref(gone.name) }, NONE, {});
      },
    } satisfies CommandSpec<{ dfd: number; abi: AbiChoice }>);
    // One member of a group leaves the domain both members are attached to: what the other one
    // brought to the IOAS stays (its reserved region: a fixed map into it right after must fail),
    // and what the leaving one brought goes with it (IOAS_IOVA_RANGES right after: no hole of its own).
    // (Each attach names the HWPT it reports afresh: members on one IOAS share its domain.)
    const ioasOf = (m: GenModel, d: DfdEntry): string | undefined => (d.attached ? m.objs.find((h) => h.name === d.attached && h.alive)?.ioas : undefined);
    const memberPairs = (m: GenModel): [DfdEntry, DfdEntry][] =>
      m.openDfds().flatMap((x) => {
        const at = ioasOf(m, x);
        const y = at && m.openDfds().find((o) => o !== x && o.dev !== x.dev && o.dev.group === x.dev.group && ioasOf(m, o) === at);
        return y ? [[x, y] as [DfdEntry, DfdEntry]] : [];
      });
    // A device back on the HWPT it left, after another domain behind its unit took a tag since
    // (TagReuse): its DMA at the IOVA both IOASes map reaches its own HWPT's page, never what the
    // other device's DMA left in the IOTLB (a tag given back and handed out again must not come
    // back with the old domain).
    add({
      kind: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT/back-after-tag-reuse',
      weight: 1,
      arb: fc.constant(0),
      needs: ['tagReuse'], ready: () => true,
      build: (m) => {
        const t = tagReuses.get(m);
        return t && t.away.open && !t.away.attached && m.objs.find((o) => o.name === t.hwpt)?.alive ? ioctlStep(env, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', new Ref(t.away.name), { flags: 0, pt_id: new Ref(t.hwpt) }, NONE, { bind: { [m.fresh('hwpt')]: 'out.pt_id' } }) : undefined;
      },
      after: recordAttachOf,
      follow: (m, _c, _t, step) => {
        const t = ok(step) ? tagReuses.get(m) : undefined;
        return t && opSupported(caps, 'dma') ? { op: 'dma', fields: { device: new Ref(t.away.dev.name), iova: t.iova, dir: 'read', length: 4 } } : undefined;
      },
    } satisfies CommandSpec<number>);
    // A device attached to a domain after a map grew its table (growTargets): the device must
    // reach every IOVA the domain maps, the ones above the top it was allocated with too.
    add({
      kind: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT/after-grow',
      weight: 1,
      arb: k16,
      needs: ['growPair'], ready: () => true,
      build: (m, k) => {
        const t = pick(growTargets(m), k);
        return t?.d.attached ? ioctlStep(env, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', new Ref(t.e.name), { flags: 0, pt_id: new Ref(t.d.attached) }, NONE, { bind: { [m.fresh('hwpt')]: 'out.pt_id' } }) : undefined;
      },
      after: recordAttachOf,
    } satisfies CommandSpec<number>);
    // The device whose domain joined an IOAS first leaves it, another unit's domain staying: the
    // leaving domain is taken out of the middle of the IOAS's domains (iopt_table_remove_domain
    // moves the last into its slot), and what the IOAS reports as usable IOVA right after must be
    // the staying domains' apertures. Every third time its file is closed instead (the release
    // detaches, unbinds and destroys the automatic HWPT).
    add({
      kind: 'VFIO_DEVICE_DETACH_IOMMUFD_PT/first-domain',
      weight: 1,
      arb: k16,
      needs: ['twoUnits'], ready: () => true,
      build: (m, k) => {
        const e = pick(twoUnitIoases(m), k);
        const d = e?.dfds[0];
        if (!e || !d) return undefined;
        const t: StepTemplate | undefined = k % 3 === 2 ? { op: 'close', fields: { fd: new Ref(d.name) } } : ioctlStep(env, 'VFIO_DEVICE_DETACH_IOMMUFD_PT', new Ref(d.name), { flags: 0 }, NONE);
        if (t && supported(env.caps, 'IOMMU_IOAS_IOVA_RANGES')) detachLeaves.set(t, e.ioas);
        return t;
      },
      after: (m, _k, t, step) => {
        const d = m.dfds.find((x) => (t.fields['fd'] as Ref).name === x.name);
        if (!ok(step) || !d) return;
        if (t.op === 'close') return dfdClosed(m, d);
        noteLeft(m, d);
        d.attached = undefined;
      },
      follow: (m, _k, t, step) => {
        const left = ok(step) ? detachLeaves.get(t) : undefined;
        const ioas = left !== undefined ? m.objs.find((o) => o.name === left && o.kind === 'ioas' && o.alive) : undefined;
        return ioas && left !== undefined ? rangesOf(env, ioas.ctx, left) : undefined;
      },
    } satisfies CommandSpec<number>);
    add({
      kind: 'VFIO_DEVICE_DETACH_IOMMUFD_PT/group-member',
      weight: 1,
      arb: k16,
      needs: ['groupBothAttached'], ready: () => true,
      build: (m, k) => {
        const pairs = memberPairs(m);
        // Mostly the member without regions of its own leaves; every fourth pick the one with them.
        const [x] = (k % 4 === 3 ? pick(pairs.filter(([o]) => o.dev.resv), k) : pick(pairs.filter(([, y]) => y.dev.resv), k)) ?? pick(pairs, k) ?? [];
        const t = x ? ioctlStep(env, 'VFIO_DEVICE_DETACH_IOMMUFD_PT', new Ref(x.name), { flags: 0 }, NONE) : undefined;
        const left = x && ioasOf(m, x);
        if (t && left && x.dev.resv && supported(env.caps, 'IOMMU_IOAS_IOVA_RANGES')) detachLeaves.set(t, left);
        return t;
      },
      after: (m, _k, t, step) => {
        const d = m.dfds.find((x) => t.op === 'ioctl' && (t.fields['fd'] as Ref).name === x.name);
        if (ok(step) && d) {
          noteLeft(m, d);
          d.attached = undefined;
        }
      },
      follow: (m, _k, t, step) => {
        const d = m.dfds.find((x) => t.op === 'ioctl' && (t.fields['fd'] as Ref).name === x.name);
        const y = ok(step) && d ? m.openDfds().find((o) => o !== d && o.dev.group === d.dev.group && o.dev.resv && o.attached) : undefined;
        const h = y ? m.objs.find((o) => o.name === y.attached && o.alive) : undefined;
        const b = m.bufs[0];
        const left = detachLeaves.get(t);
        if (!h && left !== undefined && ok(step)) {
          const ioas = m.objs.find((o) => o.name === left && o.kind === 'ioas' && o.alive);
          return ioas ? rangesOf(env, ioas.ctx, left) : undefined;
        }
        if (!h?.ioas || !b || !has('IOMMU_IOAS_MAP')) return undefined;
        return reservedMapStep(env, h.ctx, h.ioas, b.name, 0, 1);
      },
    } satisfies CommandSpec<number>);
    // Both members of a group attached, one of them replaced onto another IOAS: the group moves as
    // one (iommufd_device_do_replace), and every member's reserved regions go with it — mostly the
    // member without regions of its own is the one named, so the other's must follow it. Then
    // IOVA_RANGES of the IOAS the group went to.
    add({
      kind: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT/group-replace',
      weight: 1,
      arb: fc.record({ k: k16, j: k16 }),
      needs: ['groupSpread'], ready: () => true,
      build: (m, c) => {
        const pairs = memberPairs(m);
        const [x] = (c.k % 4 === 3 ? pick(pairs.filter(([o]) => o.dev.resv), c.k) : pick(pairs.filter(([, y]) => y.dev.resv), c.k)) ?? pick(pairs, c.k) ?? [];
        const at = x && ioasOf(m, x);
        const to = x?.ctx ? pick(m.live('ioas', x.ctx).filter((o) => o.name !== at), c.j) : undefined;
        return x && to && ioctlStep(env, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', new Ref(x.name), { flags: 0, pt_id: new Ref(to.name) }, NONE, { bind: { [m.fresh('hwpt')]: 'out.pt_id' } });
      },
      after: (m, c, t, step) => {
        const d = m.dfds.find((x) => x.name === (t.fields['fd'] as Ref).name);
        const before = d?.attached;
        recordAttachOf(m, c, t, step);
        // The rest of the group went where it did.
        if (ok(step) && d && before) for (const y of m.openDfds()) if (y !== d && y.dev.group === d.dev.group && y.attached === before) y.attached = d.attached;
      },
      follow: (m, _c, t, step) => {
        const to = ok(step) ? namedIoas(m, (t.fields['arg'] as { fields: { pt_id: Tmpl } }).fields.pt_id) : undefined;
        return to ? rangesOf(env, to.ctx, to.name) : undefined;
      },
    } satisfies CommandSpec<{ k: number; j: number }>);
    // The detach that matters most: one device leaves a mapped domain another
    // device keeps alive; it must be blocked at once (iommufd_hw_pagetable_detach).
    const sharing = (m: GenModel): DfdEntry[] => m.openDfds().filter((x) => x.attached && m.openDfds().some((y) => y !== x && y.attached === x.attached));
    add({
      kind: 'VFIO_DEVICE_DETACH_IOMMUFD_PT/shared',
      weight: 1,
      arb: k16,
      needs: ['sharedDomain'], ready: () => true,
      build: (m, k) => {
        const d = pick(sharing(m), k);
        return d ? ioctlStep(env, 'VFIO_DEVICE_DETACH_IOMMUFD_PT', new Ref(d.name), { flags: 0 }, NONE) : undefined;
      },
      after: (m, _k, t, step) => {
        const d = m.dfds.find((x) => t.op === 'ioctl' && (t.fields['fd'] as Ref).name === x.name);
        if (ok(step) && d) {
          noteLeft(m, d);
          d.attached = undefined;
        }
      },
      // Then a DMA by a device that stays, through the domain: the detach flushed the domain's
      // caches, and this fills them again, so an unmap there must still invalidate every unit the
      // others sit behind, whatever per-unit bookkeeping the leaving device dropped (VT-d's domain
      // id on its unit, AMD's iommu_array, SMMUv3's master list) — every other time that unmap
      // comes right after, otherwise whenever the used area's unmap comes up.
      follow: (m, k, t, step) => {
        const d = ok(step) ? m.dfds.find((x) => t.op === 'ioctl' && (t.fields['fd'] as Ref).name === x.name) : undefined;
        const h = d?.left ? m.objs.find((o) => o.name === d.left?.hwpt && o.alive) : undefined;
        const stays = h ? pick(m.openDfds().filter((x) => x.attached === h.name), k) : undefined;
        const a = h?.ioas ? pick(m.liveAreas(h.ctx, h.ioas), k) : undefined;
        if (!stays || !a || !opSupported(env.caps, 'dma')) return undefined;
        const dma: StepTemplate = { op: 'dma', fields: { device: new Ref(stays.dev.name), iova: new Ref(a.name), dir: 'read', length: 8 } };
        // A follow has no `after`: the area counts as used (or unmapped) before the steps run.
        if (k % 2 === 1) {
          m.used = a.name;
          return dma;
        }
        a.alive = false;
        const unmap = unmapAreaStep(env, a);
        return unmap ? [dma, unmap] : dma;
      },
    } satisfies CommandSpec<number>);
  }
  // Type1 compatibility on an iommufd (vfio_compat.c), mostly on contexts opened as /dev/vfio/vfio.
  // The type1 commands go mostly where a compat IOAS is set (where they act), else to a VFIO
  // container or any context (ENODEV without a compat IOAS).
  const compatCtx = (m: GenModel, k: number): CtxEntry | undefined =>
    (k % 4 !== 3 ? pick(m.openCtxs().filter((c) => c.compat), k) : undefined) ?? pick(m.ctxs.filter((c) => c.vfio && c.open), k) ?? ctxOf(m, k);
  if (has('VFIO_CHECK_EXTENSION')) {
    add({
      kind: 'VFIO_CHECK_EXTENSION',
      weight: 1,
      arb: fc.record({ ctx: ctxK, ext: fc.constantFrom(1, 3, 4, 6, 8, 9, 10, 77) }),
      needs: ['ctx'], ready: () => true,
      build: (m, c) => ({ op: 'ioctl', fields: { fd: new Ref((compatCtx(m, c.ctx) as CtxEntry).name), cmd: 'VFIO_CHECK_EXTENSION', arg: { kind: 'int', value: BigInt(c.ext) } } }),
    } satisfies CommandSpec<{ ctx: number; ext: number }>);
    // VFIO_DMA_CC_IOMMU once a device that cannot enforce coherency joins the compat IOAS next to
    // one that can (its own automatic HWPT, not enforcing): the container answers for every HWPT.
    const CC = enumValue(p, 'VFIO_DMA_CC_IOMMU') ?? 4;
    const ccCheck = (ctx: string): StepTemplate => ({ op: 'ioctl', fields: { fd: new Ref(ctx), cmd: 'VFIO_CHECK_EXTENSION', arg: { kind: 'int', value: BigInt(CC) } } });
    add({
      kind: 'VFIO_CHECK_EXTENSION/cc',
      weight: 1,
      arb: k16,
      needs: ['compat', 'peerPair'], ready: () => true,
      build: (m, k) => {
        const ctx = pick(m.openCtxs().filter((c) => c.compat), k);
        if (!ctx?.compat) return undefined;
        const loose = m.openDfds().find((d) => d.ctx === ctx.name && !d.attached && !(d.dev.ecc ?? d.dev.iommu.enforceCacheCoherency));
        if (!loose || !has('VFIO_DEVICE_ATTACH_IOMMUFD_PT')) return ccCheck(ctx.name);
        return ioctlStep(env, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', new Ref(loose.name), { flags: 0, pt_id: new Ref(ctx.compat) }, NONE, { bind: { [m.fresh('hwpt')]: 'out.pt_id' } });
      },
      after: (m, _k, t, step) => {
        const d = t.op === 'ioctl' && t.fields['cmd'] === 'VFIO_DEVICE_ATTACH_IOMMUFD_PT' ? m.dfds.find((x) => x.name === (t.fields['fd'] as Ref).name) : undefined;
        if (d && ok(step)) recordAttach(m, d, t);
      },
      follow: (m, _k, t) => {
        const d = t.fields['cmd'] === 'VFIO_DEVICE_ATTACH_IOMMUFD_PT' ? m.dfds.find((x) => x.name === (t.fields['fd'] as Ref).name) : undefined;
        return d?.ctx ? ccCheck(d.ctx) : undefined;
      },
    } satisfies CommandSpec<number>);
  }
  if (has('VFIO_SET_IOMMU')) {
    // Any context (ENODEV without a compat IOAS), and one that has a compat IOAS: only there does
    // the type itself decide (EINVAL for what is not TYPE1, TYPE1v2 or NOIOMMU).
    const setIommu = (kind: string, needs: Need[], ctxFor: (m: GenModel, k: number) => CtxEntry | undefined): void =>
      add({
        kind,
        weight: 1,
        arb: fc.record({ ctx: ctxK, type: fc.constantFrom(1, 3, 3, 0, 8) }),
        needs, ready: () => true,
        build: (m, c) => {
          const ctx = ctxFor(m, c.ctx);
          return ctx && { op: 'ioctl', fields: { fd: new Ref(ctx.name), cmd: 'VFIO_SET_IOMMU', arg: { kind: 'int', value: BigInt(c.type) } } };
        },
        after: (m, c, _t, step) => {
          const ctx = ctxFor(m, c.ctx);
          if (ok(step) && ctx) ctx.compatType = c.type;
        },
      } satisfies CommandSpec<{ ctx: number; type: number }>);
    setIommu('VFIO_SET_IOMMU', ['ctx'], compatCtx);
    setIommu('VFIO_SET_IOMMU/compat', ['compat'], (m, k) => pick(m.openCtxs().filter((c) => c.compat), k));
  }
  if (has('VFIO_GET_API_VERSION')) {
    add({ kind: 'VFIO_GET_API_VERSION', weight: 1, arb: ctxK, needs: ['ctx'], ready: () => true, build: (m, k) => ({ op: 'ioctl', fields: { fd: new Ref((compatCtx(m, k) as CtxEntry).name), cmd: 'VFIO_GET_API_VERSION', arg: { kind: 'int', value: 0n } } }) } satisfies CommandSpec<number>);
  }
  if (has('VFIO_IOMMU_GET_INFO')) {
    const size = requireLayout(p, 'vfio_iommu_type1_info').size;
    add({
      kind: 'VFIO_IOMMU_GET_INFO',
      weight: 1,
      arb: fc.record({ ctx: ctxK, extra: fc.constantFrom(0, 64, 128), abi: env.abiFor('VFIO_IOMMU_GET_INFO') }),
      needs: ['ctx'], ready: () => true,
      build: (m, c) => {
        const step = ioctlStep(env, 'VFIO_IOMMU_GET_INFO', new Ref((compatCtx(m, c.ctx) as CtxEntry).name), c.extra ? { argsz: size + c.extra } : {}, c.abi);
        if (!step || !c.extra) return step;
        const arg = step.fields['arg'] as { kind: 'struct'; fields: { [k: string]: Tmpl }; tail?: Uint8Array };
        return arg.tail ? step : { ...step, fields: { ...step.fields, arg: { ...arg, tail: new Uint8Array(c.extra) } } };
      },
    } satisfies CommandSpec<{ ctx: number; extra: number; abi: AbiChoice }>);
  }
  if (has('VFIO_IOMMU_MAP_DMA')) {
    add({
      kind: 'VFIO_IOMMU_MAP_DMA',
      weight: 2,
      arb: fc.record({ ctx: ctxK, flags: fc.constantFrom(3, 3, 1, 2, 0), va: vaChoice, len: lenChoice, iova: iovaChoice, abi: env.abiFor('VFIO_IOMMU_MAP_DMA') }),
      needs: ['compat', 'buf'], ready: () => true,
      build: (m, c) => {
        const ctx = pick(m.ctxs.filter((x) => x.compat && x.open), c.ctx) ?? (compatCtx(m, c.ctx) as CtxEntry);
        const va = vaOf(c.va, m);
        let len = lengthOf(c.len, undefined, va.room);
        if (c.len.kind === 'pages' && va.room > 0n && len > va.room) len = va.room - (va.room % PAGE) || PAGE;
        const iova = iovaOf(c.iova, m, m.liveAreas(ctx.name, ctx.compat), len, boundsFor(m, ctx.compat));
        return ioctlStep(env, 'VFIO_IOMMU_MAP_DMA', new Ref(ctx.name), { flags: c.flags, vaddr: va.va, iova, size: len }, c.abi);
      },
    } satisfies CommandSpec<{ ctx: number; flags: number; va: VaChoice; len: LenChoice; iova: IovaChoice; abi: AbiChoice }>);
  }
  if (has('VFIO_IOMMU_UNMAP_DMA')) {
    add({
      kind: 'VFIO_IOMMU_UNMAP_DMA',
      weight: 1,
      arb: fc.record({ ctx: ctxK, all: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }), a: k16, len: lenChoice, iova: iovaChoice, abi: env.abiFor('VFIO_IOMMU_UNMAP_DMA') }),
      needs: ['compat'], ready: () => true,
      build: (m, c) => {
        const ctx = pick(m.ctxs.filter((x) => x.compat && x.open), c.ctx) ?? (compatCtx(m, c.ctx) as CtxEntry);
        const areas = m.liveAreas(ctx.name, ctx.compat);
        const a = pick(areas, c.a);
        // One ALL in three also names a range: type1's rule (iommufd_vfio_unmap_dma: EINVAL unless iova and size are 0).
        const ranged = c.all && c.a % 3 === 2;
        const length = c.all && !ranged ? 0n : lengthOf(c.len, a, a?.length ?? PAGE) || (ranged ? PAGE : 0n);
        const iova = c.all && !ranged ? 0n : iovaOf(c.iova, m, areas, length, boundsFor(m, ctx.compat));
        const defects: Defect[] = ranged ? [{ what: 'VFIO_DMA_UNMAP_FLAG_ALL with a range', errno: 'EINVAL', abi: true }] : [];
        return ioctlStep(env, 'VFIO_IOMMU_UNMAP_DMA', new Ref(ctx.name), { flags: c.all ? (enumValue(p, 'VFIO_DMA_UNMAP_FLAG_ALL') ?? 2) : 0, iova, size: length }, c.abi, { defects });
      },
    } satisfies CommandSpec<{ ctx: number; all: boolean; a: number; len: LenChoice; iova: IovaChoice; abi: AbiChoice }>);
  }
  if (has('IOMMU_DESTROY') && has('VFIO_IOMMU_MAP_DMA')) {
    // The compat IOAS destroyed under the container (IOMMU_VFIO_IOAS SET takes no reference), then
    // a type1 command on it: with the IOAS gone there is none (get_compat_ioas: ENODEV), whatever
    // object the old id may name next. A context that kept pointing at it acts on a freed IOAS.
    const type1 = ['VFIO_IOMMU_MAP_DMA', 'VFIO_IOMMU_UNMAP_DMA', 'VFIO_IOMMU_GET_INFO', 'IOMMU_VFIO_IOAS'].filter(has);
    add({
      kind: 'IOMMU_DESTROY/compat',
      weight: 1,
      arb: fc.record({ ctx: ctxK, then: fc.nat(type1.length - 1), va: vaChoice }),
      needs: ['compat', 'buf'], ready: () => true,
      build: (m, c) => {
        const ctx = pick(m.openCtxs().filter((x) => x.compat !== undefined && m.objs.some((o) => o.name === x.compat && o.alive)), c.ctx);
        return ctx?.compat === undefined ? undefined : ioctlStep(env, 'IOMMU_DESTROY', new Ref(ctx.name), { id: new Ref(ctx.compat) }, NONE, {});
      },
      after: (m, _c, t, step) => {
        const id = (t.fields['arg'] as { fields: { id: Tmpl } }).fields.id;
        const o = ok(step) && id instanceof Ref ? m.objs.find((x) => x.name === id.name) : undefined;
        if (!o) return;
        o.alive = false;
        for (const a of m.areas) if (a.ioas === o.name) a.alive = false;
      },
      follow: (m, c, t) => {
        const ctx = m.ctxs.find((x) => t.fields['fd'] instanceof Ref && x.name === (t.fields['fd'] as Ref).name);
        if (!ctx?.open) return undefined;
        const fd = new Ref(ctx.name);
        const steps: { [cmd: string]: () => StepTemplate | undefined } = {
          VFIO_IOMMU_MAP_DMA: () => ioctlStep(env, 'VFIO_IOMMU_MAP_DMA', fd, { flags: v(p, 'VFIO_DMA_MAP_FLAG_READ') | v(p, 'VFIO_DMA_MAP_FLAG_WRITE'), vaddr: vaOf(c.va, m).va, iova: 0x100000n, size: PAGE }, NONE, {}),
          VFIO_IOMMU_UNMAP_DMA: () => ioctlStep(env, 'VFIO_IOMMU_UNMAP_DMA', fd, { flags: enumValue(p, 'VFIO_DMA_UNMAP_FLAG_ALL') ?? 2, iova: 0n, size: 0n }, NONE, {}),
          VFIO_IOMMU_GET_INFO: () => ioctlStep(env, 'VFIO_IOMMU_GET_INFO', fd, {}, NONE, {}),
          IOMMU_VFIO_IOAS: () => ioctlStep(env, 'IOMMU_VFIO_IOAS', fd, { op: v(p, 'IOMMU_VFIO_IOAS_GET'), ioas_id: 0 }, NONE, {}),
        };
        return steps[type1[c.then] as string]?.();
      },
    } satisfies CommandSpec<{ ctx: number; then: number; va: VaChoice }>);
  }
  if (has('VFIO_IOMMU_MAP_DMA') && has('VFIO_IOMMU_UNMAP_DMA') && has('VFIO_SET_IOMMU')) {
    // Type1 (v1) lets an unmap take part of a mapping: map a few pages into a container whose
    // IOAS a device's domain holds (so they are pinned for it), then unmap a head or a tail of
    // them — the area is cut in two (iopt_cut_iova, iopt_area_split) and the half that stays
    // must keep its pages pinned and mapped.
    const SPLIT_IOVA = 0x40000000n;
    const TYPE1 = v(p, 'VFIO_TYPE1_IOMMU');
    const v1Ctx = (m: GenModel): CtxEntry | undefined => m.openCtxs().find((x) => x.compat !== undefined && x.compatType === TYPE1);
    // The same cut where it must be refused: a container that is not type1 v1 (TYPE1v2, or no
    // VFIO_SET_IOMMU yet) keeps the iommufd rule, an unmap never cuts an area (iommufd_vfio_unmap_dma
    // cuts only with large pages off; iopt_unmap_iova: ENOENT).
    const v2Ctx = (m: GenModel): CtxEntry | undefined => m.openCtxs().find((x) => x.compat !== undefined && x.compatType !== TYPE1 && m.objs.some((o) => o.name === x.compat && o.alive));
    const splitCut = (kind: string, needs: Need[], ctxOf: (m: GenModel) => CtxEntry | undefined): void =>
      add({
        kind,
        weight: 1,
        arb: fc.record({ slot: fc.nat(7), pages: fc.integer({ min: 2, max: 6 }), cut: fc.nat(7), head: fc.boolean() }),
        needs, ready: () => true,
        build: (m, c) => {
          const ctx = ctxOf(m);
          const b = m.bufs.find((x) => !x.readonly && x.length >= c.pages * PAGE_BYTES);
          if (!ctx || !b) return undefined;
          return ioctlStep(env, 'VFIO_IOMMU_MAP_DMA', new Ref(ctx.name), { flags: v(p, 'VFIO_DMA_MAP_FLAG_READ') | v(p, 'VFIO_DMA_MAP_FLAG_WRITE'), vaddr: new Ref(b.name, 'va'), iova: SPLIT_IOVA + BigInt(c.slot) * HPAGE, size: BigInt(c.pages) * PAGE }, NONE);
        },
        follow: (m, c, t, step) => {
          if (!ok(step)) return undefined;
          const base = SPLIT_IOVA + BigInt(c.slot) * HPAGE;
          const cut = BigInt(1 + (c.cut % (c.pages - 1))) * PAGE;
          return ioctlStep(env, 'VFIO_IOMMU_UNMAP_DMA', t.fields['fd'] as Tmpl, { flags: 0, iova: c.head ? base : base + cut, size: c.head ? cut : BigInt(c.pages) * PAGE - cut }, NONE);
        },
      } satisfies CommandSpec<{ slot: number; pages: number; cut: number; head: boolean }>);
    splitCut('VFIO_IOMMU_UNMAP_DMA/split', ['compatV1Device', 'buf'], v1Ctx);
    splitCut('VFIO_IOMMU_UNMAP_DMA/split-refused', ['compat', 'buf'], v2Ctx);
  }
  return specs;
}

// ---------------------------------------------------------------- IOMMU_TEST_CMD

function testSpecs(env: GenEnv): CommandSpec<never>[] {
  const { profile: p } = env;
  const specs: CommandSpec<never>[] = [];
  const add = <C,>(spec: CommandSpec<C>): void => {
    specs.push(spec as unknown as CommandSpec<never>);
  };
  const op = (name: string): number => (testOpByName(p, name) as { value: number }).value;
  const test = <C,>(name: string, spec: Omit<CommandSpec<C>, 'kind'>): void => {
    if (testOpSupported(env, name)) add({ kind: `IOMMU_TEST_CMD/${name}`, ...spec } as CommandSpec<C>);
  };
  const testStep = (m: GenModel, ctx: CtxEntry, name: string, id: Tmpl, member: string | undefined, fields: { [k: string]: Tmpl }, abi: AbiChoice, bind?: { [n: string]: string }): StepTemplate | undefined =>
    ioctlStep(env, 'IOMMU_TEST_CMD', new Ref(ctx.name), { op: op(name), id, ...(member && { [member]: fields }) }, abi, bind ? { bind } : {});

  // What a mock device attaches to: an IOAS, or a HWPT — mostly one allocated for another mock
  // device (the one kind a mock device can join). The device then holds a HWPT with a lower id than
  // its own, an order the context's release must undo over several passes (iommufd_fops_release).
  const mockPt = (m: GenModel, ctx: CtxEntry, c: { pt: IdChoice; hwpt: boolean; onto?: string }): { id: Tmpl; obj?: ObjEntry } => {
    const onto = c.onto !== undefined ? m.objs.find((o) => o.name === c.onto && o.alive) : undefined;
    if (onto) return { id: new Ref(onto.name), obj: onto };
    const joinable = c.hwpt && c.pt.kind === 'live' && c.pt.k % 4 !== 3 ? pick(m.live('hwpt', ctx.name).filter((h) => h.mock), c.pt.k) : undefined;
    return joinable ? { id: new Ref(joinable.name), obj: joinable } : idOf(c.pt, m, ctx.name, c.hwpt ? ['hwpt'] : ['ioas']);
  };
  if (supported(env.caps, 'IOMMU_HWPT_ALLOC') && testOpSupported(env, 'IOMMU_TEST_OP_MOCK_DOMAIN')) {
    // A HWPT allocated for a mock device on an IOAS that maps something, then a new mock device
    // attached to it: the device holds a HWPT of a lower id, pinning the IOAS's pages through its
    // domain, and stays until the context closes (the model does not know it), so the release must
    // tear the HWPT down after the device, in a later pass than its id comes up.
    add({
      kind: 'IOMMU_HWPT_ALLOC/mock-join',
      weight: 1,
      arb: k16,
      needs: ['stdev', 'area'], ready: () => true,
      build: (m, k) => {
        const st = pick(m.live('stdev'), k);
        const ctx = st && m.ctxs.find((x) => x.name === st.ctx && x.open);
        const ioas = ctx && (pick(m.liveAreas(ctx.name), k)?.ioas ?? pick(m.live('ioas', ctx.name), k)?.name);
        if (!st?.ioas || !ctx || !ioas) return undefined;
        return ioctlStep(env, 'IOMMU_HWPT_ALLOC', new Ref(ctx.name), { flags: 0, dev_id: new Ref(st.ioas), pt_id: new Ref(ioas), data_type: 0 }, NONE, { bind: { [m.fresh('hwpt')]: 'out.out_hwpt_id' } });
      },
      after: (m, _k, t, step) => {
        const f = (t.fields['arg'] as { fields: { pt_id: Ref } }).fields;
        if (ok(step)) m.objs.push({ name: Object.keys(t.bind ?? {})[0] as string, kind: 'hwpt', ctx: (t.fields['fd'] as Ref).name, alive: true, ioas: f.pt_id.name, auto: false, mock: true });
      },
      follow: (m, _k, t, step) => {
        const hwpt = Object.keys(t.bind ?? {})[0];
        const ctx = m.ctxs.find((x) => x.name === (t.fields['fd'] as Ref).name);
        return ok(step) && hwpt && ctx ? testStep(m, ctx, 'IOMMU_TEST_OP_MOCK_DOMAIN', new Ref(hwpt), 'mock_domain', {}, NONE) : undefined;
      },
    } satisfies CommandSpec<number>);
  }
  /** `onto`: the IOAS or HWPT by name (constructors only; generated choices leave it out). */
  type MockDomain = { ctx: number; pt: IdChoice; hwpt: boolean; flags: number; abi: AbiChoice; onto?: string };
  test<MockDomain>('IOMMU_TEST_OP_MOCK_DOMAIN', {
    weight: 2,
    arb: fc.record({ ctx: ctxK, pt: idChoice, hwpt: fc.boolean(), flags: fc.constantFrom(-1, -1, 0, 1), abi: env.abiFor('IOMMU_TEST_CMD', false, 'IOMMU_TEST_OP_MOCK_DOMAIN') }),
    needs: ['ioas'], ready: (m) => m.objs.filter((o) => o.kind === 'stdev').length < 4,
    build: (m, c) => {
      const ctx = ctxOf(m, c.ctx) as CtxEntry;
      const pt = mockPt(m, ctx, c);
      const [st, idev, hwpt] = [m.fresh('stdev'), m.fresh('devid'), m.fresh('hwpt')];
      const flags = c.flags >= 0 && testOpSupported(env, 'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS');
      const member = flags ? 'mock_domain_flags' : 'mock_domain';
      const name = flags ? 'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS' : 'IOMMU_TEST_OP_MOCK_DOMAIN';
      return testStep(m, ctx, name, pt.id, member, flags ? { dev_flags: c.flags } : {}, c.abi, { [st]: `out.${member}.out_stdev_id`, [idev]: `out.${member}.out_idev_id`, [hwpt]: `out.${member}.out_hwpt_id` });
    },
    after: (m, c, t, step) => {
      if (!ok(step)) return;
      const ctx = (ctxOf(m, c.ctx) as CtxEntry).name;
      const [st, idev, hwpt] = Object.keys(t.bind ?? {}) as [string, string, string];
      const f = (t.fields['arg'] as { fields: { id: Tmpl } }).fields;
      const asked = f.id instanceof Ref ? m.objs.find((o) => o.name === (f.id as Ref).name) : undefined;
      m.objs.push({ name: st, kind: 'stdev', ctx, alive: true, ioas: idev });
      m.objs.push({ name: idev, kind: 'devid', ctx, alive: true });
      m.objs.push({ name: hwpt, kind: 'hwpt', ctx, alive: true, ...((asked?.kind === 'ioas' ? asked.name : asked?.ioas) && { ioas: asked?.kind === 'ioas' ? asked.name : (asked?.ioas as string) }), auto: asked?.kind === 'ioas' });
    },
    follow: (m, _c, t, step) => rangesAfterFailure(env, m, t, step, (f) => f['id']),
  });
  test('IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', {
    weight: 1,
    arb: fc.record({ ctx: ctxK, st: k16, pt: idChoice, hwpt: fc.boolean(), abi: env.abiFor('IOMMU_TEST_CMD') }),
    needs: ['stdev'], ready: () => true,
    build: (m, c) => {
      const ctx = ctxOf(m, c.ctx) as CtxEntry;
      const st = pick(m.live('stdev', ctx.name), c.st) ?? pick(m.live('stdev'), c.st);
      const pt = mockPt(m, ctx, c);
      return st ? testStep(m, ctx, 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', new Ref(st.name), 'mock_domain_replace', { pt_id: pt.id }, c.abi) : undefined;
    },
    follow: (m, _c, t, step) => rangesAfterFailure(env, m, t, step, (f) => (f['mock_domain_replace'] as { [k: string]: Tmpl } | undefined)?.['pt_id']),
  });
  test('IOMMU_TEST_OP_ADD_RESERVED', {
    weight: 1,
    arb: fc.record({ ctx: ctxK, ioas: idChoice, iova: iovaChoice, len: lenChoice, abi: env.abiFor('IOMMU_TEST_CMD') }),
    needs: ['ioas'], ready: () => true,
    build: (m, c) => {
      const ctx = ctxOf(m, c.ctx) as CtxEntry;
      const { id, obj } = idOf(c.ioas, m, ctx.name, ['ioas']);
      const len = lengthOf(c.len, undefined, PAGE);
      return testStep(m, ctx, 'IOMMU_TEST_OP_ADD_RESERVED', id, 'add_reserved', { start: iovaOf(c.iova, m, areasFor(m, ctx, obj?.name), len, boundsFor(m, obj?.name)), length: len }, c.abi);
    },
    after: (m, _c, t, step) => {
      const f = (t.fields['arg'] as { fields: { id: Tmpl; add_reserved: { start: Tmpl; length: Tmpl } } }).fields;
      const o = ok(step) && f.id instanceof Ref ? m.objs.find((x) => x.name === (f.id as Ref).name) : undefined;
      const { start, length } = f.add_reserved;
      if (o && typeof start === 'bigint' && typeof length === 'bigint' && length > 0n) o.reserved = [...(o.reserved ?? []), { start, last: start + length - 1n }];
    },
  });
  if (testOpSupported(env, 'IOMMU_TEST_OP_ADD_RESERVED') && supported(env.caps, 'IOMMU_IOAS_MAP')) {
    // A reservation where the automatic IOVA search would go next (the lowest hole of the IOAS's
    // areas), then an automatic map there: the search must step over reserved IOVAs as over areas
    // (iopt_alloc_iova walks both trees), or the new area lands on the reservation.
    const f = mapFlags(p);
    add({
      kind: 'IOMMU_TEST_CMD/IOMMU_TEST_OP_ADD_RESERVED/next-hole',
      weight: 1,
      arb: fc.record({ k: k16, pages: fc.constantFrom(1, 2, 16) }),
      needs: ['ioas', 'buf'], ready: () => true,
      build: (m, c) => {
        const ioas = pick(m.live('ioas'), c.k);
        const ctx = ioas && m.ctxs.find((x) => x.name === ioas.ctx && x.open);
        if (!ioas || !ctx) return undefined;
        let hole = 0n;
        for (const a of [...m.liveAreas(ctx.name, ioas.name)].sort((x, y) => (x.iova < y.iova ? -1 : 1))) {
          if (a.iova > hole) break;
          hole = (a.iova + a.length + PAGE - 1n) & ~(PAGE - 1n);
        }
        return testStep(m, ctx, 'IOMMU_TEST_OP_ADD_RESERVED', new Ref(ioas.name), 'add_reserved', { start: hole, length: BigInt(c.pages) * PAGE }, NONE);
      },
      after: (m, _c, t, step) => {
        const a = (t.fields['arg'] as { fields: { id: Ref; add_reserved: { start: bigint; length: bigint } } }).fields;
        const o = ok(step) ? m.objs.find((x) => x.name === a.id.name) : undefined;
        if (o) o.reserved = [...(o.reserved ?? []), { start: a.add_reserved.start, last: a.add_reserved.start + a.add_reserved.length - 1n }];
      },
      follow: (m, _c, t, step) => {
        const ioas = (t.fields['arg'] as { fields: { id: Ref } }).fields.id;
        const b = m.bufs.find((x) => !x.readonly);
        return ok(step) && b ? ioctlStep(env, 'IOMMU_IOAS_MAP', t.fields['fd'] as Tmpl, { flags: f.read | f.write, ioas_id: new Ref(ioas.name), user_va: new Ref(b.name, 'va'), length: PAGE, iova: 0n }, NONE) : undefined;
      },
    } satisfies CommandSpec<{ k: number; pages: number }>);
  }
  test('IOMMU_TEST_OP_CREATE_ACCESS', {
    weight: 1,
    arb: fc.record({ ctx: ctxK, ioas: idChoice, pin: fc.boolean(), abi: env.abiFor('IOMMU_TEST_CMD', false, 'IOMMU_TEST_OP_CREATE_ACCESS') }),
    needs: ['ioas'], ready: (m) => m.accs.length < 3,
    build: (m, c) => {
      const ctx = ctxOf(m, c.ctx) as CtxEntry;
      const { id } = idOf(c.ioas, m, ctx.name, ['ioas']);
      const name = m.fresh('afd');
      return testStep(m, ctx, 'IOMMU_TEST_OP_CREATE_ACCESS', id, 'create_access', { flags: c.pin ? 1 : 0 }, c.abi, { [name]: 'out.create_access.out_access_fd' });
    },
    after: (m, c, t, step) => {
      if (!ok(step)) return;
      const f = (t.fields['arg'] as { fields: { id: Tmpl } }).fields;
      m.accs.push({ name: Object.keys(t.bind ?? {})[0] as string, ctx: (ctxOf(m, c.ctx) as CtxEntry).name, ioas: f.id instanceof Ref ? f.id.name : '', open: true, pin: c.pin });
    },
  });
  /** `past`: pages the range runs past the area's end (ENOENT where nothing maps them; a pin must then let go of all it took). */
  /**
   * Where in a buffer of `size` bytes an access copy of `length` bytes puts its user end: page 1
   * (page 0 when the buffer has one page), unless that meets the bytes it accesses (`accessed`,
   * an offset in the same buffer): then before them or on the page after them, where there is room.
   */
  const userOffset = (size: number, accessed: bigint | undefined, length: bigint): bigint => {
    const usual = BigInt(size > 4096 ? 4096 : 0);
    if (accessed === undefined || usual + length <= accessed || accessed + length <= usual) return usual;
    if (length <= accessed) return 0n;
    const after = ((accessed + length + PAGE - 1n) / PAGE) * PAGE;
    return after + length <= BigInt(size) ? after : usual;
  };
  const accessTarget = (m: GenModel, k: number, aK: number, off: number, pages: number, pinning = false, past = 0, write?: boolean): { acc: { name: string; ctx: string }; area?: string; iova: Tmpl; length: bigint; uptr: Tmpl } | undefined => {
    // Pinning: mostly an open access that may pin (one in five any, EINVAL from a non-pinning one).
    const acc = (pinning && k % 5 !== 4 ? pick(m.accs.filter((a) => a.open && a.pin), k) : undefined) ?? pick(m.accs, k);
    if (!acc) return undefined;
    // One time in three, through an area mapped without the permission asked (a write without
    // WRITEABLE, a read without READABLE) where there is one: the area's own protection refuses it
    // (check_area_prot: EPERM), whatever the pages under it allow.
    const own = m.liveAreas(acc.ctx, acc.ioas);
    const a = (write !== undefined && aK % 3 === 0 ? pick(own.filter((x) => (write ? !x.write : !x.read)), aK) : undefined) ?? pick(own, aK) ?? pick(m.liveAreas(acc.ctx), aK);
    if (!a || !a.buf) return { acc, iova: 1n << 24n, length: BigInt(pages) * PAGE, uptr: 0n };
    const total = a.length / PAGE;
    const first = total > 0n ? BigInt(off) % total : 0n;
    const n = past > 0 ? total - first + BigInt(past) : BigInt(pages) <= total - first ? BigInt(pages) : total - first || 1n;
    return { acc, area: a.name, iova: new Ref(a.name, '', first * PAGE), length: n * PAGE, uptr: new Ref(a.buf, 'va', BigInt(a.bufOff) + first * PAGE) };
  };
  /**
   * The area an access pins in IOMMU_TEST_OP_ACCESS_PAGES/unmap-all and the one below it that may
   * go alone: the upper of two touching areas of its IOAS where there are such (an unmap range
   * told one byte too long reaches the pin), else the highest area and the one next below.
   */
  const pinnedAndBelow = (m: GenModel, acc: AccEntry): { last?: AreaEntry; below?: AreaEntry } => {
    const areas = m.liveAreas(acc.ctx, acc.ioas);
    const touching = areas.flatMap((hi) => areas.filter((lo) => lo.iova + lo.length === hi.iova).map((lo) => ({ last: hi, below: lo })));
    if (touching.length > 0) return touching[touching.length - 1] as { last: AreaEntry; below: AreaEntry };
    const last = areas.reduce<AreaEntry | undefined>((x, y) => (!x || y.iova > x.iova ? y : x), undefined);
    const below = areas.filter((x) => x !== last).reduce<AreaEntry | undefined>((x, y) => (!x || y.iova > x.iova ? y : x), undefined);
    return { last, below };
  };
  if (testOpSupported(env, 'IOMMU_TEST_OP_ACCESS_PAGES') && supported(env.caps, 'IOMMU_IOAS_UNMAP')) {
    // An access pins a page of the last of two touching areas, then everything is unmapped: the
    // unmap tells the access to let go and goes on (iopt_unmap_iova_range's retry), reporting
    // the bytes of every area, the ones before the retry included.
    add({
      kind: 'IOMMU_TEST_CMD/IOMMU_TEST_OP_ACCESS_PAGES/unmap-all',
      weight: 3,
      arb: k16,
      needs: ['acc', 'areaPair'], ready: () => true,
      build: (m, k) => {
        const acc = pick(m.accs.filter((a) => a.open && a.pin && m.liveAreas(a.ctx, a.ioas).length > 1), k);
        const last = acc && pinnedAndBelow(m, acc).last;
        const ctx = acc && m.ctxs.find((x) => x.name === acc.ctx);
        if (!acc || !last?.buf || !ctx) return undefined;
        return testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_PAGES', new Ref(acc.name), 'access_pages', { flags: 0, iova: new Ref(last.name), length: PAGE, uptr: new Ref(last.buf, 'va', BigInt(last.bufOff)) }, NONE);
      },
      // Two times in three only the area below it goes, by its exact range: the unmap tells the
      // access of that range alone, and the pin in the last area stays (an unmap-all releases it too).
      follow: (m, k, _t, step) => {
        const acc = ok(step) ? pick(m.accs.filter((a) => a.open && a.pin && m.liveAreas(a.ctx, a.ioas).length > 1), k) : undefined;
        if (!acc) return undefined;
        if (k % 3 !== 0) {
          const { below } = pinnedAndBelow(m, acc);
          const unmap = below && unmapAreaStep(env, below);
          if (below && unmap) {
            below.alive = false;
            return unmap;
          }
        }
        return ioctlStep(env, 'IOMMU_IOAS_UNMAP', new Ref(acc.ctx), { ioas_id: new Ref(acc.ioas), iova: 0n, length: U64_MAX }, NONE, {});
      },
    } satisfies CommandSpec<number>);
  }
  if (testOpSupported(env, 'IOMMU_TEST_OP_ACCESS_PAGES') && testOpSupported(env, 'IOMMU_TEST_OP_DESTROY_ACCESS_PAGES')) {
    // Two pins of one access from the same IOVA, the longer first, then each dropped: each release
    // finds its own pin among the ones over its range (iopt_pages_get_exact_access walks every node
    // of the interval tree over it), in either order.
    const pinningOn = (m: GenModel, k: number): { acc: AccEntry; a: AreaEntry; ctx: CtxEntry } | undefined => {
      const acc = pick(m.accs.filter((x) => x.open && x.pin && m.liveAreas(x.ctx, x.ioas).some((a) => a.buf && a.length >= 2n * PAGE)), k);
      const a = acc && m.liveAreas(acc.ctx, acc.ioas).find((x) => x.buf && x.length >= 2n * PAGE);
      const ctx = acc && m.ctxs.find((x) => x.name === acc.ctx);
      return acc && a && ctx ? { acc, a, ctx } : undefined;
    };
    add({
      kind: 'IOMMU_TEST_CMD/IOMMU_TEST_OP_ACCESS_PAGES/overlap',
      weight: 1,
      arb: k16,
      needs: ['acc', 'area'], ready: () => true,
      build: (m, k) => {
        const t = pinningOn(m, k);
        return t && testStep(m, t.ctx, 'IOMMU_TEST_OP_ACCESS_PAGES', new Ref(t.acc.name), 'access_pages', { flags: 0, iova: new Ref(t.a.name), length: 2n * PAGE, uptr: new Ref(t.a.buf as string, 'va', BigInt(t.a.bufOff)) }, NONE, { [m.fresh('item')]: 'out.access_pages.out_access_pages_id' });
      },
      follow: (m, k, t0, step) => {
        const t = ok(step) ? pinningOn(m, k) : undefined;
        const first = Object.keys(t0.bind ?? {})[0];
        if (!t || !first) return undefined;
        const second = m.fresh('item');
        const pin = testStep(m, t.ctx, 'IOMMU_TEST_OP_ACCESS_PAGES', new Ref(t.acc.name), 'access_pages', { flags: 0, iova: new Ref(t.a.name), length: PAGE, uptr: new Ref(t.a.buf as string, 'va', BigInt(t.a.bufOff)) }, NONE, { [second]: 'out.access_pages.out_access_pages_id' });
        const drop = (item: string): StepTemplate | undefined => testStep(m, t.ctx, 'IOMMU_TEST_OP_DESTROY_ACCESS_PAGES', new Ref(t.acc.name), 'destroy_access_pages', { access_pages_id: new Ref(item) }, NONE);
        const order = k % 2 === 0 ? [first, second] : [second, first];
        const steps = [pin, drop(order[0] as string), drop(order[1] as string)];
        return steps.every((x): x is StepTemplate => x !== undefined) ? steps : undefined;
      },
    } satisfies CommandSpec<number>);
  }
  if (testOpSupported(env, 'IOMMU_TEST_OP_ACCESS_PAGES') && supported(env.caps, 'VFIO_IOMMU_UNMAP_DMA')) {
    // An access pins the second page of a mapping of a type1 (v1) container, then an unmap cuts the
    // mapping there: an area an access holds pages of is never split (iopt_area_split: EINVAL), as
    // the access's pins could not follow the pieces.
    const pinnedOnV1 = (m: GenModel): { acc: AccEntry; a: AreaEntry; ctx: CtxEntry }[] =>
      m.openCtxs().flatMap((ctx) => {
        if (ctx.compat === undefined || ctx.compatType !== (enumValue(p, 'VFIO_TYPE1_IOMMU') ?? 1)) return [];
        const acc = m.accs.find((x) => x.open && x.pin && x.ctx === ctx.name && x.ioas === ctx.compat);
        const a = m.liveAreas(ctx.name, ctx.compat).find((x) => x.buf && x.length >= 2n * PAGE);
        return acc && a ? [{ acc, a, ctx }] : [];
      });
    add({
      kind: 'VFIO_IOMMU_UNMAP_DMA/cut-pinned',
      weight: 1,
      arb: k16,
      needs: ['compatAccess'], ready: () => true,
      build: (m, k) => {
        const t = pick(pinnedOnV1(m), k);
        return t && testStep(m, t.ctx, 'IOMMU_TEST_OP_ACCESS_PAGES', new Ref(t.acc.name), 'access_pages', { flags: 0, iova: new Ref(t.a.name, '', PAGE), length: PAGE, uptr: new Ref(t.a.buf as string, 'va', BigInt(t.a.bufOff) + PAGE) }, NONE);
      },
      follow: (m, k, _t, step) => {
        const t = ok(step) ? pick(pinnedOnV1(m), k) : undefined;
        return t && ioctlStep(env, 'VFIO_IOMMU_UNMAP_DMA', new Ref(t.ctx.name), { flags: 0, iova: new Ref(t.a.name, '', PAGE), size: t.a.length - PAGE }, NONE, {});
      },
    } satisfies CommandSpec<number>);
  }
  if (testOpSupported(env, 'IOMMU_TEST_OP_ACCESS_PAGES') && supported(env.caps, 'IOMMU_IOAS_MAP')) {
    // An unprivileged process under a small RLIMIT_MEMLOCK: an area one page longer than the limit,
    // in an IOAS no domain holds (the map pins nothing), then an access pin of all of it, which the
    // charge refuses (ENOMEM), then a pin of its first page, well within the limit. The unwind must
    // give back every page and every charge it took: what it kept shows in the second pin's
    // charge, in pinned_vm, and in the user's charge at the end.
    const OVER_LIMIT_MAX_PAGES = 16;
    add({
      kind: 'IOMMU_TEST_CMD/IOMMU_TEST_OP_ACCESS_PAGES/over-limit',
      // Ready only in the few cases that start unprivileged under a small limit: drawn most of the
      // time there (at weight 4 it ran in 15 cases of 1000 at seed 1).
      weight: 16,
      arb: k16,
      needs: ['acc', 'buf'],
      ready: (m) => m.setting.unprivileged && m.setting.rlimit !== undefined && m.setting.rlimit <= BigInt(OVER_LIMIT_MAX_PAGES) * PAGE,
      build: (m, k) => {
        const acc = pick(m.accs.filter((a) => a.open && a.pin && m.ctxs.find((c) => c.name === a.ctx)?.open), k);
        const pages = Number((m.setting.rlimit ?? 0n) / PAGE) + 1;
        const b = pick(m.bufs.filter((x) => !x.readonly && x.length >= pages * PAGE_BYTES), k);
        if (!acc || !b) return undefined;
        const map = mapFlags(env.profile);
        return ioctlStep(env, 'IOMMU_IOAS_MAP', new Ref(acc.ctx), { flags: map.read | map.write, ioas_id: new Ref(acc.ioas), user_va: new Ref(b.name, 'va'), length: BigInt(pages) * PAGE, iova: 0n }, NONE, { bind: { [m.fresh('area')]: 'out.iova' } });
      },
      after: (m, k, t, step) => {
        const acc = pick(m.accs.filter((a) => a.open && a.pin && m.ctxs.find((c) => c.name === a.ctx)?.open), k);
        const f = (t.fields['arg'] as { fields: { user_va: Ref; length: bigint } }).fields;
        const iova = step.response?.ok ? (step.response.result as { out?: { iova?: bigint } }).out?.iova : undefined;
        if (!ok(step) || !acc || iova === undefined) return;
        m.areas.push({ name: Object.keys(t.bind ?? {})[0] as string, ctx: acc.ctx, ioas: acc.ioas, iova, length: f.length, buf: f.user_va.name, bufOff: 0, read: true, write: true, alive: true });
      },
      follow: (m, _k, t, step) => {
        const a = ok(step) ? m.areas.find((x) => x.name === Object.keys(t.bind ?? {})[0]) : undefined;
        const acc = a && m.accs.find((x) => x.open && x.pin && x.ctx === a.ctx && x.ioas === a.ioas);
        const ctx = acc && m.ctxs.find((x) => x.name === acc.ctx);
        if (!a?.buf || !acc || !ctx) return undefined;
        const pin = (length: bigint): StepTemplate | undefined => testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_PAGES', new Ref(acc.name), 'access_pages', { flags: MOCK_FLAGS_ACCESS_WRITE, iova: new Ref(a.name), length, uptr: new Ref(a.buf as string, 'va') }, NONE, { [m.fresh('item')]: 'out.access_pages.out_access_pages_id' });
        return [pin(a.length), pin(PAGE)].filter((x): x is StepTemplate => x !== undefined);
      },
    } satisfies CommandSpec<number>);
  }
  if (testOpSupported(env, 'IOMMU_TEST_OP_ACCESS_PAGES') && supported(env.caps, 'IOMMU_IOAS_MAP')) {
    // Two touching areas in a free span of a pinning access's IOAS, a page each, the lower
    // writable; the access pins the upper one's first page for reading. Then either
    // - 'fail': the upper is read-only and both are pinned for writing, which the upper area
    //   refuses (check_area_prot: EPERM) after the lower piece was added: the unwind must take back
    //   the lower piece alone, and the first pin, on the area that refused, stays;
    // - 'unmap': the access pins the lower page too, and the lower area is unmapped by its exact
    //   range: the access is told of that range alone (its last byte is the one before the upper
    //   pin), and the upper pin stays.
    // (Its pin count, and its release by DESTROY_ACCESS_PAGES or the unmap at the end, show it.)
    const pinnable = (m: GenModel): AccEntry[] => m.accs.filter((a) => a.open && a.pin && m.ctxs.find((c) => c.name === a.ctx)?.open && !m.objs.find((o) => o.name === a.ioas)?.allowed?.length);
    type Touching = { k: number; then: 'fail' | 'unmap' };
    add({
      kind: 'IOMMU_TEST_CMD/IOMMU_TEST_OP_ACCESS_PAGES/touching',
      weight: 2,
      arb: fc.record({ k: k16, then: fc.constantFrom<Touching['then']>('fail', 'unmap') }),
      needs: ['acc', 'buf'], ready: (m) => pinnable(m).length > 0,
      build: (m, c) => {
        const acc = pick(pinnable(m), c.k);
        const b = pick(m.bufs.filter((x) => !x.readonly && x.length >= 2 * PAGE_BYTES), c.k);
        const at = acc && freeSpan(m, acc.ctx, acc.ioas);
        if (!acc || !b || at === undefined) return undefined;
        const map = mapFlags(env.profile);
        return ioctlStep(env, 'IOMMU_IOAS_MAP', new Ref(acc.ctx), { flags: map.fixed | map.read | map.write, ioas_id: new Ref(acc.ioas), user_va: new Ref(b.name, 'va'), length: PAGE, iova: at }, NONE, { bind: { [m.fresh('area')]: 'out.iova' } });
      },
      after: (m, _c, t, step) => recordFixedMap(m, t, step, mapFlags(env.profile)),
      follow: (m, c, t, step) => {
        const f = (t.fields['arg'] as { fields: { ioas_id: Ref; user_va: Ref; iova: bigint } }).fields;
        const acc = ok(step) ? pick(pinnable(m), c.k) : undefined;
        const ctx = acc && m.ctxs.find((x) => x.name === acc.ctx);
        const lower = m.liveAreas().find((a) => a.name === Object.keys(t.bind ?? {})[0]);
        if (!acc || !ctx || !lower || acc.ioas !== f.ioas_id.name) return undefined;
        const map = mapFlags(env.profile);
        const upper = ioctlStep(env, 'IOMMU_IOAS_MAP', new Ref(acc.ctx), { flags: map.fixed | map.read | (c.then === 'unmap' ? map.write : 0), ioas_id: f.ioas_id, user_va: new Ref(f.user_va.name, 'va', PAGE), length: PAGE, iova: f.iova + PAGE }, NONE, {});
        const pin = (iova: bigint, length: bigint, off: bigint, flags: number): StepTemplate | undefined => testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_PAGES', new Ref(acc.name), 'access_pages', { flags, iova, length, uptr: new Ref(f.user_va.name, 'va', off) }, NONE, {});
        // An unmap notifies the accesses only of areas they pin (area->num_accesses): the lower one is pinned too.
        const then = c.then === 'fail' ? [pin(f.iova, 2n * PAGE, 0n, MOCK_FLAGS_ACCESS_WRITE)] : [pin(f.iova, PAGE, 0n, 0), unmapAreaStep(env, lower)];
        if (c.then === 'unmap') lower.alive = false;
        return [upper, pin(f.iova + PAGE, PAGE, PAGE, 0), ...then].filter((x): x is StepTemplate => x !== undefined);
      },
    } satisfies CommandSpec<Touching>);
  }
  test('IOMMU_TEST_OP_ACCESS_PAGES', {
    weight: 2,
    // Pages 0: the rest of the area, which an unprivileged process's RLIMIT_MEMLOCK may refuse (the
    // unwind must give back every page and every charge the pin took: a later pin shows what it kept).
    arb: fc.record({ acc: k16, area: k16, off: fc.nat(15), pages: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 4 }) }, { weight: 1, arbitrary: fc.constant(0) }), past: fc.constantFrom(0, 0, 0, 0, 1, 2), write: fc.boolean(), abi: env.abiFor('IOMMU_TEST_CMD', false, 'IOMMU_TEST_OP_ACCESS_PAGES') }),
    needs: ['acc', 'area'], ready: () => true,
    build: (m, c) => {
      const t = accessTarget(m, c.acc, c.area, c.off, c.pages === 0 ? Number.MAX_SAFE_INTEGER : c.pages, true, c.past, c.write);
      if (!t) return undefined;
      const ctx = m.ctxs.find((x) => x.name === t.acc.ctx) as CtxEntry;
      const name = m.fresh('item');
      return testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_PAGES', new Ref(t.acc.name), 'access_pages', { flags: c.write ? 1 : 0, iova: t.iova, length: t.length, uptr: t.uptr }, c.abi, { [name]: 'out.access_pages.out_access_pages_id' });
    },
    after: (m, _c, t, step) => notePin(m, t, step),
    // Every other failed pin (EFAULT from user memory that is gone, ENOMEM from RLIMIT_MEMLOCK, a
    // range past the area): the area it named is unmapped right after, which nothing may refuse.
    // A pin that kept a count of itself on the area (iopt_area_add_access) makes it EDEADLOCK.
    // Now and then a pin that succeeded is followed by an unmap of part of its area, from its second
    // page on (IOMMU_IOAS_UNMAP/pinned-part): refused whole (ENOENT) before any access is told to
    // let go, so the area and the pin stay.
    follow: (m, c, t, step) => {
      const area = failedPinArea(m, c, t, step);
      if (area) area.alive = false;
      if (area) return unmapAreaStep(env, area);
      const pinned = ok(step) && c.off % 4 === 1 ? m.items.at(-1)?.pin : undefined;
      const a = pinned && m.areas.find((x) => x.alive && x.name === pinned.area);
      return a && a.length > PAGE ? ioctlStep(env, 'IOMMU_IOAS_UNMAP', new Ref(a.ctx), { ioas_id: new Ref(a.ioas), iova: new Ref(a.name, '', PAGE), length: a.length - PAGE }, NONE) : undefined;
    },
  });
  // A second pin of exactly the pages an item holds, by its access or another pinning access of the
  // same IOAS; now and then the area is unmapped right after. The area counts every pin
  // (iopt_area_add_access's exact-range fast path shares one iopt_pages_access between them): both
  // must be counted out when they go, by a DESTROY or by the unmap's notification, or the area can
  // never be unmapped again.
  if (testOpSupported(env, 'IOMMU_TEST_OP_ACCESS_PAGES')) {
    /** The area the new item of a successful pin pins. */
    const pinnedArea = (m: GenModel, t: StepTemplate, step: TraceStep): AreaEntry | undefined => {
      const item = ok(step) ? m.items.find((i) => i.name === Object.keys(t.bind ?? {})[0]) : undefined;
      return m.areas.find((a) => a.name === item?.pin?.area);
    };
    const repinned = (m: GenModel): ItemEntry[] => m.items.filter((i) => i.alive && i.pin && m.areas.some((a) => a.alive && a.name === i.pin?.area));
    add({
      kind: 'IOMMU_TEST_CMD/IOMMU_TEST_OP_ACCESS_PAGES/again',
      weight: 1,
      arb: fc.record({ item: k16, acc: k16, unmap: fc.boolean() }),
      ready: (m) => repinned(m).length > 0,
      build: (m, c) => {
        const it = pick(repinned(m), c.item) as ItemEntry;
        const pin = it.pin as NonNullable<ItemEntry['pin']>;
        const own = m.accs.find((a) => a.name === it.acc) as AccEntry;
        const acc = pick(m.accs.filter((a) => a.open && a.pin && a.ctx === own.ctx && a.ioas === own.ioas), c.acc) ?? own;
        const ctx = m.ctxs.find((x) => x.name === acc.ctx) as CtxEntry;
        return testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_PAGES', new Ref(acc.name), 'access_pages', { flags: pin.flags, iova: pin.iova, length: pin.length, uptr: pin.uptr }, NONE, { [m.fresh('item')]: 'out.access_pages.out_access_pages_id' });
      },
      after: (m, c, t, step) => {
        notePin(m, t, step);
        // The unmap that follows takes the area (the model's pools only steer choices: one it
        // did not take is merely not picked again).
        const area = c.unmap ? pinnedArea(m, t, step) : undefined;
        if (area) area.alive = false;
      },
      follow: (m, c, t, step) => {
        const area = c.unmap ? pinnedArea(m, t, step) : undefined;
        return area && unmapAreaStep(env, area);
      },
    } satisfies CommandSpec<{ item: number; acc: number; unmap: boolean }>);
  }
  // The selftest ops whose answer names what they made, with a read-only struct (ADAPTER.md §3.3):
  // the copy-back faults after the work is done, and the op must undo it (TestOpDef.answerFault):
  // CREATE_ACCESS destroys the access (out_destroy), MOCK_DOMAIN detaches, unbinds and destroys
  // its mock device (out_detach), ACCESS_PAGES unpins (out_free_item). Drawn on its own: the ops
  // above are mostly made by constructors, which never draw an ABI defect.
  if (env.caps.readOnlyArgs?.supported === true) {
    type AnswerFault = { op: 'create' | 'mock' | 'pin'; k: number; area: number; off: number; pages: number };
    const ops = (['create', 'mock', 'pin'] as const).filter((o) => testOpSupported(env, o === 'create' ? 'IOMMU_TEST_OP_CREATE_ACCESS' : o === 'mock' ? 'IOMMU_TEST_OP_MOCK_DOMAIN' : 'IOMMU_TEST_OP_ACCESS_PAGES'));
    if (ops.length > 0) {
      const readOnly: AbiChoice = { kind: 'readOnly' };
      add({
        kind: 'IOMMU_TEST_CMD/answer-fault',
        weight: 1,
        arb: fc.record({ op: fc.constantFrom(...ops), k: k16, area: k16, off: fc.nat(15), pages: fc.integer({ min: 1, max: 4 }) }),
        needs: ['area'], ready: () => true,
        build: (m, c) => {
          if (c.op === 'pin') {
            const t = accessTarget(m, c.k, c.area, c.off, c.pages, true);
            const ctx = t && m.ctxs.find((x) => x.name === t.acc.ctx && x.open);
            return t?.area && ctx ? testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_PAGES', new Ref(t.acc.name), 'access_pages', { flags: 0, iova: t.iova, length: t.length, uptr: t.uptr }, readOnly, { [m.fresh('item')]: 'out.access_pages.out_access_pages_id' }) : undefined;
          }
          // An IOAS that maps something: what a leaked object holds (its pins, through a domain or
          // not; the IOAS itself) shows.
          const a = pick(m.liveAreas().filter((x) => m.ctxs.find((y) => y.name === x.ctx)?.open), c.area);
          const ctx = a && m.ctxs.find((y) => y.name === a.ctx);
          if (!a || !ctx) return undefined;
          return c.op === 'create'
            ? testStep(m, ctx, 'IOMMU_TEST_OP_CREATE_ACCESS', new Ref(a.ioas), 'create_access', { flags: c.k % 2 ? MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES : 0 }, readOnly, { [m.fresh('afd')]: 'out.create_access.out_access_fd' })
            : testStep(m, ctx, 'IOMMU_TEST_OP_MOCK_DOMAIN', new Ref(a.ioas), 'mock_domain', {}, readOnly, { [m.fresh('stdev')]: 'out.mock_domain.out_stdev_id' });
        },
      } satisfies CommandSpec<AnswerFault>);
    }
  }
  test('IOMMU_TEST_OP_DESTROY_ACCESS_PAGES', {
    // As often as pins are taken: a held item must go when asked, and only then.
    weight: 3,
    arb: fc.record({ item: k16, abi: env.abiFor('IOMMU_TEST_CMD') }),
    ready: (m) => m.items.length > 0,
    build: (m, c) => {
      // Mostly an item its access still holds (the call must succeed), now and then one already gone (ENOENT).
      const it = (c.item % 4 !== 3 ? pick(m.items.filter((i) => i.alive), c.item) : undefined) ?? (pick(m.items, c.item) as { name: string; acc: string });
      const acc = m.accs.find((a) => a.name === it.acc) as { name: string; ctx: string };
      const ctx = m.ctxs.find((x) => x.name === acc.ctx) as CtxEntry;
      return testStep(m, ctx, 'IOMMU_TEST_OP_DESTROY_ACCESS_PAGES', new Ref(acc.name), 'destroy_access_pages', { access_pages_id: new Ref(it.name) }, c.abi);
    },
    after: (m, _c, t, step) => {
      const id = (t.fields['arg'] as { fields: { destroy_access_pages?: { access_pages_id?: Tmpl } } }).fields.destroy_access_pages?.access_pages_id;
      const it = ok(step) && id instanceof Ref ? m.items.find((i) => i.name === id.name) : undefined;
      if (it) it.alive = false;
    },
  });
  test('IOMMU_TEST_OP_ACCESS_RW', {
    weight: 2,
    // Now and then a copy of several pages (up to the area's end): the slow path pins and unpins
    // page by page; and now and then one that starts inside a page and runs into the next (the
    // page it ends in is found from where it starts plus its length, not from its length alone).
    arb: fc.record({ acc: k16, area: k16, off: fc.nat(15), len: fc.constantFrom(1, 8, 64, 4096, 3 * 4096, 3 * 4096), at: fc.constantFrom(0, 0, 0, 8, 4092), write: fc.boolean(), slow: fc.boolean(), buf: k16, abi: env.abiFor('IOMMU_TEST_CMD') }),
    needs: ['acc', 'area', 'buf'], ready: () => true,
    build: (m, c) => {
      const t = accessTarget(m, c.acc, c.area, c.off, Math.ceil(c.len / PAGE_BYTES) + (c.at > 0 ? 1 : 0), false, 0, c.write);
      if (!t) return undefined;
      // A shifted copy of several pages leaves the page accessTarget found past them for its tail.
      const length = c.len <= PAGE_BYTES ? BigInt(c.len) : c.at > 0 && t.length > PAGE ? t.length - PAGE : t.length;
      // Shifted only where the copy still ends inside what accessTarget found.
      const at = t.iova instanceof Ref && BigInt(c.at) + length <= t.length ? BigInt(c.at) : 0n;
      const iova = at > 0n && t.iova instanceof Ref ? new Ref(t.iova.name, t.iova.path, t.iova.add + at) : t.iova;
      // Mostly a buffer other than the area's, or bytes of it clear of the ones accessed: a copy
      // between overlapping bytes cannot be judged.
      const own = t.uptr instanceof Ref ? t.uptr : undefined;
      const b = (c.buf % 4 !== 0 ? pick(m.bufs.filter((x) => x.name !== own?.name), c.buf) : undefined) ?? pick(m.bufs, c.buf);
      if (!b) return undefined;
      const ctx = m.ctxs.find((x) => x.name === t.acc.ctx) as CtxEntry;
      return testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_RW', new Ref(t.acc.name), 'access_rw', { iova, length, uptr: new Ref(b.name, 'va', userOffset(b.length, own?.name === b.name ? own.add + at : undefined, length)), flags: (c.write ? 1 : 0) | (c.slow ? 4 : 0) }, c.abi);
    },
  });
  // A writable area copied without WRITEABLE into an access's IOAS, then written through by the
  // access: the new area's protection is narrower than its pages' (they were pinned for writing
  // for the source), and it is the area's that rules (check_area_prot: EPERM).
  if (testOpSupported(env, 'IOMMU_TEST_OP_ACCESS_RW') && supported(env.caps, 'IOMMU_IOAS_COPY')) {
    const MAP_READ = mapFlags(p).read;
    const sources = (m: GenModel, acc: AccEntry): AreaEntry[] => m.liveAreas(acc.ctx).filter((a) => a.write && a.buf !== undefined && a.iova % PAGE === 0n && a.length % PAGE === 0n);
    add({
      kind: 'IOMMU_IOAS_COPY/read-only-for-access',
      weight: 1,
      arb: fc.record({ acc: k16, src: k16, buf: k16 }),
      needs: ['acc', 'area', 'buf'], ready: () => true,
      build: (m, c) => {
        const acc = pick(m.accs.filter((a) => a.open && sources(m, a).length > 0), c.acc);
        const a = acc && pick(sources(m, acc), c.src);
        if (!acc || !a) return undefined;
        const length = a.length < 4n * PAGE ? a.length : 4n * PAGE;
        return ioctlStep(env, 'IOMMU_IOAS_COPY', new Ref(acc.ctx), { flags: MAP_READ, dst_ioas_id: new Ref(acc.ioas), src_ioas_id: new Ref(a.ioas), length, dst_iova: 0n, src_iova: new Ref(a.name) }, NONE, { bind: { [m.fresh('area')]: 'out.dst_iova' } });
      },
      follow: (m, c, t, step) => {
        const acc = pick(m.accs.filter((a) => a.open && sources(m, a).length > 0), c.acc);
        const b = pick(m.bufs.filter((x) => !x.readonly), c.buf);
        const ctx = acc && m.ctxs.find((x) => x.name === acc.ctx);
        if (!ok(step) || !acc || !b || !ctx) return undefined;
        return testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_RW', new Ref(acc.name), 'access_rw', { iova: new Ref(Object.keys(t.bind ?? {})[0] as string), length: 8n, uptr: new Ref(b.name, 'va'), flags: MOCK_ACCESS_RW_WRITE }, NONE);
      },
    } satisfies CommandSpec<{ acc: number; src: number; buf: number }>);
  }
  // An access copy across the boundary of two touching areas of the access's IOAS: each part
  // must come from (or go to) its own area's pages.
  if (testOpSupported(env, 'IOMMU_TEST_OP_ACCESS_RW')) {
    add({
      kind: 'IOMMU_TEST_CMD/IOMMU_TEST_OP_ACCESS_RW/straddle',
      weight: 1,
      arb: fc.record({ k: k16, before: fc.constantFrom(8, 4096), after: fc.constantFrom(8, 4096), write: fc.boolean(), buf: k16 }),
      needs: ['acc', 'areaPair', 'buf'],
      ready: () => true,
      build: (m, c) => {
        const pair = pick(areaPairs(m).filter(([lo, hi]) => lo.iova + lo.length === hi.iova && m.accs.some((a) => a.open && a.ctx === lo.ctx && a.ioas === lo.ioas)), c.k);
        const b = pick(m.bufs, c.buf);
        if (!pair || !b) return undefined;
        const [lo] = pair;
        const acc = m.accs.find((a) => a.open && a.ctx === lo.ctx && a.ioas === lo.ioas) as { name: string; ctx: string };
        const ctx = m.ctxs.find((x) => x.name === acc.ctx) as CtxEntry;
        const length = BigInt(c.before + c.after);
        const uptr = new Ref(b.name, 'va', BigInt(b.length) > length + 4096n ? 4096n : 0n);
        return testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_RW', new Ref(acc.name), 'access_rw', { iova: lo.iova + lo.length - BigInt(c.before), length, uptr, flags: c.write ? 1 : 0 }, NONE);
      },
    } satisfies CommandSpec<{ k: number; before: number; after: number; write: boolean; buf: number }>);
  }
  if (testOpSupported(env, 'IOMMU_TEST_OP_ACCESS_RW') && opSupported(env.caps, 'mem_protect')) {
    // A page of a writable area made read-only (mprotect) after it was mapped, then an access
    // write into it: the fast path's copy_to_user and the slow path's FOLL_WRITE pin must fail
    // there (EFAULT), except where the slow path reads frames already pinned for writing. One
    // page, or a write running into the page after it.
    type Protected = { k: number; page: number; prot: 'r' | 'none'; slow: boolean; span: boolean; buf: number };
    const targets = (m: GenModel): { acc: AccEntry; area: AreaEntry }[] =>
      m.accs.flatMap((acc) => (acc.open ? m.liveAreas(acc.ctx, acc.ioas).filter((a) => a.write && a.buf !== undefined && a.bufOff % 4096 === 0).map((area) => ({ acc, area })) : []));
    add({
      kind: 'mem_protect/accessed',
      weight: 1,
      arb: fc.record({ k: k16, page: fc.nat(15), prot: fc.constantFrom<'r' | 'none'>('r', 'r', 'none'), slow: fc.boolean(), span: fc.boolean(), buf: k16 }),
      needs: ['acc', 'area', 'buf'], ready: () => true,
      build: (m, c) => {
        const t = pick(targets(m), c.k);
        if (!t?.area.buf) return undefined;
        const page = c.page % Math.max(1, Number(t.area.length / PAGE));
        return { op: 'mem_protect', fields: { buffer: new Ref(t.area.buf, 'buffer'), offset: t.area.bufOff + page * 4096, length: 4096, prot: c.prot } };
      },
      follow: (m, c, t, step) => {
        const f = t.fields as { buffer: Ref; offset: number };
        const e = ok(step) ? targets(m).find((x) => x.area.buf === f.buffer.name && f.offset >= x.area.bufOff && BigInt(f.offset - x.area.bufOff) < x.area.length) : undefined;
        const ctx = e && m.ctxs.find((x) => x.name === e.acc.ctx && x.open);
        const b = pick(m.bufs.filter((x) => x.name !== f.buffer.name), c.buf);
        if (!e || !ctx || !b) return undefined;
        const at = BigInt(f.offset - e.area.bufOff);
        // Eight bytes in the page, or the last four of it and the first four of the next (when the area has one).
        const spans = c.span && at + 2n * PAGE <= e.area.length;
        const iova = new Ref(e.area.name, undefined, at + (spans ? PAGE - 4n : 8n));
        return testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_RW', new Ref(e.acc.name), 'access_rw', { iova, length: 8n, uptr: new Ref(b.name, 'va'), flags: 1 | (c.slow ? 4 : 0) }, NONE);
      },
    } satisfies CommandSpec<Protected>);
  }
  /**
   * The access a replace moves: half the time one holding pinned pages, which the change must
   * have its driver unpin (iommufd_access_change_ioas: ops->unmap, then unpins through ioas_unpin).
   */
  const replacedAcc = (m: GenModel, k: number): AccEntry | undefined =>
    (k % 2 === 0 ? pick(m.accs.filter((a) => a.open && m.items.some((i) => i.alive && i.acc === a.name)), k >> 1) : undefined) ?? pick(m.accs, k);
  /** The IOAS an ACCESS_REPLACE_IOAS step moves its access away from (read before `after` moves it). */
  const replaceLeaves = new WeakMap<StepTemplate, string>();
  test('IOMMU_TEST_OP_ACCESS_REPLACE_IOAS', {
    weight: 1,
    arb: fc.record({ acc: k16, ioas: idChoice, abi: env.abiFor('IOMMU_TEST_CMD') }),
    needs: ['acc'], ready: () => true,
    build: (m, c) => {
      const acc = replacedAcc(m, c.acc); // none when the access constructor was refused
      const ctx = acc && m.ctxs.find((x) => x.name === acc.ctx);
      if (!acc || !ctx) return undefined;
      const t = testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS', new Ref(acc.name), 'access_replace_ioas', { ioas_id: idOf(c.ioas, m, ctx.name, ['ioas']).id }, c.abi);
      if (t) replaceLeaves.set(t, acc.ioas);
      return t;
    },
    after: (m, c, t, step) => {
      if (!ok(step)) return;
      const id = ((t.fields['arg'] as { fields: { access_replace_ioas: { ioas_id: Tmpl } } }).fields.access_replace_ioas.ioas_id);
      const acc = replacedAcc(m, c.acc);
      if (acc && id instanceof Ref) acc.ioas = id.name;
    },
    // The IOAS it left, once nothing else holds it, is destroyed: a replace that kept its
    // reference on the old IOAS shows only there (EBUSY with no holder).
    follow: (m, c, t, step) => {
      const left = replaceLeaves.get(t);
      const acc = replacedAcc(m, c.acc);
      const ioas = left !== undefined && ok(step) && acc && acc.ioas !== left ? m.objs.find((o) => o.name === left && o.kind === 'ioas' && o.alive) : undefined;
      if (!ioas || left === undefined || ioasHeld(m, left)) return undefined;
      ioas.alive = false;
      for (const a of m.areas) if (a.ioas === left) a.alive = false;
      return ioctlStep(env, 'IOMMU_DESTROY', new Ref(ioas.ctx), { id: new Ref(left) }, NONE, {});
    },
  });
  if (testOpSupported(env, 'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS') && testOpSupported(env, 'IOMMU_TEST_OP_ACCESS_PAGES')) {
    // An access that holds pinned pages moved to another IOAS: its driver is told to unpin
    // everything first (iommufd_access_change_ioas: ops->unmap over the whole range, while new
    // pins are blocked), and every page and charge it held in the old IOAS must go back.
    add({
      kind: 'IOMMU_TEST_CMD/IOMMU_TEST_OP_ACCESS_REPLACE_IOAS/holding',
      weight: 1,
      arb: k16,
      needs: ['accSiblings'], ready: () => true,
      build: (m, k) => {
        const acc = pick(m.accs.filter((a) => a.open && m.items.some((i) => i.alive && i.acc === a.name)), k);
        const ctx = acc && m.ctxs.find((x) => x.name === acc.ctx && x.open);
        const to = acc && pick(m.live('ioas', acc.ctx).filter((o) => o.name !== acc.ioas), k);
        return acc && ctx && to ? testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS', new Ref(acc.name), 'access_replace_ioas', { ioas_id: new Ref(to.name) }, NONE) : undefined;
      },
      after: (m, _k, t, step) => {
        const f = (t.fields['arg'] as { fields: { id: Ref; access_replace_ioas: { ioas_id: Ref } } }).fields;
        const acc = ok(step) ? m.accs.find((a) => a.name === f.id.name) : undefined;
        if (!acc) return;
        acc.ioas = f.access_replace_ioas.ioas_id.name;
        for (const i of m.items) if (i.acc === acc.name) i.alive = false;
      },
    } satisfies CommandSpec<number>);

    // A pinning access created on an IOAS whose area sits at a byte offset into a page: refused
    // (EADDRINUSE). Then that area is unmapped, and an access comes and goes there (each
    // recomputes the alignment from the IOAS's holders): the refused one must have left nothing,
    // so the alignment IOVA_RANGES reports after is the remaining holders' (1: none).
    add({
      kind: 'IOMMU_TEST_CMD/IOMMU_TEST_OP_CREATE_ACCESS/unaligned',
      weight: 1,
      arb: k16,
      needs: ['unalignedIoas'], ready: () => true,
      build: (m, k) => {
        const t = pick(unalignedTargets(m), k);
        const ctx = t && m.ctxs.find((x) => x.name === t.acc.ctx && x.open);
        return t && ctx && testStep(m, ctx, 'IOMMU_TEST_OP_CREATE_ACCESS', new Ref(t.to), 'create_access', { flags: MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES }, NONE, { [m.fresh('afd')]: 'out.create_access.out_access_fd' });
      },
      follow: (m, k, _t, step) => {
        const t = step.status === 'failed' ? pick(unalignedTargets(m), k) : undefined;
        const ctx = t && m.ctxs.find((x) => x.name === t.acc.ctx && x.open);
        const area = t && m.liveAreas(t.acc.ctx, t.to).find((a) => a.iova % PAGE !== 0n);
        if (!t || !ctx || !area || m.liveAreas(t.acc.ctx, t.to).length > 1 || m.accs.some((a) => a.open && a.ioas === t.to)) return undefined;
        const unmap = unmapAreaStep(env, area);
        area.alive = false;
        const afd = m.fresh('afd');
        const create = testStep(m, ctx, 'IOMMU_TEST_OP_CREATE_ACCESS', new Ref(t.to), 'create_access', { flags: 0 }, NONE, { [afd]: 'out.create_access.out_access_fd' });
        const ranges = supported(env.caps, 'IOMMU_IOAS_IOVA_RANGES') ? rangesOf(env, ctx.name, t.to) : undefined;
        return [unmap, create, { op: 'close', fields: { fd: new Ref(afd) } }, ranges].filter((x): x is StepTemplate => x !== undefined);
      },
    } satisfies CommandSpec<number>);
    // A pinning access moved to an IOAS whose area sits at a byte offset into a page: refused
    // (EADDRINUSE), and the access stays on its IOAS — a pin of a page that IOAS maps, right after,
    // must work (an unwind that dropped the access's IOAS answers ENOENT).
    add({
      kind: 'IOMMU_TEST_CMD/IOMMU_TEST_OP_ACCESS_REPLACE_IOAS/unaligned',
      weight: 1,
      arb: k16,
      needs: ['unalignedIoas'], ready: () => true,
      build: (m, k) => {
        const t = pick(unalignedTargets(m), k);
        const ctx = t && m.ctxs.find((x) => x.name === t.acc.ctx);
        return t && ctx && testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS', new Ref(t.acc.name), 'access_replace_ioas', { ioas_id: new Ref(t.to) }, NONE);
      },
      after: (m, k, _t, step) => {
        const t = ok(step) ? pick(unalignedTargets(m), k) : undefined;
        if (t) t.acc.ioas = t.to;
      },
      follow: (m, k, _t, step) => {
        const t = step.status === 'failed' ? pick(unalignedTargets(m), k) : undefined;
        const ctx = t && m.ctxs.find((x) => x.name === t.acc.ctx);
        if (!t?.area.buf || !ctx) return undefined;
        return testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_PAGES', new Ref(t.acc.name), 'access_pages', { flags: 0, iova: new Ref(t.area.name), length: PAGE, uptr: new Ref(t.area.buf, 'va', BigInt(t.area.bufOff)) }, NONE);
      },
    } satisfies CommandSpec<number>);
  }
  if (testOpSupported(env, 'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS') && supported(env.caps, 'IOMMU_IOAS_UNMAP')) {
    // One of two accesses of an IOAS moves to another while the other holds pages; then the
    // first IOAS is unmapped: the access left behind must still be told to let go
    // (iommufd_access_notify_unmap walks the IOAS's access list).
    const sibling = (m: GenModel, k: number): { a1: AccEntry; a2: AccEntry; to: string } | undefined => {
      const pairs = m.accs.flatMap((a1) => {
        if (!a1.open || !m.items.some((i) => i.alive && i.acc === a1.name)) return [];
        const a2 = m.accs.find((x) => x !== a1 && x.open && x.ctx === a1.ctx && x.ioas === a1.ioas);
        const to = m.live('ioas', a1.ctx).find((o) => o.name !== a1.ioas);
        return a2 && to ? [{ a1, a2, to: to.name }] : [];
      });
      return pick(pairs, k);
    };
    /** The access a step of this kind moves (its id). */
    const moved = (m: GenModel, t: StepTemplate): AccEntry | undefined => {
      const id = (t.fields['arg'] as { fields: { id: Tmpl } }).fields.id;
      return id instanceof Ref ? m.accs.find((a) => a.name === id.name) : undefined;
    };
    add({
      kind: 'IOMMU_TEST_CMD/IOMMU_TEST_OP_ACCESS_REPLACE_IOAS/sibling',
      weight: 1,
      arb: k16,
      needs: ['accSiblings'], ready: () => true,
      build: (m, k) => {
        const p = sibling(m, k);
        const ctx = p && m.ctxs.find((x) => x.name === p.a1.ctx);
        if (!p || !ctx) return undefined;
        return testStep(m, ctx, 'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS', new Ref(p.a2.name), 'access_replace_ioas', { ioas_id: new Ref(p.to) }, NONE);
      },
      after: (m, _k, t, step) => {
        const a2 = moved(m, t);
        const to = (t.fields['arg'] as { fields: { access_replace_ioas: { ioas_id: Tmpl } } }).fields.access_replace_ioas.ioas_id;
        if (ok(step) && a2 && to instanceof Ref) a2.ioas = to.name;
      },
      follow: (m, _k, t, step) => {
        const a2 = moved(m, t);
        const a1 = ok(step) && a2 ? m.accs.find((a) => a !== a2 && a.open && a.ctx === a2.ctx && a.ioas !== a2.ioas && m.items.some((i) => i.alive && i.acc === a.name)) : undefined;
        if (!a1) return undefined;
        return ioctlStep(env, 'IOMMU_IOAS_UNMAP', new Ref(a1.ctx), { ioas_id: new Ref(a1.ioas), iova: 0n, length: U64_MAX }, NONE, {});
      },
    } satisfies CommandSpec<number>);
  }
  test('IOMMU_TEST_OP_MD_CHECK_MAP', {
    weight: 1,
    arb: fc.record({ ctx: ctxK, hwpt: k16, area: k16, off: fc.nat(15), pages: fc.integer({ min: 1, max: 4 }), abi: env.abiFor('IOMMU_TEST_CMD') }),
    needs: ['hwpt', 'area'], ready: () => true,
    build: (m, c) => {
      const ctx = ctxOf(m, c.ctx) as CtxEntry;
      const h = pick(m.live('hwpt', ctx.name), c.hwpt) ?? pick(m.live('hwpt'), c.hwpt);
      if (!h) return undefined;
      const a = pick(m.liveAreas(h.ctx, h.ioas), c.area) ?? pick(m.liveAreas(h.ctx), c.area);
      if (!a || !a.buf) return undefined;
      const total = a.length / PAGE;
      const first = total > 0n ? BigInt(c.off) % total : 0n;
      const n = BigInt(c.pages) <= total - first ? BigInt(c.pages) : total - first || 1n;
      const hctx = m.ctxs.find((x) => x.name === h.ctx) as CtxEntry;
      return testStep(m, hctx, 'IOMMU_TEST_OP_MD_CHECK_MAP', new Ref(h.name), 'check_map', { iova: new Ref(a.name, '', first * PAGE), length: n * PAGE, uptr: new Ref(a.buf, 'va', BigInt(a.bufOff) + first * PAGE) }, c.abi);
    },
  });
  test('IOMMU_TEST_OP_MD_CHECK_REFS', {
    weight: 1,
    arb: fc.record({ ctx: ctxK, buf: k16, page: fc.nat(15), pages: fc.integer({ min: 1, max: 4 }), refs: fc.constantFrom(0, 1, 1, 2), abi: env.abiFor('IOMMU_TEST_CMD') }),
    needs: ['buf', 'ctx'], ready: () => true,
    build: (m, c) => {
      const ctx = ctxOf(m, c.ctx) as CtxEntry;
      const b = pick(m.bufs, c.buf) as { name: string; length: number };
      const total = Math.max(1, Math.floor(b.length / 4096));
      const first = c.page % total;
      const n = Math.min(c.pages, total - first);
      return testStep(m, ctx, 'IOMMU_TEST_OP_MD_CHECK_REFS', 0, 'check_refs', { length: BigInt(n * 4096), uptr: new Ref(b.name, 'va', BigInt(first * 4096)), refs: c.refs }, c.abi);
    },
  });
  return specs;
}

// ---------------------------------------------------------------- everything else the report lists

/** Commands the capability report supports that no specific generator covers: fields from the struct's layout, ids from the pools. */
function genericSpecs(env: GenEnv, covered: ReadonlySet<string>): CommandSpec<never>[] {
  const specs: CommandSpec<never>[] = [];
  const add = <C,>(spec: CommandSpec<C>): void => {
    specs.push(spec as unknown as CommandSpec<never>);
  };
  for (const cmd of commandsFor(env.profile)) {
    if (covered.has(cmd.name) || !supported(env.caps, cmd.name) || !cmd.struct || cmd.testOnly) continue;
    if (cmd.fd !== 'iommufd') continue;
    const struct = cmd.struct;
    add({
      kind: cmd.name,
      weight: 1,
      arb: fc.record({ ctx: ctxK, values: arbStruct(env.profile, struct), ids: fc.array(idChoice, { minLength: 4, maxLength: 4 }), abi: env.abiFor(cmd.name) }),
      needs: ['ctx'], ready: () => true,
      build: (m, c) => {
        const ctx = ctxOf(m, c.ctx) as CtxEntry;
        const layout = requireLayout(env.profile, struct);
        const fields: { [k: string]: Tmpl } = {};
        let i = 0;
        for (const f of layout.root.fields) {
          const role = f.def?.role;
          if (role === 'size' || role === 'argsz') continue;
          if (role === 'reserved') continue;
          if (role === 'flags') {
            fields[f.name] = 0;
            continue;
          }
          if (/_id$/.test(f.name) && f.kind === 'scalar') {
            const kind: ObjKind = /ioas/.test(f.name) ? 'ioas' : /dev/.test(f.name) ? 'devid' : 'hwpt';
            fields[f.name] = idOf(c.ids[i++ % 4] as IdChoice, m, ctx.name, [kind]).id;
            continue;
          }
          if (f.kind === 'scalar' && f.scalar === 'ptr') {
            const dir = f.def?.pointee?.dir;
            fields[f.name] = dir === 'in' ? { data: new Uint8Array(16) } : { room: 64 };
            continue;
          }
          const val = c.values[f.name];
          if (val !== undefined) fields[f.name] = val as Tmpl;
        }
        return ioctlStep(env, cmd.name, new Ref(ctx.name), fields, c.abi);
      },
    } satisfies CommandSpec<{ ctx: number; values: { [k: string]: unknown }; ids: IdChoice[]; abi: AbiChoice }>);
  }
  return specs;
}

// ---------------------------------------------------------------- assembly

export interface GenerationOptions {
  /** Probability that a struct argument gets an ABI defect. Default 0.08. */
  readonly abiRate?: number;
  /** The session is not fresh between cases (a shared process without `reset`): no set_process,
   * whose changes would outlive the case while the oracles' reference starts from the defaults. */
  readonly sharedSession?: boolean;
  readonly maxCommands: number;
  /** Swarm testing: each case enables a random subset of command kinds. Default true. */
  readonly swarm?: boolean;
  /** fast-check's replayPath for the commands (with seed and path). */
  readonly replayPath?: string;
}

/** Command kinds every case keeps (without them nothing else can happen). */
const ESSENTIAL = new Set(['open', 'mem_alloc', 'IOMMU_IOAS_ALLOC', 'IOMMU_IOAS_MAP']);

const NONE: AbiChoice = { kind: 'none' };

/** The constructors of each need: the same specs, run with plain default choices. */
export function makeEnsure(profile: Profile, specs: readonly CommandSpec<never>[]): Ensure {
  const byKind = new Map<string, CommandSpec<unknown>>(specs.map((x) => [x.kind, x as unknown as CommandSpec<unknown>]));
  const R = enumValue(profile, 'IOMMU_IOAS_MAP_READABLE') ?? 4;
  const RW = R | (enumValue(profile, 'IOMMU_IOAS_MAP_WRITEABLE') ?? 2);
  const OPTION_SET = enumValue(profile, 'IOMMU_OPTION_OP_SET');
  const run = async (m: GenModel, s: CaseSession, kind: string, choice: unknown): Promise<void> => {
    const spec = byKind.get(kind);
    if (spec) await runSpec(spec, m, s, choice);
  };
  const openIdx = (m: GenModel, ctx: string | undefined): number => Math.max(0, m.openCtxs().findIndex((c) => c.name === ctx));
  const createDevice = async (m: GenModel, s: CaseSession, c: DeviceCreate): Promise<DevEntry | undefined> => {
    const before = m.devs.length;
    await run(m, s, 'device_create', c);
    return m.devs.length > before ? m.devs[m.devs.length - 1] : undefined;
  };
  const openDfd = async (m: GenModel, s: CaseSession, dev: DevEntry): Promise<DfdEntry | undefined> => {
    const have = m.dfds.find((d) => d.open && d.dev === dev);
    if (have) return have;
    const k = m.devs.filter((x) => x.alive).indexOf(dev);
    if (k < 0) return undefined;
    await run(m, s, 'open_device', { k });
    return m.dfds.find((d) => d.open && d.dev === dev);
  };
  /** The first 4 pages of the first buffer, read-write, at an IOVA of the implementation's choice in the named IOAS. */
  const mapFourPages = async (m: GenModel, s: CaseSession, ctx: string, ioas: string): Promise<void> => {
    const k = m.live('ioas', ctx).findIndex((o) => o.name === ioas);
    await run(m, s, 'IOMMU_IOAS_MAP', { ctx: openIdx(m, ctx), ioas: { kind: 'live', k: Math.max(k, 0) }, prot: RW, fixed: false, va: { kind: 'buf', k: 0, pageOff: 0, byte: 0 }, len: { kind: 'pages', n: 4 }, iova: { kind: 'page', n: 0 }, abi: NONE });
  };
  /** Attach a bound device file to the first IOAS of its context unless it is attached. */
  const attachIn = async (m: GenModel, s: CaseSession, d: DfdEntry): Promise<boolean> => {
    const alive = (): boolean => !!d.attached && !!m.objs.find((h) => h.name === d.attached)?.alive;
    if (alive()) return true;
    if (!d.ctx || m.live('ioas', d.ctx).length === 0) return false;
    await run(m, s, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', { dfd: 0, pt: { kind: 'live', k: 0 }, hwpt: false, abi: NONE, at: d.name } satisfies Attach);
    return alive();
  };
  /** A bound device attached to a HWPT allocated for it on its context's first IOAS. */
  const attachToOwnHwpt = async (m: GenModel, s: CaseSession, d: DfdEntry, ctx: string, ioas = 0): Promise<void> => {
    const k = m.live('devid', ctx).findIndex((o) => o.name === d.devid);
    if (k < 0 || !byKind.has('IOMMU_HWPT_ALLOC') || m.live('ioas', ctx).length <= ioas) return;
    const before = m.live('hwpt', ctx).length;
    await run(m, s, 'IOMMU_HWPT_ALLOC', { ctx: openIdx(m, ctx), dev: { kind: 'live', k }, pt: { kind: 'live', k: ioas }, ptHwpt: false, flags: 0, data: 'none', abi: NONE });
    const hwpts = m.live('hwpt', ctx);
    if (hwpts.length > before) await run(m, s, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', { dfd: 0, pt: { kind: 'live', k: hwpts.length - 1 }, hwpt: true, abi: NONE, at: d.name } satisfies Attach);
  };
  /**
   * Two devices of one iommu group, each with an open device file, the first
   * bound: made from scratch (two devices, the second joining the first's group
   * before anything owns it) on the first unit whose groups can hold more than
   * one device, when the case has none. Returns [bound, other].
   */
  const groupPair = async (m: GenModel, s: CaseSession): Promise<[DfdEntry, DfdEntry] | undefined> => {
    await ensure(m, s, 'ioas');
    if (!byKind.has('device_create') || !byKind.has('open_device') || !byKind.has('VFIO_DEVICE_BIND_IOMMUFD')) return undefined;
    if (!m.caps.deviceFeatures.multiDeviceGroups?.supported) return undefined;
    const pairOf = (): [DevEntry, DevEntry] | undefined => {
      for (const a of m.devs) {
        const b = a.alive && m.devs.find((x) => x !== a && x.alive && x.group === a.group);
        if (b) return [a, b];
      }
      return undefined;
    };
    let pair = pairOf();
    // From the case's own unit on (CaseSetting.unit): groups behind every driver, not the first's.
    const n = m.caps.iommus.length;
    for (const unit of m.caps.iommus.map((_, k) => (k + m.setting.unit) % n)) {
      if (pair || m.devs.length >= 4) break;
      // The selftest's mock bus puts each device in a group of its own.
      if (m.caps.iommus[unit]?.format.includes('mock')) continue;
      const a = await createDevice(m, s, { iommu: unit, join: -1, peer: -1, ecc: 'default', noSnoop: false });
      // Every other pair, the second has a reserved region of its own: the group's other
      // member leaving must not take it out of the IOAS.
      if (a) await createDevice(m, s, { iommu: unit, join: m.devs.indexOf(a), peer: -1, ecc: 'default', noSnoop: false, resv: m.devs.length % 2 === 0 });
      pair = pairOf();
    }
    if (!pair) return undefined;
    const da = await openDfd(m, s, pair[0]);
    const db = await openDfd(m, s, pair[1]);
    if (!da || !db) return undefined;
    const [x, y] = db.ctx && !da.ctx ? [db, da] : [da, db];
    if (!x.ctx) {
      const ctx = m.openCtxs().find((c) => m.live('ioas', c.name).length > 0) ?? m.openCtxs()[0];
      if (ctx) await run(m, s, 'VFIO_DEVICE_BIND_IOMMUFD', { dfd: m.openDfds().indexOf(x), ctx: 0, badFd: false, abi: NONE, to: ctx.name } satisfies Bind);
    }
    return [x, y];
  };
  // One small function per need (a switch in one async function gave every call the frame of all of them).
  const ensurers: { readonly [N in Need]: (m: GenModel, s: CaseSession) => Promise<void> } = {
    setting: async (m, s) => {
      const st = m.setting;
      if (st.unprivileged && !m.settled.process) {
        m.settled.process = true;
        // An unprivileged VMM holds neither CAP_IPC_LOCK nor CAP_SYS_RESOURCE — unless the case puts its
        // contexts in MM accounting, which takes CAP_SYS_RESOURCE (iommufd_option_rlimit_mode).
        await run(m, s, 'set_process', { capIpcLock: false, ...(!st.mmAccounting && { capSysResource: false }), ...(st.rlimit !== undefined && { rlimit: st.rlimit }) });
      }
      if (!st.mmAccounting) return;
      for (const ctx of freshCtxs(m)) {
        if (m.settled.ctxs.has(ctx.name)) continue;
        m.settled.ctxs.add(ctx.name);
        await run(m, s, 'IOMMU_OPTION/rlimit-mode', { ctx: freshCtxs(m).indexOf(ctx), op: OPTION_SET, val: 1n });
      }
    },
    ctx: async (m, s) => {
      if (m.openCtxs().length === 0) {
        await ensure(m, s, 'setting');
        await run(m, s, 'open', { vfio: false });
        await ensure(m, s, 'setting');
      }
    },
    ioas: async (m, s) => {
      await ensure(m, s, 'ctx');
      if (!m.openCtxs().some((c) => m.live('ioas', c.name).length > 0)) await run(m, s, 'IOMMU_IOAS_ALLOC', { ctx: 0, abi: NONE });
    },
    buf: async (m, s) => {
      if (m.bufs.length === 0) await run(m, s, 'mem_alloc', { pages: 32, huge: true, ro: false });
    },
    area: async (m, s) => {
      await ensure(m, s, 'ioas');
      await ensure(m, s, 'buf');
      if (m.openCtxs().some((c) => m.liveAreas(c.name).length > 0)) return;
      const ctx = m.openCtxs().find((c) => m.live('ioas', c.name).length > 0);
      await run(m, s, 'IOMMU_IOAS_MAP', { ctx: openIdx(m, ctx?.name), ioas: { kind: 'live', k: 0 }, prot: RW, fixed: false, va: { kind: 'buf', k: 0, pageOff: 0, byte: 0 }, len: { kind: 'pages', n: 4 }, iova: { kind: 'page', n: 0 }, abi: NONE });
    },
    dev: async (m, s) => {
      if (!m.devs.some((d) => d.alive)) await run(m, s, 'device_create', { iommu: m.setting.unit + m.devs.length, join: -1, peer: -1, ecc: 'default', noSnoop: false });
    },
    dfd: async (m, s) => {
      await ensure(m, s, 'dev');
      if (m.openDfds().length === 0) await run(m, s, 'open_device', { k: 0 });
    },
    bound: async (m, s) => {
      await ensure(m, s, 'dfd');
      await ensure(m, s, 'ctx');
      const open = m.openDfds();
      if (open.some((d) => d.ctx && m.ctxs.find((c) => c.name === d.ctx)?.open)) return;
      const k = open.findIndex((d) => !d.ctx);
      if (k >= 0) await run(m, s, 'VFIO_DEVICE_BIND_IOMMUFD', { dfd: k, ctx: 0, badFd: false, abi: NONE });
    },
    attached: async (m, s) => {
      await ensure(m, s, 'bound');
      const bound = m.dfds.filter((x) => x.ctx && x.open);
      if (bound.some((d) => d.attached && m.objs.find((o) => o.name === d.attached)?.alive)) return;
      const d = bound[0];
      if (!d) return;
      if (m.live('ioas', d.ctx).length === 0) await run(m, s, 'IOMMU_IOAS_ALLOC', { ctx: openIdx(m, d.ctx), abi: NONE });
      await run(m, s, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', { dfd: 0, pt: { kind: 'live', k: 0 }, hwpt: false, abi: NONE });
    },
    mappedDevice: async (m, s) => {
      if (!byKind.has('VFIO_DEVICE_ATTACH_IOMMUFD_PT')) return ensure(m, s, 'area');
      await ensure(m, s, 'attached');
      await ensure(m, s, 'buf');
      const d = m.dfds.find((x) => x.open && x.attached && m.objs.find((o) => o.name === x.attached)?.alive);
      const h = d ? m.objs.find((o) => o.name === d.attached) : undefined;
      if (!d || !h?.ioas || m.liveAreas(h.ctx, h.ioas).length > 0) return;
      await mapFourPages(m, s, h.ctx, h.ioas);
    },
    sharedDomain: async (m, s) => {
      // A mapped device whose HWPT another device uses too: a second device on
      // the same IOMMU unit, bound to the same context and attached to the same
      // IOAS, shares the automatic domain (iommufd_device_auto_get_domain reuses
      // a compatible one) — so a detach leaves a live, mapped domain behind.
      await ensure(m, s, 'mappedDevice');
      const aliveHwpt = (n: string | undefined): boolean => !!n && !!m.objs.find((o) => o.name === n)?.alive;
      const d = m.dfds.find((x) => x.open && aliveHwpt(x.attached));
      if (!d?.ctx || m.dfds.some((x) => x !== d && x.open && x.attached === d.attached)) return;
      const h = m.objs.find((o) => o.name === d.attached);
      const unit = m.caps.iommus.findIndex((i) => i.name === d.dev.iommu.name);
      if (!h?.ioas || unit < 0 || m.devs.length >= 6) return;
      const dev = await createDevice(m, s, { iommu: unit, join: -1, peer: -1, ecc: 'default', noSnoop: false });
      const e = dev ? await openDfd(m, s, dev) : undefined;
      if (!e) return;
      await run(m, s, 'VFIO_DEVICE_BIND_IOMMUFD', { dfd: m.openDfds().indexOf(e), ctx: 0, badFd: false, abi: NONE, to: d.ctx } satisfies Bind);
      if (!e.ctx) return;
      const k = m.live('ioas', h.ctx).findIndex((o) => o.name === h.ioas);
      await run(m, s, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', { dfd: 0, pt: { kind: 'live', k: Math.max(k, 0) }, hwpt: false, abi: NONE, at: e.name } satisfies Attach);
    },
    tagReuse: async (m, s) => {
      // TagReuse, behind a VT-d unit where there is one: devices a and b bound in one context; a
      // attached to a HWPT allocated for it on a new IOAS mapping buffer 0 at a free span, then
      // detached (the HWPT stays); b attached to a second new IOAS mapping another buffer at the
      // same IOVA (its domain's first attach takes a tag); b's DMA read there.
      if (tagReuses.has(m) || m.devs.length > 4 || m.bufs.length < 2 || m.objs.filter((o) => o.kind === 'ioas').length >= 7) return;
      if (!['device_create', 'open_device', 'VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', 'VFIO_DEVICE_DETACH_IOMMUFD_PT', 'IOMMU_HWPT_ALLOC', 'IOMMU_IOAS_MAP', 'IOMMU_IOAS_ALLOC', 'dma'].every((k) => byKind.has(k))) return;
      const vtd = m.caps.iommus.findIndex((i) => i.format === 'vtd-ss');
      const unit = vtd >= 0 ? vtd : m.caps.iommus.findIndex((i) => !i.format.includes('mock'));
      await ensure(m, s, 'ctx');
      const ctx = m.openCtxs()[0];
      if (!ctx || unit < 0) return;
      for (let i = 0; i < 2; i++) await run(m, s, 'IOMMU_IOAS_ALLOC', { ctx: openIdx(m, ctx.name), abi: NONE });
      const [ia, ib] = m.live('ioas', ctx.name).slice(-2);
      const a = await createDevice(m, s, { iommu: unit, join: -1, peer: -1, ecc: 'default', noSnoop: false });
      const b = a && (await createDevice(m, s, { iommu: unit, join: -1, peer: -1, ecc: 'default', noSnoop: false }));
      const da = a && (await openDfd(m, s, a));
      const db = b && (await openDfd(m, s, b));
      if (!ia || !ib || !da || !db) return;
      for (const d of [da, db]) await run(m, s, 'VFIO_DEVICE_BIND_IOMMUFD', { dfd: m.openDfds().indexOf(d), ctx: 0, badFd: false, abi: NONE, to: ctx.name } satisfies Bind);
      if (!da.ctx || !db.ctx) return;
      const iova = freeSpan(m, ctx.name, ia.name);
      if (iova === undefined) return;
      const mapAt = async (ioas: ObjEntry, buf: number): Promise<void> => {
        const k = m.live('ioas', ctx.name).indexOf(ioas);
        await run(m, s, 'IOMMU_IOAS_MAP', { ctx: openIdx(m, ctx.name), ioas: { kind: 'live', k }, prot: RW, fixed: true, va: { kind: 'buf', k: buf, pageOff: 0, byte: 0 }, len: { kind: 'pages', n: 1 }, iova: { kind: 'at', iova }, abi: NONE });
      };
      await attachToOwnHwpt(m, s, da, ctx.name, m.live('ioas', ctx.name).indexOf(ia));
      const hwpt = da.attached;
      if (!hwpt) return;
      await mapAt(ia, 0);
      await mapAt(ib, 1);
      await run(m, s, 'VFIO_DEVICE_DETACH_IOMMUFD_PT', { dfd: m.openDfds().indexOf(da), abi: NONE });
      if (da.attached) return;
      await run(m, s, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', { dfd: 0, pt: { kind: 'live', k: m.live('ioas', ctx.name).indexOf(ib) }, hwpt: false, abi: NONE, at: db.name } satisfies Attach);
      if (!db.attached) return;
      await s.exec({ op: 'dma', fields: { device: new Ref(db.dev.name), iova, dir: 'read', length: 4 } });
      tagReuses.set(m, { away: da, hwpt, iova });
    },
    growPair: async (m, s) => {
      // growTargets: two devices behind a unit whose table grows with the IOVA (AMD v1) where there
      // is one, bound in one context; the first attached to a new IOAS mapping a page low and
      // one at 512 GiB (a map above the top the domain was allocated with grows it).
      if (growTargets(m).length > 0 || m.devs.length > 4 || m.objs.filter((o) => o.kind === 'ioas').length >= 8) return;
      if (!['device_create', 'open_device', 'VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', 'IOMMU_IOAS_MAP', 'IOMMU_IOAS_ALLOC'].every((k) => byKind.has(k))) return;
      const amd = m.caps.iommus.findIndex((i) => i.format === 'amd-v1');
      const unit = amd >= 0 ? amd : m.setting.unit % m.caps.iommus.length;
      await ensure(m, s, 'ctx');
      await ensure(m, s, 'buf');
      const ctx = m.openCtxs()[0];
      if (!ctx) return;
      await run(m, s, 'IOMMU_IOAS_ALLOC', { ctx: openIdx(m, ctx.name), abi: NONE });
      const ioas = m.live('ioas', ctx.name).at(-1);
      const a = await createDevice(m, s, { iommu: unit, join: -1, peer: -1, ecc: 'default', noSnoop: false });
      const b = a && (await createDevice(m, s, { iommu: unit, join: -1, peer: -1, ecc: 'default', noSnoop: false }));
      const da = a && (await openDfd(m, s, a));
      const db = b && (await openDfd(m, s, b));
      if (!ioas || !da || !db) return;
      for (const d of [da, db]) await run(m, s, 'VFIO_DEVICE_BIND_IOMMUFD', { dfd: m.openDfds().indexOf(d), ctx: 0, badFd: false, abi: NONE, to: ctx.name } satisfies Bind);
      const k = m.live('ioas', ctx.name).indexOf(ioas);
      if (!da.ctx || !db.ctx || k < 0) return;
      await run(m, s, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', { dfd: 0, pt: { kind: 'live', k }, hwpt: false, abi: NONE, at: da.name } satisfies Attach);
      if (!da.attached) return;
      await mapFourPages(m, s, ctx.name, ioas.name);
      await run(m, s, 'IOMMU_IOAS_MAP', { ctx: openIdx(m, ctx.name), ioas: { kind: 'live', k }, prot: RW, fixed: true, va: { kind: 'buf', k: 0, pageOff: 0, byte: 0 }, len: { kind: 'pages', n: 1 }, iova: { kind: 'at', iova: GROW_IOVA }, abi: NONE });
    },
    twoUnits: async (m, s) => {
      // A mapped device and a device behind another unit, bound to the same context and attached
      // to the same IOAS: two domains in one IOAS (each unit's aperture reserved outside it), in
      // the order they attached.
      await ensure(m, s, 'mappedDevice');
      if (twoUnitIoases(m).length > 0 || m.devs.length >= 6 || !byKind.has('device_create') || !byKind.has('open_device') || !byKind.has('VFIO_DEVICE_BIND_IOMMUFD')) return;
      const d = m.dfds.find((x) => x.open && x.ctx && ioasOfDfd(m, x));
      const ioas = d && ioasOfDfd(m, d);
      if (!d?.ctx || !ioas) return;
      const others = [...m.caps.iommus.keys()].filter((u) => m.caps.iommus[u]?.name !== d.dev.iommu.name);
      const unit = others[(m.setting.unit + m.objs.length) % Math.max(others.length, 1)];
      if (unit === undefined) return;
      const dev = await createDevice(m, s, { iommu: unit, join: -1, peer: -1, ecc: 'default', noSnoop: false });
      const e = dev ? await openDfd(m, s, dev) : undefined;
      if (!e) return;
      await run(m, s, 'VFIO_DEVICE_BIND_IOMMUFD', { dfd: m.openDfds().indexOf(e), ctx: 0, badFd: false, abi: NONE, to: d.ctx } satisfies Bind);
      if (!e.ctx) return;
      const k = m.live('ioas', d.ctx).findIndex((o) => o.name === ioas);
      await run(m, s, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', { dfd: 0, pt: { kind: 'live', k: Math.max(k, 0) }, hwpt: false, abi: NONE, at: e.name } satisfies Attach);
    },
    devid: async (m, s) => {
      if (byKind.has('VFIO_DEVICE_BIND_IOMMUFD') && byKind.has('device_create')) await ensure(m, s, 'bound');
      else await ensure(m, s, 'stdev');
    },
    hwpt: async (m, s) => {
      if (m.live('hwpt').length > 0) return;
      if (byKind.has('VFIO_DEVICE_ATTACH_IOMMUFD_PT') && byKind.has('device_create')) await ensure(m, s, 'attached');
      else await ensure(m, s, 'stdev');
    },
    stdev: async (m, s) => {
      await ensure(m, s, 'ioas');
      if (m.live('stdev').length === 0) await run(m, s, 'IOMMU_TEST_CMD/IOMMU_TEST_OP_MOCK_DOMAIN', { ctx: 0, pt: { kind: 'live', k: 0 }, hwpt: false, flags: -1, abi: NONE });
    },
    vm: async (m, s) => {
      if (!m.vms.some((x) => x.alive)) await run(m, s, 'kvm_create', 0);
    },
    vmHeldMapped: async (m, s) => {
      // A VM holding the file of a device that is attached to an IOAS with a mapping.
      await ensure(m, s, 'mappedDevice');
      await ensure(m, s, 'vm');
      const vm = m.vms.find((x) => x.alive);
      const d = m.dfds.find((x) => x.open && x.attached && m.objs.find((o) => o.name === x.attached)?.alive);
      if (!vm || !d || vm.files.includes(d.name)) return;
      await run(m, s, 'kvm_vfio_add', { vm: m.vms.filter((x) => x.alive).indexOf(vm), fd: m.dfds.indexOf(d), ctx: false, to: d.name });
    },
    allowedIoas: async (m, s) => {
      // A fresh IOAS (no device narrows it, no area is outside) allowed one small range: low,
      // or at the very top of the address space.
      if (!byKind.has('IOMMU_IOAS_ALLOW_IOVAS')) return;
      await ensure(m, s, 'ctx');
      if (m.live('ioas').some((o) => o.allowed?.length && m.ctxs.find((c) => c.name === o.ctx)?.open)) return;
      const ctx = m.openCtxs()[0];
      if (!ctx || m.objs.filter((o) => o.kind === 'ioas').length >= 8) return;
      await run(m, s, 'IOMMU_IOAS_ALLOC', { ctx: 0, abi: NONE });
      const fresh = m.live('ioas', ctx.name);
      const top = m.objs.length % 2 === 0;
      const iova: IovaChoice = top ? { kind: 'edge', which: 'topPage' } : { kind: 'page', n: 0 };
      await run(m, s, 'IOMMU_IOAS_ALLOW_IOVAS', { ctx: 0, ioas: { kind: 'live', k: fresh.length - 1 }, ranges: [{ iova, pages: 2, bad: false }], abi: NONE });
      // And a range reserved well apart from it (a refused ALLOW_IOVAS over it leaves the allowed ranges be).
      if (byKind.has('IOMMU_TEST_CMD/IOMMU_TEST_OP_ADD_RESERVED')) {
        await run(m, s, 'IOMMU_TEST_CMD/IOMMU_TEST_OP_ADD_RESERVED', { ctx: 0, ioas: { kind: 'live', k: fresh.length - 1 }, iova: { kind: 'page', n: 0x80000 }, len: { kind: 'pages', n: 2 }, abi: NONE });
      }
    },
    vmMixed: async (m, s) => {
      // A VM holding the files of two devices behind one unit, one coherency-enforced and one
      // not (device_create's peer): what a DEL must re-derive WBINVD from.
      await ensure(m, s, 'vm');
      const vm = m.vms.find((x) => x.alive);
      if (!vm || !byKind.has('device_create') || !byKind.has('open_device') || !byKind.has('kvm_vfio_add')) return;
      const held = (): DfdEntry[] => m.openDfds().filter((d) => vm.files.includes(d.name));
      if (new Set(held().map((d) => d.dev.ecc ?? d.dev.iommu.enforceCacheCoherency)).size > 1) return;
      const unit = enforcingUnit(m);
      if (unit < 0 || m.devs.length > 3) return;
      const a = await createDevice(m, s, { iommu: unit, join: -1, peer: -1, ecc: 'default', noSnoop: false });
      // Every other time the two share an iommu group: KVM must judge each file by its own device.
      const together = m.devs.length % 2 === 0 && m.caps.deviceFeatures.multiDeviceGroups?.supported === true;
      const b = a && (await createDevice(m, s, { iommu: unit, join: together ? m.devs.indexOf(a) : -1, peer: m.devs.indexOf(a), ecc: 'default', noSnoop: false }));
      for (const dev of [a, b]) {
        const dfd = dev && (await openDfd(m, s, dev));
        if (!dfd) return;
        const k = m.vms.filter((x) => x.alive).indexOf(vm);
        await run(m, s, 'kvm_vfio_add', { vm: k, fd: m.dfds.indexOf(dfd), ctx: false, to: dfd.name });
      }
    },
    acc: async (m, s) => {
      await ensure(m, s, 'ioas');
      // An access that may pin (the selftests' MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES): ACCESS_PAGES works on it, and an
      // IOAS_UNMAP under its pins must tell it to unpin (iommufd_access_notify_unmap).
      if (!m.accs.some((a) => a.open && a.pin)) {
        const ctx = m.openCtxs().find((c) => m.live('ioas', c.name).length > 0);
        await run(m, s, 'IOMMU_TEST_CMD/IOMMU_TEST_OP_CREATE_ACCESS', { ctx: openIdx(m, ctx?.name), ioas: { kind: 'live', k: 0 }, pin: true, abi: NONE });
      }
    },
    areaPair: async (m, s) => {
      await ensure(m, s, 'area');
      if (areaPairs(m).length > 0) return;
      const a = m.liveAreas().find((x) => m.ctxs.find((c) => c.name === x.ctx)?.open);
      if (!a) return;
      const ctx = m.ctxs.find((c) => c.name === a.ctx);
      const k = m.live('ioas', a.ctx).findIndex((o) => o.name === a.ioas);
      const near = m.liveAreas(a.ctx, a.ioas).indexOf(a);
      // Every other pair, the second area is read-only: an access running from the first into it
      // crosses a permission boundary (a write must fault there and change nothing of it).
      const prot = m.objs.length % 2 === 0 ? RW : R;
      await run(m, s, 'IOMMU_IOAS_MAP', { ctx: openIdx(m, ctx?.name), ioas: { kind: 'live', k: Math.max(k, 0) }, prot, fixed: true, va: { kind: 'buf', k: 0, pageOff: 0, byte: 0 }, len: { kind: 'pages', n: 4 }, iova: { kind: 'afterArea', k: Math.max(near, 0), gap: 0 }, abi: NONE });
    },
    spanPair: async (m, s) => {
      // An area of an IOAS a domain holds, and a second one a page past it to beyond its 2 MiB span.
      await ensure(m, s, 'mappedDevice');
      if (spanPairs(m).length > 0) return;
      const held = new Set(m.live('hwpt').map((h) => h.ioas));
      const a = m.liveAreas().find((x) => held.has(x.ioas) && m.ctxs.find((c) => c.name === x.ctx)?.open && x.length % PAGE === 0n && x.length < TABLE_SPAN / 2n);
      if (!a) return;
      const start = a.iova + a.length + PAGE;
      const spanEnd = (start / TABLE_SPAN + 1n) * TABLE_SPAN;
      if (start / TABLE_SPAN !== a.iova / TABLE_SPAN) return;
      const pages = Number((spanEnd - start) / PAGE) + 2;
      let buf = m.bufs.findIndex((b) => b.length >= pages * PAGE_BYTES && !b.readonly);
      if (buf < 0 && m.bufs.length < 6) {
        await run(m, s, 'mem_alloc', { pages: 512, huge: true, ro: false });
        buf = m.bufs.findIndex((b) => b.length >= pages * PAGE_BYTES && !b.readonly);
      }
      if (buf < 0) return;
      const k = m.live('ioas', a.ctx).findIndex((o) => o.name === a.ioas);
      const near = m.liveAreas(a.ctx, a.ioas).indexOf(a);
      await run(m, s, 'IOMMU_IOAS_MAP', { ctx: openIdx(m, a.ctx), ioas: { kind: 'live', k: Math.max(k, 0) }, prot: RW, fixed: true, va: { kind: 'buf', k: buf, pageOff: 0, byte: 0 }, len: { kind: 'pages', n: pages }, iova: { kind: 'afterArea', k: Math.max(near, 0), gap: 1 }, abi: NONE });
    },
    wholeSpan: async (m, s) => {
      // An area filling a free 2 MiB span of an IOAS a domain holds, from a buffer of scattered pages.
      await ensure(m, s, 'mappedDevice');
      if (wholeSpans(m).length > 0) return;
      const held = new Set(m.live('hwpt').map((h) => h.ioas));
      const ioas = m.live('ioas').find((o) => held.has(o.name) && !o.allowed?.length && m.ctxs.find((c) => c.name === o.ctx)?.open);
      const at = ioas && freeSpan(m, ioas.ctx, ioas.name);
      if (!ioas || at === undefined) return;
      const span = Number(TABLE_SPAN / PAGE);
      let buf = m.bufs.findIndex((b) => b.length >= span * PAGE_BYTES && !b.readonly && !b.huge);
      if (buf < 0 && m.bufs.length < 6) {
        await run(m, s, 'mem_alloc', { pages: span, huge: false, ro: false });
        buf = m.bufs.findIndex((b) => b.length >= span * PAGE_BYTES && !b.readonly && !b.huge);
      }
      if (buf < 0) return;
      const k = m.live('ioas', ioas.ctx).findIndex((o) => o.name === ioas.name);
      await run(m, s, 'IOMMU_IOAS_MAP', { ctx: openIdx(m, ioas.ctx), ioas: { kind: 'live', k: Math.max(k, 0) }, prot: RW, fixed: true, va: { kind: 'buf', k: buf, pageOff: 0, byte: 0 }, len: { kind: 'pages', n: span }, iova: { kind: 'page', n: Number(at / PAGE) }, abi: NONE });
    },
    loneSpan: async (m, s) => {
      // A page alone in a free 2 MiB span of an IOAS an attached device's domain holds, and a huge buffer to map over it.
      await ensure(m, s, 'mappedDevice');
      // Two spans of it: the large leaves over the page's span may start at the span before.
      if (!superpageBuf(m) && m.bufs.length < 6) await run(m, s, 'mem_alloc', { pages: Number((2n * TABLE_SPAN) / PAGE), huge: true, ro: false });
      if (loneSpanAreas(m).length > 0) return;
      const d = m.dfds.find((x) => x.open && x.attached && m.objs.find((o) => o.name === x.attached)?.alive);
      const ioas = d && m.objs.find((o) => o.name === m.objs.find((h) => h.name === d.attached)?.ioas && o.alive && !o.allowed?.length);
      // A free span after a free span, where there is one.
      const first = ioas && freeSpan(m, ioas.ctx, ioas.name);
      const second = ioas && freeSpan(m, ioas.ctx, ioas.name, 1);
      const at = first !== undefined && second === first + TABLE_SPAN ? second : first;
      const buf = m.bufs.findIndex((b) => !b.readonly && !b.huge);
      if (!ioas || at === undefined || buf < 0) return;
      const k = m.live('ioas', ioas.ctx).findIndex((o) => o.name === ioas.name);
      await run(m, s, 'IOMMU_IOAS_MAP', { ctx: openIdx(m, ioas.ctx), ioas: { kind: 'live', k: Math.max(k, 0) }, prot: RW, fixed: true, va: { kind: 'buf', k: buf, pageOff: 0, byte: 0 }, len: { kind: 'pages', n: 1 }, iova: { kind: 'page', n: Number(at / PAGE) + 1 }, abi: NONE });
    },
    leafRun: async (m, s) => {
      // Two 2 MiB spans and a page of a huge buffer, at a free 2 MiB boundary of an IOAS an attached device's domain holds.
      await ensure(m, s, 'mappedDevice');
      if (leafRuns(m).length > 0) return;
      const fits = (b: BufEntry): boolean => b.huge === true && !b.readonly && b.length >= LEAF_RUN_PAGES * PAGE_BYTES;
      if (!m.bufs.some(fits) && m.bufs.length < 6) await run(m, s, 'mem_alloc', { pages: LEAF_RUN_PAGES, huge: true, ro: false });
      const buf = m.bufs.findIndex(fits);
      const d = m.dfds.find((x) => x.open && x.attached && m.objs.find((o) => o.name === x.attached)?.alive);
      const ioas = d && m.objs.find((o) => o.name === m.objs.find((h) => h.name === d.attached)?.ioas && o.alive && !o.allowed?.length);
      if (!ioas || buf < 0) return;
      // Three free spans in a row.
      let at: bigint | undefined;
      for (let i = 0; at === undefined && i < 60; i++) {
        const first = freeSpan(m, ioas.ctx, ioas.name, i);
        if (first !== undefined && freeSpan(m, ioas.ctx, ioas.name, i + 2) === first + 2n * TABLE_SPAN) at = first;
      }
      if (at === undefined) return;
      const k = m.live('ioas', ioas.ctx).indexOf(ioas);
      await run(m, s, 'IOMMU_IOAS_MAP', { ctx: openIdx(m, ioas.ctx), ioas: { kind: 'live', k: Math.max(k, 0) }, prot: RW, fixed: true, va: { kind: 'buf', k: buf, pageOff: 0, byte: 0 }, len: { kind: 'pages', n: LEAF_RUN_PAGES }, iova: { kind: 'at', iova: at }, abi: NONE });
    },
    roSpan: async (m, s) => {
      // A read-only page first in a free 2 MiB span of an IOAS an attached device reaches.
      await ensure(m, s, 'mappedDevice');
      if (roSpanTargets(m).length > 0) return;
      const d = m.dfds.find((x) => x.open && x.attached && m.objs.find((o) => o.name === x.attached && o.alive)?.ioas);
      const ioas = d && m.objs.find((o) => o.name === m.objs.find((h) => h.name === d.attached)?.ioas && o.alive && !o.allowed?.length);
      const at = ioas && freeSpan(m, ioas.ctx, ioas.name);
      const buf = m.bufs.findIndex((b) => b.length >= PAGE_BYTES);
      if (!ioas || at === undefined || buf < 0) return;
      const k = m.live('ioas', ioas.ctx).indexOf(ioas);
      await run(m, s, 'IOMMU_IOAS_MAP', { ctx: openIdx(m, ioas.ctx), ioas: { kind: 'live', k: Math.max(k, 0) }, prot: R, fixed: true, va: { kind: 'buf', k: buf, pageOff: 0, byte: 0 }, len: { kind: 'pages', n: 1 }, iova: { kind: 'at', iova: at + PAGE }, abi: NONE });
    },
    mockPair: async (m, s) => {
      // A new IOAS of the first open context held by two mock domains and nothing else: two
      // devices behind the mock unit, each attached to a HWPT allocated for it on the IOAS (devices
      // the invariants can probe); where the adapter makes no devices, selftest mock devices (a
      // mock device attached to the IOAS, a HWPT allocated for it there, a second one on that HWPT).
      if (m.live('ioas').some((o) => o.mockPair) || m.objs.filter((o) => o.kind === 'ioas').length >= 8 || m.bufs.length >= 6) return;
      if (!byKind.has('IOMMU_IOAS_ALLOC') || !byKind.has('IOMMU_HWPT_ALLOC')) return;
      await ensure(m, s, 'ctx');
      const ctx = m.openCtxs()[0];
      if (!ctx) return;
      const c = openIdx(m, ctx.name);
      await run(m, s, 'IOMMU_IOAS_ALLOC', { ctx: c, abi: NONE });
      const ioas = m.live('ioas', ctx.name).at(-1);
      if (!ioas) return;
      const held = (): number => m.live('hwpt', ctx.name).filter((h) => h.ioas === ioas.name).length;
      const unit = m.caps.iommus.findIndex((i) => i.format.includes('mock'));
      if (unit >= 0 && byKind.has('device_create') && byKind.has('open_device') && byKind.has('VFIO_DEVICE_BIND_IOMMUFD') && m.devs.length <= 4) {
        for (let i = 0; i < 2; i++) {
          const dev = await createDevice(m, s, { iommu: unit, join: -1, peer: -1, ecc: 'default', noSnoop: false });
          const dfd = dev && (await openDfd(m, s, dev));
          if (!dfd) return;
          await run(m, s, 'VFIO_DEVICE_BIND_IOMMUFD', { dfd: m.openDfds().indexOf(dfd), ctx: 0, badFd: false, abi: NONE, to: ctx.name } satisfies Bind);
          await attachToOwnHwpt(m, s, dfd, ctx.name, m.live('ioas', ctx.name).indexOf(ioas));
        }
      } else if (byKind.has('IOMMU_TEST_CMD/IOMMU_TEST_OP_MOCK_DOMAIN') && m.objs.filter((o) => o.kind === 'stdev').length <= 2) {
        await run(m, s, 'IOMMU_TEST_CMD/IOMMU_TEST_OP_MOCK_DOMAIN', { ctx: c, pt: { kind: 'live', k: 0 }, hwpt: false, flags: -1, abi: NONE, onto: ioas.name });
        const st = m.live('stdev', ctx.name).at(-1);
        const dev = m.live('devid', ctx.name).findIndex((o) => o.name === st?.ioas);
        if (dev < 0) return;
        await run(m, s, 'IOMMU_HWPT_ALLOC', { ctx: c, dev: { kind: 'live', k: dev }, pt: { kind: 'live', k: m.live('ioas', ctx.name).indexOf(ioas) }, ptHwpt: false, flags: 0, data: 'none', abi: NONE });
        const hwpt = m.live('hwpt', ctx.name).find((h) => h.ioas === ioas.name && h.mock);
        if (hwpt) await run(m, s, 'IOMMU_TEST_CMD/IOMMU_TEST_OP_MOCK_DOMAIN', { ctx: c, pt: { kind: 'live', k: 0 }, hwpt: true, flags: -1, abi: NONE, onto: hwpt.name });
      }
      // A buffer of its own, stamped, that nothing else maps or unmaps.
      const before = m.bufs.length;
      if (held() >= 2) await run(m, s, 'mem_alloc', { pages: 8, huge: false, ro: false });
      if (m.bufs.length > before) ioas.mockPair = m.bufs.at(-1)?.name;
    },
    tightHole: async (m, s) => {
      // The high wall of a tight hole in an IOAS nothing is mapped low in, and a 2 MiB-aligned buffer.
      await ensure(m, s, 'ioas');
      if (!tightBuf(m) && m.bufs.length < 6) await run(m, s, 'mem_alloc', { pages: Number(TIGHT.len / PAGE), huge: true, ro: false });
      if (tightHoles(m).length > 0) return;
      const free = (): ObjEntry | undefined => m.live('ioas').find((o) => !o.allowed?.length && m.ctxs.find((c) => c.name === o.ctx)?.open && !m.liveAreas(o.ctx, o.name).some((a) => a.iova < TIGHT.high + PAGE));
      const ctx = m.openCtxs()[0];
      if (!free() && ctx && m.objs.filter((o) => o.kind === 'ioas').length < 8) await run(m, s, 'IOMMU_IOAS_ALLOC', { ctx: 0, abi: NONE });
      const ioas = free();
      const buf = tightBuf(m) ? m.bufs.indexOf(tightBuf(m)!) : -1;
      if (!ioas || buf < 0) return;
      const k = m.live('ioas', ioas.ctx).indexOf(ioas);
      await run(m, s, 'IOMMU_IOAS_MAP', { ctx: openIdx(m, ioas.ctx), ioas: { kind: 'live', k }, prot: R, fixed: true, va: { kind: 'buf', k: buf, pageOff: 0, byte: 0 }, len: { kind: 'pages', n: 1 }, iova: { kind: 'at', iova: TIGHT.high }, abi: NONE });
    },
    freshCtx: async (m, s) => {
      // A context nothing was made in yet: where an accounting-mode SET is judged on its privilege, not refused as busy.
      await ensure(m, s, 'ctx');
      if (freshCtxs(m).length === 0) await run(m, s, 'open', { vfio: false });
    },
    ctx2: async (m, s) => {
      await ensure(m, s, 'ctx');
      if (m.openCtxs().length < 2) await run(m, s, 'open', { vfio: false });
    },
    ctx2Pinning: async (m, s) => {
      // ctx2, the second context holding a mock domain on an IOAS that maps a buffer: pages it pins,
      // which closing it must give back (and which show a reference left on it).
      await ensure(m, s, 'ctx2');
      await ensure(m, s, 'buf');
      const ctx = m.openCtxs()[1];
      if (!ctx || !byKind.has('IOMMU_IOAS_ALLOC') || !byKind.has('IOMMU_IOAS_MAP') || !byKind.has('IOMMU_TEST_CMD/IOMMU_TEST_OP_MOCK_DOMAIN')) return;
      if (m.live('ioas', ctx.name).length === 0) await run(m, s, 'IOMMU_IOAS_ALLOC', { ctx: openIdx(m, ctx.name), abi: NONE });
      const ioas = m.live('ioas', ctx.name)[0];
      if (!ioas) return;
      if (m.live('stdev', ctx.name).length === 0) await run(m, s, 'IOMMU_TEST_CMD/IOMMU_TEST_OP_MOCK_DOMAIN', { ctx: openIdx(m, ctx.name), pt: { kind: 'live', k: 0 }, hwpt: false, flags: -1, abi: NONE });
      if (m.liveAreas(ctx.name, ioas.name).length === 0) await mapFourPages(m, s, ctx.name, ioas.name);
    },
    groupPair: async (m, s) => {
      await groupPair(m, s);
    },
    groupBothAttached: async (m, s) => {
      // Both devices of a group bound in one context and attached to its first IOAS (one domain), with a buffer.
      const pair = await groupPair(m, s);
      if (!pair) return;
      const [x, y] = pair;
      if (!x.ctx) return;
      if (!y.ctx) await run(m, s, 'VFIO_DEVICE_BIND_IOMMUFD', { dfd: m.openDfds().indexOf(y), ctx: 0, badFd: false, abi: NONE, to: x.ctx } satisfies Bind);
      if (await attachIn(m, s, x)) await attachIn(m, s, y);
      await ensure(m, s, 'buf');
    },
    groupSpread: async (m, s) => {
      // groupBothAttached, and a second IOAS in the members' context to move the group to.
      await ensure(m, s, 'groupBothAttached');
      const x = m.openDfds().find((d) => d.attached && d.ctx && m.openDfds().some((y) => y !== d && y.dev.group === d.dev.group && y.attached));
      while (x?.ctx && m.live('ioas', x.ctx).length < 2 && m.objs.filter((o) => o.kind === 'ioas').length < 8) {
        const before = m.objs.length;
        await run(m, s, 'IOMMU_IOAS_ALLOC', { ctx: openIdx(m, x.ctx), abi: NONE });
        if (m.objs.length === before) break;
      }
    },
    mixedGroup: async (m, s) => {
      // Two devices of one group behind a unit that can enforce cache coherency, the second created
      // unable to, bound in one context; a HWPT allocated for the second (not enforcing) on the
      // context's first IOAS holds both; a HWPT allocated for the first (enforcing) on a second
      // IOAS; each IOAS maps a buffer of its own at the IOVA the implementation picks.
      if (m.mixed.length > 0 || m.devs.length > 4 || !m.caps.deviceFeatures.multiDeviceGroups?.supported) return;
      if (!['device_create', 'open_device', 'VFIO_DEVICE_BIND_IOMMUFD', 'IOMMU_HWPT_ALLOC', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'].every((k) => byKind.has(k))) return;
      const unit = m.caps.iommus.findIndex((i) => i.enforceCacheCoherency && !i.format.includes('mock'));
      if (unit < 0) return;
      await ensure(m, s, 'ctx');
      const ctx = m.openCtxs()[0];
      if (!ctx) return;
      while (m.live('ioas', ctx.name).length < 2 && m.objs.filter((o) => o.kind === 'ioas').length < 8) {
        const before = m.objs.length;
        await run(m, s, 'IOMMU_IOAS_ALLOC', { ctx: openIdx(m, ctx.name), abi: NONE });
        if (m.objs.length === before) return;
      }
      const a = await createDevice(m, s, { iommu: unit, join: -1, peer: -1, ecc: 'yes', noSnoop: false });
      const b = a && (await createDevice(m, s, { iommu: unit, join: m.devs.indexOf(a), peer: -1, ecc: 'no', noSnoop: false }));
      const da = a && (await openDfd(m, s, a));
      const db = b && (await openDfd(m, s, b));
      if (!da || !db) return;
      for (const d of [da, db]) await run(m, s, 'VFIO_DEVICE_BIND_IOMMUFD', { dfd: m.openDfds().indexOf(d), ctx: 0, badFd: false, abi: NONE, to: ctx.name } satisfies Bind);
      if (!da.devid || !db.devid) return;
      const hwptFor = async (d: DfdEntry, ioas: number): Promise<ObjEntry | undefined> => {
        const before = new Set(m.live('hwpt', ctx.name).map((h) => h.name));
        const k = m.live('devid', ctx.name).findIndex((o) => o.name === d.devid);
        await run(m, s, 'IOMMU_HWPT_ALLOC', { ctx: openIdx(m, ctx.name), dev: { kind: 'live', k }, pt: { kind: 'live', k: ioas }, ptHwpt: false, flags: 0, data: 'none', abi: NONE });
        return m.live('hwpt', ctx.name).find((h) => !before.has(h.name));
      };
      const shared = await hwptFor(db, 0);
      const refused = await hwptFor(da, 1);
      if (!shared || !refused) return;
      for (const d of [da, db]) {
        const k = m.live('hwpt', ctx.name).indexOf(shared);
        await run(m, s, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', { dfd: 0, pt: { kind: 'live', k }, hwpt: true, abi: NONE, at: d.name } satisfies Attach);
      }
      if (da.attached !== shared.name || db.attached !== shared.name) return;
      while (m.bufs.length < 2) {
        const before = m.bufs.length;
        await run(m, s, 'mem_alloc', { pages: 4, huge: false, ro: false });
        if (m.bufs.length === before) return;
      }
      const ioases = m.live('ioas', ctx.name);
      for (const [i, buf] of [[0, 0], [1, 1]] as const) {
        const k = ioases.findIndex((o) => o.name === (i === 0 ? shared.ioas : refused.ioas));
        await run(m, s, 'IOMMU_IOAS_MAP', { ctx: openIdx(m, ctx.name), ioas: { kind: 'live', k: Math.max(k, 0) }, prot: RW, fixed: false, va: { kind: 'buf', k: buf, pageOff: 0, byte: 0 }, len: { kind: 'pages', n: 1 }, iova: { kind: 'page', n: 0 }, abi: NONE });
      }
      m.mixed.push({ a: da.name, b: db.name, shared: shared.name, refused: refused.name });
    },
    groupAttached: async (m, s) => {
      // Both devices of a group bound in one context, one of them attached, and a second IOAS there.
      const pair = await groupPair(m, s);
      if (!pair) return;
      const [x, y] = pair;
      if (!x.ctx) return;
      if (!y.ctx) await run(m, s, 'VFIO_DEVICE_BIND_IOMMUFD', { dfd: m.openDfds().indexOf(y), ctx: 0, badFd: false, abi: NONE, to: x.ctx } satisfies Bind);
      await attachIn(m, s, x);
      while (m.live('ioas', x.ctx).length < 2 && m.objs.filter((o) => o.kind === 'ioas').length < 8) {
        const before = m.objs.length;
        await run(m, s, 'IOMMU_IOAS_ALLOC', { ctx: openIdx(m, x.ctx), abi: NONE });
        if (m.objs.length === before) break;
      }
    },
    looseSibling: async (m, s) => {
      // Two devices of one group: the first bound, attached and mapped; the other's file closed (nothing holds it).
      const pair = await groupPair(m, s);
      if (!pair) return;
      const [x, y] = pair;
      if (!(await attachIn(m, s, x))) return;
      const h = m.objs.find((o) => o.name === x.attached);
      if (h?.ioas && m.liveAreas(h.ctx, h.ioas).length === 0) {
        await ensure(m, s, 'buf');
        await mapFourPages(m, s, h.ctx, h.ioas);
      }
      if (y.open && !y.ctx && byKind.has('close')) await run(m, s, 'close', { what: 'dfd', k: m.dfds.indexOf(y) });
    },
    peerPair: async (m, s) => {
      // Two devices bound in one context, the first attached; the second behind the same unit
      // with the other coherency (device_create's peer). The first can enforce it: behind a unit
      // that enforces it for every device, or, every other time, created able to behind one that
      // decides per device (SMMUv3: a CANWBS master; a unit that cannot refuses the create).
      await ensure(m, s, 'ioas');
      if (!byKind.has('device_create') || !byKind.has('open_device') || !byKind.has('VFIO_DEVICE_BIND_IOMMUFD')) return;
      const capable = (d: DfdEntry): boolean => d.dev.ecc ?? d.dev.iommu.enforceCacheCoherency;
      let x = m.dfds.find((d) => d.open && d.ctx && d.attached && capable(d) && m.objs.find((h) => h.name === d.attached)?.alive);
      if (!x) {
        const units = m.caps.iommus.map((i, k) => ({ i, k }));
        const perDevice = m.devs.length % 2 === 1 ? (units.find(({ i }) => !i.enforceCacheCoherency && i.format.startsWith('arm')) ?? units.find(({ i }) => !i.enforceCacheCoherency && !i.format.includes('mock'))) : undefined;
        const unit = perDevice?.k ?? enforcingUnit(m);
        if (unit < 0) return;
        const dev = await createDevice(m, s, { iommu: unit, join: -1, peer: -1, ecc: perDevice ? 'yes' : 'default', noSnoop: false });
        const dfd = dev && (await openDfd(m, s, dev));
        const ctx = m.openCtxs().find((c) => m.live('ioas', c.name).length > 0);
        if (!dfd || !ctx) return;
        await run(m, s, 'VFIO_DEVICE_BIND_IOMMUFD', { dfd: m.openDfds().indexOf(dfd), ctx: 0, badFd: false, abi: NONE, to: ctx.name } satisfies Bind);
        // Every other time on a HWPT the user allocated for it (IOMMU_HWPT_ALLOC, which must
        // enforce coherency for a device that can, as the automatic domain does), else on the IOAS.
        if (m.objs.length % 2 === 0) await attachToOwnHwpt(m, s, dfd, ctx.name);
        if (!(await attachIn(m, s, dfd))) return;
        x = dfd;
      }
      if (m.dfds.some((d) => d !== x && d.open && d.ctx === x.ctx && d.dev !== x.dev)) return;
      const peer = await createDevice(m, s, { iommu: 0, join: -1, peer: m.devs.indexOf(x.dev), ecc: 'default', noSnoop: false });
      const dfd = peer && (await openDfd(m, s, peer));
      if (dfd) await run(m, s, 'VFIO_DEVICE_BIND_IOMMUFD', { dfd: m.openDfds().indexOf(dfd), ctx: 0, badFd: false, abi: NONE, to: x.ctx } satisfies Bind);
    },
    unalignedIoas: async (m, s) => {
      // A pinning access on a mapped IOAS, and another IOAS of its context, held by no domain, mapped
      // from 2 KiB into a page of a buffer (an automatic IOVA keeps that offset: nothing asks for more).
      await ensure(m, s, 'acc');
      await ensure(m, s, 'area');
      if (unalignedTargets(m).length > 0) return;
      const acc = m.accs.find((a) => a.open && a.pin && m.liveAreas(a.ctx, a.ioas).some((x) => x.buf && x.iova % PAGE === 0n));
      if (!acc || m.bufs.length === 0) return;
      const held = new Set(m.live('hwpt').map((h) => h.ioas));
      const free = (): ObjEntry | undefined => m.live('ioas', acc.ctx).find((o) => o.name !== acc.ioas && !held.has(o.name));
      if (!free() && m.objs.filter((o) => o.kind === 'ioas').length < 8) await run(m, s, 'IOMMU_IOAS_ALLOC', { ctx: openIdx(m, acc.ctx), abi: NONE });
      const to = free();
      if (!to) return;
      const k = m.live('ioas', acc.ctx).indexOf(to);
      await run(m, s, 'IOMMU_IOAS_MAP', { ctx: openIdx(m, acc.ctx), ioas: { kind: 'live', k }, prot: RW, fixed: false, va: { kind: 'buf', k: 0, pageOff: 0, byte: 2048 }, len: { kind: 'pages', n: 2 }, iova: { kind: 'page', n: 0 }, abi: NONE });
    },
    crossUnit: async (m, s) => {
      // A device with reserved regions of its own attached in a context, and a device behind
      // another unit attached in the same context: whether either may take the other's domain is
      // the drivers' (another driver's domain is foreign; one of the same driver must fit the unit:
      // paging_domain_compatible's coherency, dirty tracking and address width).
      await ensure(m, s, 'ioas');
      if (crossUnitPairs(m).some((e) => e.d.dev.resv && e.d.attached) || m.devs.length >= 6 || !byKind.has('device_create') || !byKind.has('open_device') || !byKind.has('VFIO_DEVICE_BIND_IOMMUFD')) return;
      const units = [...m.caps.iommus.keys()].filter((u) => !m.caps.iommus[u]?.format.includes('mock'));
      const ctx = m.openCtxs().find((c) => m.live('ioas', c.name).length > 0);
      if (units.length < 2 || !ctx) return;
      // The pair, the coherency of each device and the holder's domain vary with the case (its
      // setting) and what it made so far. Every other time two units of one page-table format
      // (one driver, perhaps another geometry), else any two; the holder now and then unable to
      // enforce coherency (its domain then does not, and a unit without snoop control may try it).
      let h = Math.imul(m.setting.unit + 1, 0x9e3779b1) ^ Math.imul(m.objs.length + 31 * m.devs.length + 1, 0x85ebca6b);
      h = Math.imul(h ^ (h >>> 15), 0xc2b2ae35) >>> 0;
      const fmt = (u: number): string | undefined => m.caps.iommus[u]?.format;
      const all = units.flatMap((a) => units.filter((b) => b !== a).map((b) => [a, b] as const));
      const same = all.filter(([a, b]) => fmt(a) === fmt(b));
      const pairs = h % 2 === 0 && same.length > 0 ? same : all;
      const [mover, holder] = pairs[(h >>> 1) % pairs.length] as readonly [number, number];
      const moverEcc = (h >>> 8) % 4 === 0 ? 'no' : 'default';
      const holderEcc = (h >>> 10) % 2 === 0 ? 'no' : 'default';
      // The second on another IOAS: a replace within one IOAS leaves the reserved regions alone.
      if (m.live('ioas', ctx.name).length < 2) await run(m, s, 'IOMMU_IOAS_ALLOC', { ctx: openIdx(m, ctx.name), abi: NONE });
      for (const [unit, resv, k, ecc] of [[mover, true, 0, moverEcc], [holder, false, 1, holderEcc]] as const) {
        const dev = await createDevice(m, s, { iommu: unit, join: -1, peer: -1, ecc, noSnoop: false, resv });
        const dfd = dev && (await openDfd(m, s, dev));
        if (!dfd) return;
        await run(m, s, 'VFIO_DEVICE_BIND_IOMMUFD', { dfd: m.openDfds().indexOf(dfd), ctx: 0, badFd: false, abi: NONE, to: ctx.name } satisfies Bind);
        // The holder every other time on a HWPT allocated for it, else (and the mover always) on the IOAS.
        if (!resv && (h >>> 12) % 2 === 0) await attachToOwnHwpt(m, s, dfd, ctx.name, k);
        if (!dfd.attached || !m.objs.find((o) => o.name === dfd.attached)?.alive) await run(m, s, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', { dfd: 0, pt: { kind: 'live', k }, hwpt: false, abi: NONE, at: dfd.name } satisfies Attach);
      }
    },
    awayHwpt: async (m, s) => {
      // A bound device that used a mapped HWPT of its own (IOMMU_HWPT_ALLOC), its DMA through
      // the new mapping (the probes after a map), left it (detach), and the mapping unmapped.
      if (awayFrom(m).some((x) => x.lost)) return;
      await ensure(m, s, 'bound');
      await ensure(m, s, 'buf');
      const d = m.openDfds().find((x) => x.ctx && m.ctxs.find((c) => c.name === x.ctx)?.open);
      if (!d?.ctx || !byKind.has('VFIO_DEVICE_DETACH_IOMMUFD_PT') || !byKind.has('IOMMU_IOAS_UNMAP')) return;
      if (m.live('ioas', d.ctx).length === 0) await run(m, s, 'IOMMU_IOAS_ALLOC', { ctx: openIdx(m, d.ctx), abi: NONE });
      await attachToOwnHwpt(m, s, d, d.ctx);
      if (!(await attachIn(m, s, d))) return;
      const h = m.objs.find((o) => o.name === d.attached);
      if (!h?.ioas) return;
      await mapFourPages(m, s, h.ctx, h.ioas);
      const area = m.liveAreas(h.ctx, h.ioas).at(-1);
      await run(m, s, 'VFIO_DEVICE_DETACH_IOMMUFD_PT', { dfd: m.openDfds().indexOf(d), abi: NONE });
      if (!area || d.attached) return;
      await run(m, s, 'IOMMU_IOAS_UNMAP', { ctx: openIdx(m, h.ctx), ioas: { kind: 'live', k: 0 }, how: 'area', a: m.liveAreas(h.ctx).indexOf(area), b: 0, len: { kind: 'pages', n: 1 }, iova: { kind: 'page', n: 0 }, abi: NONE });
    },
    compat: async (m, s) => {
      await ensure(m, s, 'ioas');
      if (!m.openCtxs().some((c) => c.compat)) await run(m, s, 'IOMMU_VFIO_IOAS', { ctx: 0, op: enumValue(profile, 'IOMMU_VFIO_IOAS_SET') ?? 1, ioas: { kind: 'live', k: 0 }, abi: NONE });
    },
    accSiblings: async (m, s) => {
      // Two accesses on one mapped IOAS, the first holding pages, and another IOAS in the
      // context to move the second to: each IOAS keeps its own list of accesses
      // (iopt_access_list_id), and moving one must leave the other's entry alone.
      await ensure(m, s, 'acc');
      await ensure(m, s, 'area');
      const pinning = m.accs.filter((a) => a.open && a.pin);
      const a1 = pinning.find((a) => m.liveAreas(a.ctx, a.ioas).some((x) => x.buf));
      if (!a1) return;
      if (!m.items.some((i) => i.alive && i.acc === a1.name)) {
        // accessTarget takes the k-th pinning access unless k % 5 == 4.
        let k = pinning.indexOf(a1);
        while (k % 5 === 4) k += pinning.length;
        const area = m.liveAreas(a1.ctx, a1.ioas).findIndex((x) => x.buf);
        await run(m, s, 'IOMMU_TEST_CMD/IOMMU_TEST_OP_ACCESS_PAGES', { acc: k, area, off: 0, pages: 1, write: false, abi: NONE });
      }
      const ioases = m.live('ioas', a1.ctx);
      if (!m.accs.some((a) => a !== a1 && a.open && a.ctx === a1.ctx && a.ioas === a1.ioas) && m.accs.length < 4) {
        await run(m, s, 'IOMMU_TEST_CMD/IOMMU_TEST_OP_CREATE_ACCESS', { ctx: openIdx(m, a1.ctx), ioas: { kind: 'live', k: ioases.findIndex((o) => o.name === a1.ioas) }, pin: true, abi: NONE });
      }
      if (ioases.length < 2 && m.objs.filter((o) => o.kind === 'ioas').length < 8) await run(m, s, 'IOMMU_IOAS_ALLOC', { ctx: openIdx(m, a1.ctx), abi: NONE });
    },
    bareArea: async (m, s) => {
      // Next to an IOAS a domain holds (a live HWPT on it), an area of the same context in an
      // IOAS no domain holds: its pages are mapped but not pinned.
      await ensure(m, s, 'mappedDevice');
      const held = new Set(m.live('hwpt').map((h) => h.ioas));
      const ctx = m.openCtxs().find((c) => m.live('ioas', c.name).some((o) => held.has(o.name)));
      if (!ctx || m.liveAreas(ctx.name).some((a) => !held.has(a.ioas))) return;
      let bare = m.live('ioas', ctx.name).findIndex((o) => !held.has(o.name));
      if (bare < 0 && m.objs.filter((o) => o.kind === 'ioas').length < 8) {
        await run(m, s, 'IOMMU_IOAS_ALLOC', { ctx: openIdx(m, ctx.name), abi: NONE });
        bare = m.live('ioas', ctx.name).findIndex((o) => !held.has(o.name));
      }
      if (bare >= 0) await run(m, s, 'IOMMU_IOAS_MAP', { ctx: openIdx(m, ctx.name), ioas: { kind: 'live', k: bare }, prot: RW, fixed: false, va: { kind: 'buf', k: 0, pageOff: 0, byte: 0 }, len: { kind: 'pages', n: 8 }, iova: { kind: 'page', n: 0 }, abi: NONE });
    },
    barePair: async (m, s) => {
      // bareArea, and a second area right after one of its areas (no gap): two touching areas
      // whose pages no domain pins yet, in a context with an IOAS a domain holds.
      await ensure(m, s, 'bareArea');
      const held = new Set(m.live('hwpt').map((h) => h.ioas));
      if (touchingPairs(m).some(([lo]) => !held.has(lo.ioas) && m.live('ioas', lo.ctx).some((o) => held.has(o.name)))) return;
      const a = m.liveAreas().find((x) => !held.has(x.ioas) && x.buf !== undefined && m.ctxs.find((c) => c.name === x.ctx)?.open && m.live('ioas', x.ctx).some((o) => held.has(o.name)));
      if (!a) return;
      const k = m.live('ioas', a.ctx).findIndex((o) => o.name === a.ioas);
      const near = m.liveAreas(a.ctx, a.ioas).indexOf(a);
      await run(m, s, 'IOMMU_IOAS_MAP', { ctx: openIdx(m, a.ctx), ioas: { kind: 'live', k }, prot: RW, fixed: true, va: { kind: 'buf', k: 1, pageOff: 0, byte: 0 }, len: { kind: 'pages', n: 4 }, iova: { kind: 'afterArea', k: near, gap: 0 }, abi: NONE });
    },
    compatAccess: async (m, s) => {
      // compatV1Device, a mapping of two pages or more there, and an access that may pin on the
      // container's IOAS.
      await ensure(m, s, 'compatV1Device');
      const TYPE1 = enumValue(profile, 'VFIO_TYPE1_IOMMU') ?? 1;
      const ctx = m.openCtxs().find((c) => c.compat !== undefined && c.compatType === TYPE1 && m.objs.some((o) => o.name === c.compat && o.alive));
      if (!ctx?.compat) return;
      const k = m.live('ioas', ctx.name).findIndex((o) => o.name === ctx.compat);
      if (k < 0) return;
      if (!m.liveAreas(ctx.name, ctx.compat).some((x) => x.buf && x.length >= 2n * PAGE)) await mapFourPages(m, s, ctx.name, ctx.compat);
      if (!m.accs.some((x) => x.open && x.pin && x.ctx === ctx.name && x.ioas === ctx.compat) && m.accs.length < 4) {
        await run(m, s, 'IOMMU_TEST_CMD/IOMMU_TEST_OP_CREATE_ACCESS', { ctx: openIdx(m, ctx.name), ioas: { kind: 'live', k }, pin: true, abi: NONE });
      }
    },
    compatV1Device: async (m, s) => {
      // A VFIO type1 (v1) container whose IOAS a device is attached to: an unmap of part of a
      // mapping there cuts an area a domain holds (iommufd_vfio_unmap_dma: iopt_cut_iova).
      // VFIO_SET_IOMMU comes first: it disables large pages, which an IOAS with both domains
      // and areas refuses (EINVAL).
      await ensure(m, s, 'compat');
      const TYPE1 = enumValue(profile, 'VFIO_TYPE1_IOMMU') ?? 1;
      const ctx = m.openCtxs().find((c) => c.compat !== undefined && (c.compatType === undefined || c.compatType === TYPE1) && m.objs.some((o) => o.name === c.compat && o.alive));
      if (!ctx?.compat) return;
      if (ctx.compatType === undefined) {
        const step = await s.exec({ op: 'ioctl', fields: { fd: new Ref(ctx.name), cmd: 'VFIO_SET_IOMMU', arg: { kind: 'int', value: BigInt(TYPE1) } } });
        if (ok(step)) ctx.compatType = TYPE1;
      }
      const k = m.live('ioas', ctx.name).findIndex((o) => o.name === ctx.compat);
      const onCompat = (hwpt: string | undefined): boolean => m.objs.some((o) => o.name === hwpt && o.alive && o.ioas === ctx.compat);
      if (ctx.compatType !== TYPE1 || k < 0 || m.dfds.some((d) => d.open && onCompat(d.attached)) || m.objs.some((o) => o.kind === 'hwpt' && o.auto && onCompat(o.name))) return;
      if (!byKind.has('device_create') || !byKind.has('VFIO_DEVICE_ATTACH_IOMMUFD_PT')) {
        // The selftest's mock device instead, where the adapter creates no devices (the kernel lanes).
        await run(m, s, 'IOMMU_TEST_CMD/IOMMU_TEST_OP_MOCK_DOMAIN', { ctx: openIdx(m, ctx.name), pt: { kind: 'live', k }, hwpt: false, flags: -1, abi: NONE });
        return;
      }
      let d = m.dfds.find((x) => x.open && x.ctx === ctx.name && !m.objs.some((o) => o.name === x.attached && o.alive));
      if (!d && m.devs.length < 6) {
        const dev = await createDevice(m, s, { iommu: m.setting.unit + m.devs.length, join: -1, peer: -1, ecc: 'default', noSnoop: false });
        const e = dev ? await openDfd(m, s, dev) : undefined;
        if (e) await run(m, s, 'VFIO_DEVICE_BIND_IOMMUFD', { dfd: m.openDfds().indexOf(e), ctx: 0, badFd: false, abi: NONE, to: ctx.name } satisfies Bind);
        if (e?.ctx === ctx.name) d = e;
      }
      if (d) await run(m, s, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', { dfd: 0, pt: { kind: 'live', k }, hwpt: false, abi: NONE, at: d.name } satisfies Attach);
    },
  };
  const ensure: Ensure = (m, s, need) => {
    // The usual case, every command's first call: a default process setting, or one already set up.
    if (need === 'setting' && (!m.setting.unprivileged || m.settled.process) && !m.setting.mmAccounting) return undefined;
    return ensurers[need](m, s);
  };
  return ensure;
}

export function commandSpecs(profile: Profile, caps: Capabilities, opts: Pick<GenerationOptions, 'abiRate'> = {}): CommandSpec<never>[] {
  const rate = opts.abiRate ?? 0.08;
  const abi = new Map<string, fc.Arbitrary<AbiChoice>>();
  const readOnlyArgs = caps.readOnlyArgs?.supported === true;
  const abiFor = (cmd: string, detaching = false, testOp?: string): fc.Arbitrary<AbiChoice> => {
    const key = `${cmd}${detaching ? '/detaching' : ''}${testOp ? `/${testOp}` : ''}`;
    return abi.get(key) ?? (abi.set(key, abiChoiceFor(profile, cmd, rate, readOnlyArgs, detaching, testOp)).get(key) as fc.Arbitrary<AbiChoice>);
  };
  const env: GenEnv = { profile, caps, abiFor };
  const specs = [...envSpecs(env), ...ioasSpecs(env), ...vfioSpecs(env), ...testSpecs(env)];
  const covered = new Set(specs.map((s) => s.kind.split('/')[0] as string));
  return [...specs, ...genericSpecs(env, covered)];
}

export interface GeneratedCase {
  readonly enabled: readonly string[] | undefined;
  /** How the process and contexts start (gen/model.ts CaseSetting); absent: the default. */
  readonly setting?: CaseSetting;
  readonly commands: Iterable<SuiteCommand>;
}

/** The arbitrary of one case: a swarm subset and the command sequence. */
export function caseArb(profile: Profile, caps: Capabilities, opts: GenerationOptions): fc.Arbitrary<GeneratedCase> {
  const specs = commandSpecs(profile, caps, opts).filter((s) => !(opts.sharedSession && s.kind.split('/')[0] === 'set_process'));
  const ensure = makeEnsure(profile, specs);
  const cmdArb = fc.oneof(...specs.map((s) => ({ weight: s.weight, arbitrary: s.arb.map((c) => new GenCommand(s, c, ensure) as SuiteCommand) })));
  const commands = fc.commands([cmdArb], { maxCommands: opts.maxCommands, size: 'max', ...(opts.replayPath && { replayPath: opts.replayPath }) });
  const kinds = specs.map((s) => s.kind).filter((k) => !ESSENTIAL.has(k));
  const swarm = opts.swarm === false ? fc.constant(undefined) : fc.oneof({ weight: 1, arbitrary: fc.constant(undefined) }, { weight: 3, arbitrary: fc.subarray(kinds, { minLength: Math.min(3, kinds.length) }).map((s) => [...ESSENTIAL, ...s]) });
  // The IOMMU unit of the first device a constructor makes varies per case
  // (each page-table format and IOTLB gets the common sequences), and one case
  // in three starts unprivileged and/or in MM accounting, mostly under a limit
  // of a few pages (where the accounting's error paths run: a pin refused
  // half-way); shrinks to the default. (One case in two took the large
  // leaves' scenarios out of too many cases: a small limit refuses 2 MiB.)
  const setting: fc.Arbitrary<CaseSetting> = fc
    .record({
      unit: fc.nat(Math.max(0, caps.iommus.length - 1)),
      process: fc.oneof(
        { weight: 2, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.record({ unprivileged: fc.boolean(), mmAccounting: fc.boolean(), rlimit: fc.constantFrom<bigint | undefined>(undefined, 32768n, 65536n, 32768n, 65536n, 1n << 20n, 8n << 20n) }, { requiredKeys: ['unprivileged', 'mmAccounting'] }) },
      ),
    })
    .map(({ unit, process }) => ({ ...DEFAULT_SETTING, ...process, unit }));
  return fc.record({ enabled: swarm, setting, commands }) as fc.Arbitrary<GeneratedCase>;
}

export function newModel(profile: Profile, caps: Capabilities, enabled: readonly string[] | undefined, setting?: CaseSetting): GenModel {
  return new GenModel(profile, caps, enabled ? new Set(enabled) : undefined, setting);
}

export { HPAGE };
