/**
 * What every family of commands shares: the generation environment (profile,
 * capabilities, ABI-defect arbitraries), step builders over the uAPI data,
 * queries over the model's pools (areas, pairs of areas, spans, holes...),
 * and the book-keeping steps that more than one family files.
 */
import fc from 'fast-check';
import type { Capabilities } from '../../../spec/contract/types.ts';
import { commandByName, enumValue, testOpByName } from '../../../spec/uapi/lookup.ts';
import { IOMMU_HW_CAP_DIRTY_TRACKING, IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED, IOMMU_HW_CAP_PCI_PASID_EXEC, IOMMU_HW_CAP_PCI_PASID_PRIV, IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV, MOCK_PAGE_SIZE } from '../../../spec/uapi/constants.ts';
import type { Profile } from '../../../spec/uapi/profiles.ts';
import { buildIoctlArg } from '../../../spec/abi/arg.ts';
import { PAGE } from '../ranges.ts';
import type { TraceStep } from '../session.ts';
import { type Defect, Ref, type StepTemplate, type Tmpl } from '../step.ts';
import { type AbiChoice, applyAbi, otherRequest, type RequestBits } from './abi.ts';
import { type AccEntry, type AreaEntry, type BufEntry, type CtxEntry, type DfdEntry, GenModel, type ObjEntry, pick, type VmEntry } from './model.ts';
import type { IdChoice, IovaBounds } from './values.ts';

export interface GenEnv {
  readonly profile: Profile;
  readonly caps: Capabilities;
  /** The ABI choices of one command's struct (gen/abi.ts abiChoiceFor); `detaching`: a read-only
   * argument too for a command whose faulting answer detaches (the caller drops it where that is no unwind). */
  /** The ABI choices of a command (of one IOMMU_TEST_CMD op, where its answer fault unwinds). */
  abiFor(cmd: string, detaching?: boolean, testOp?: string): fc.Arbitrary<AbiChoice>;
}

export const ok = (step: TraceStep): boolean => step.status === 'ok';

export const PAGE_BYTES = Number(PAGE);
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
export function stampOf(k: number, pages: number): Uint8Array {
  const at = (k * 1031) % (STAMP_PAGES * PAGE_BYTES);
  return STAMP.subarray(at, at + Math.min(pages, STAMP_PAGES) * PAGE_BYTES);
}

/** What a caller's buffer holds before an ioctl writes it: none of it zero, so a byte written shows. */
export const SLACK_BYTES = new Uint8Array(256).map((_, i) => (0xa5 ^ i) | 1);

/** What an earlier GET_HW_INFO answer leaves in a reused struct: every capability bit, a 20-bit PASID width. */
export const STALE_HW_CAPS = BigInt(IOMMU_HW_CAP_DIRTY_TRACKING | IOMMU_HW_CAP_PCI_PASID_EXEC | IOMMU_HW_CAP_PCI_PASID_PRIV | IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED);
export const STALE_PASID_LOG2 = 20;
/** ... and the type of the device it asked before (one no unit here has): 7.3 reads it as in_data_type only with IOMMU_HW_INFO_FLAG_INPUT_TYPE. */
export const STALE_HW_TYPE = IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV;

/** IOMMU_IOAS_MAP's flag bits. */
export function mapFlags(p: Profile): { fixed: number; write: number; read: number } {
  return { fixed: v(p, 'IOMMU_IOAS_MAP_FIXED_IOVA'), write: v(p, 'IOMMU_IOAS_MAP_WRITEABLE'), read: v(p, 'IOMMU_IOAS_MAP_READABLE') };
}

export function v(p: Profile, name: string): number {
  const n = enumValue(p, name);
  if (n === undefined) throw new Error(`spec/uapi has no ${name} in profile ${p}`);
  return n;
}

/** An IOMMU_TEST_CMD of the named selftest op on a context: its id, and its member of the op union. */
export function testOpStep(env: GenEnv, ctx: CtxEntry, name: string, id: Tmpl, member: string | undefined, fields: { [k: string]: Tmpl }, abi: AbiChoice, bind?: { [n: string]: string }, defects?: Defect[]): StepTemplate | undefined {
  const op = testOpByName(env.profile, name) as { value: number };
  return ioctlStep(env, 'IOMMU_TEST_CMD', new Ref(ctx.name), { op: op.value, id, ...(member && { [member]: fields }) }, abi, { ...(bind && { bind }), ...(defects && { defects }) });
}

export function ioctlStep(env: GenEnv, cmdName: string, fd: Tmpl, fields: { [k: string]: Tmpl }, abi: AbiChoice, opts: { bind?: { [n: string]: string }; defects?: Defect[] } = {}): StepTemplate | undefined {
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

export const requestBits = fc.constantFrom<RequestBits>('type', 'dir', 'dir', 'size', 'size');

/**
 * A command issued with a request number that is no command's (gen/abi.ts
 * otherRequest: its nr with other type, direction or size bits), its argument
 * literal: the struct of `fields` as raw bytes, or `value` as an integer (the
 * number names no struct to encode). Every dispatcher matches whole numbers
 * (iommufd_fops_ioctl: op->ioctl_num != cmd; VFIO's switches): refused before
 * anything runs. Only commands whose argument needs no earlier binding qualify.
 */
export function otherRequestStep(env: GenEnv, fd: Tmpl, cmdName: string, bits: RequestBits, arg: { readonly fields: { readonly [k: string]: number | bigint } } | { readonly value: bigint }): StepTemplate | undefined {
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
export function freshCtxs(m: GenModel): CtxEntry[] {
  return m.openCtxs().filter((x) => !m.objs.some((o) => o.ctx === x.name));
}

/** A page range of a buffer (a pool pick; `page` and `pages` cut to the buffer): the fields of pin_count, mem_unmap, mem_protect. */
export function bufPages(m: GenModel, c: { k: number; page: number; pages: number }): { [k: string]: Tmpl } {
  const b = pick(m.bufs, c.k) as { name: string; length: number };
  const total = Math.max(1, Math.floor(b.length / 4096));
  const first = c.page % total;
  const n = Math.min(c.pages, total - first);
  return { buffer: new Ref(b.name, 'buffer'), offset: first * 4096, length: n * 4096 };
}

export function ctxOf(m: GenModel, k: number): CtxEntry | undefined {
  if (k % 23 === 22) return pick(m.ctxs, k);
  return pick(m.openCtxs(), k) ?? pick(m.ctxs, k);
}

/** An id defect the uAPI names (ENOENT for an id that does not exist). */
export function idDefects(c: IdChoice, o: ObjEntry | undefined): Defect[] {
  if (c.kind === 'live') return [];
  if (!o || !o.alive || c.kind === 'otherCtx') return [{ what: 'an id that does not exist', errno: 'ENOENT' }];
  return [{ what: `an id of the wrong type (${o.kind})`, errno: 'ENOENT' }, { what: 'an id of the wrong type', errno: 'EINVAL' }];
}

export function supported(caps: Capabilities, cmd: string): boolean {
  return caps.commands[cmd]?.supported === true;
}

export function testOpSupported(env: GenEnv, op: string): boolean {
  return supported(env.caps, 'IOMMU_TEST_CMD') && env.caps.testOps[op]?.supported === true && testOpByName(env.profile, op) !== undefined;
}

export function opSupported(caps: Capabilities, op: keyof Capabilities['ops']): boolean {
  return caps.ops[op]?.supported === true;
}

export function areasFor(m: GenModel, ctx: CtxEntry | undefined, ioas: string | undefined): AreaEntry[] {
  const exact = m.liveAreas(ctx?.name, ioas);
  return exact.length > 0 ? exact : m.liveAreas(ctx?.name);
}

/**
 * What bounds an IOAS's IOVAs: what it is known to reserve, its own ranges
 * (IOMMU_TEST_OP_ADD_RESERVED) and the region of each device with one of its
 * own attached to it, and the units of the devices attached to it.
 */
export function boundsFor(m: GenModel, ioas: string | undefined): IovaBounds {
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
export function bindCtx(m: GenModel, d: DfdEntry, k: number, to?: string): CtxEntry {
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
export function siblingPt(m: GenModel, d: DfdEntry, ctx: string, k: number, c: IdChoice): { id: Tmpl; obj?: ObjEntry } | undefined {
  if (k % 4 !== 3 || c.kind !== 'live') return undefined;
  const sibling = m.dfds.find((x) => x !== d && x.open && x.ctx === ctx && x.attached && x.dev.group === d.dev.group);
  const hwpt = sibling && m.objs.find((o) => o.name === sibling.attached);
  if (!hwpt?.ioas) return undefined;
  const other = m.objs.find((o) => o.alive && o.kind === 'ioas' && o.ctx === ctx && o.name !== hwpt.ioas);
  return other && { id: new Ref(other.name), obj: other };
}

/** Pairs of live areas of one IOAS, lower first, the upper one longer than a page (so a range can end inside it). */
export function areaPairs(m: GenModel): [AreaEntry, AreaEntry][] {
  const live = m.liveAreas().filter((a) => m.ctxs.find((c) => c.name === a.ctx)?.open);
  return live.flatMap((lo) => live.filter((hi) => hi !== lo && hi.ctx === lo.ctx && hi.ioas === lo.ioas && hi.iova > lo.iova && hi.length > PAGE).map((hi): [AreaEntry, AreaEntry] => [lo, hi]));
}

/** Live areas longer than a page, page-aligned, that an access item the model knows pins pages of. */
export function pinnedAreas(m: GenModel): AreaEntry[] {
  return m.liveAreas().filter((a) => a.length > PAGE && a.length % PAGE === 0n && a.iova % PAGE === 0n && m.items.some((i) => i.alive && i.pin?.area === a.name));
}

/**
 * A unit that enforces cache coherency for every device, the case's own when
 * there are several (CaseSetting.unit): the constructors that need one spread
 * over every driver that can, not the first in the report.
 */
export function enforcingUnit(m: GenModel): number {
  const units = m.caps.iommus.flatMap((i, k) => (i.enforceCacheCoherency ? [k] : []));
  return units.length ? (units[m.setting.unit % units.length] as number) : -1;
}

/** areaPairs that touch (no gap between them), page-aligned, both of user memory the model knows. */
export function touchingPairs(m: GenModel): [AreaEntry, AreaEntry][] {
  return areaPairs(m).filter(([lo, hi]) => lo.iova + lo.length === hi.iova && lo.iova % PAGE === 0n && lo.length % PAGE === 0n && lo.buf !== undefined && hi.buf !== undefined);
}

/** The span one leaf table of the IO page table covers (4 KiB leaves, 512 to a table). */
export const TABLE_SPAN = 2n << 20n;

/**
 * Pairs of live areas of one IOAS in one 2 MiB span of the IO page table, the
 * upper one starting after the lower and running past the span's end.
 */
export function spanPairs(m: GenModel): [AreaEntry, AreaEntry][] {
  const live = m.liveAreas().filter((a) => m.ctxs.find((c) => c.name === a.ctx)?.open);
  return live.flatMap((lo) =>
    live
      .filter((hi) => hi !== lo && hi.ctx === lo.ctx && hi.ioas === lo.ioas && hi.iova >= lo.iova + lo.length && hi.iova / TABLE_SPAN === lo.iova / TABLE_SPAN && hi.iova + hi.length > (hi.iova / TABLE_SPAN + 1n) * TABLE_SPAN)
      .map((hi): [AreaEntry, AreaEntry] => [lo, hi]),
  );
}

/** Where whole-span areas go: 1 GiB up (inside every unit's aperture, below the usual MSI windows). */
export const SPAN_BASE = 0x40000000n;

/** The `skip`-th 2 MiB-aligned span from SPAN_BASE that no live area of the IOAS meets. */
export function freeSpan(m: GenModel, ctx: string, ioas: string, skip = 0): bigint | undefined {
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
export function wholeSpans(m: GenModel): AreaEntry[] {
  const held = new Set(m.live('hwpt').map((h) => h.ioas));
  return m.liveAreas().filter((a) => held.has(a.ioas) && a.length === TABLE_SPAN && a.iova % TABLE_SPAN === 0n && m.ctxs.find((c) => c.name === a.ctx)?.open && !m.bufs.find((b) => b.name === a.buf)?.huge);
}

/**
 * Live areas of less than a page table's span, each alone in its 2 MiB span of
 * an IOAS an attached device's domain holds (4 KiB leaves in a leaf table of
 * their own): unmapped, they leave that table empty but linked.
 */
export function loneSpanAreas(m: GenModel): AreaEntry[] {
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
export const TIGHT = { low: 2n * PAGE, high: 5n * PAGE, len: 2n * PAGE } as const;
/** A byte offset into a page the selftest's mock domains map from (their page size, iommufd_test.h MOCK_PAGE_SIZE). */
export const MOCK_SUB_PAGE = BigInt(MOCK_PAGE_SIZE);

/** A fixed-IOVA IOMMU_IOAS_MAP of a buffer into a named IOAS, once it succeeded, as the model's area. */
export function recordFixedMap(m: GenModel, t: StepTemplate, step: TraceStep, map: { read: number; write: number }): void {
  const f = (t.fields['arg'] as { fields: { ioas_id: Ref; user_va: Ref; iova: bigint; length: bigint; flags: number } }).fields;
  const o = m.objs.find((x) => x.name === f.ioas_id.name);
  if (!ok(step) || !o) return;
  const read = (f.flags & map.read) !== 0;
  const write = (f.flags & map.write) !== 0;
  m.areas.push({ name: Object.keys(t.bind ?? {})[0] as string, ctx: o.ctx, ioas: o.name, iova: f.iova, length: f.length, buf: f.user_va.name, bufOff: Number(f.user_va.add), read, write, alive: true });
}

/** IOASes with the high wall of a tight hole and nothing else below it and the page above it. */
export function tightHoles(m: GenModel): ObjEntry[] {
  return m.live('ioas').filter((o) => {
    if (o.allowed?.length || !m.ctxs.find((c) => c.name === o.ctx)?.open) return false;
    const low = m.liveAreas(o.ctx, o.name).filter((a) => a.iova < TIGHT.high + PAGE);
    return low.length === 1 && low[0]!.iova === TIGHT.high;
  });
}

/** A 2 MiB-aligned buffer to map the hole's length from. */
export function tightBuf(m: GenModel): BufEntry | undefined {
  return m.bufs.find((b) => b.huge && BigInt(b.length) >= TIGHT.len);
}

/**
 * A read-only one-page area first in a 2 MiB span (at its second page) of an
 * IOAS an attached device reaches, with the page after it free (or, once the
 * writable page is there, `taken`), and that device.
 */
export function roSpanTargets(m: GenModel, taken = false): { area: AreaEntry; dev: string }[] {
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
export const LEAF_RUN_PAGES = 2 * Number(TABLE_SPAN / PAGE) + 1;

/** Live areas of a huge buffer that start at a 2 MiB boundary and run past a second one, in an IOAS an attached device's domain holds. */
export function leafRuns(m: GenModel): AreaEntry[] {
  const held = new Set(m.dfds.filter((d) => d.open && d.attached).map((d) => m.objs.find((o) => o.name === d.attached && o.alive)?.ioas));
  return m.liveAreas().filter((a) => held.has(a.ioas) && a.iova % TABLE_SPAN === 0n && a.length > 2n * TABLE_SPAN && m.bufs.find((b) => b.name === a.buf)?.huge && m.ctxs.find((c) => c.name === a.ctx)?.open);
}

export function superpageBuf(m: GenModel): BufEntry | undefined {
  return m.bufs.find((b) => b.huge && !b.readonly && BigInt(b.length) >= TABLE_SPAN);
}

/** IOAS_UNMAP of exactly one area the model knows. */
export function unmapAreaStep(env: GenEnv, a: AreaEntry): StepTemplate | undefined {
  return ioctlStep(env, 'IOMMU_IOAS_UNMAP', new Ref(a.ctx), { ioas_id: new Ref(a.ioas), iova: new Ref(a.name), length: a.length }, NONE);
}

/** The area an unmapAreaStep removed, once it succeeded. */
export function unmappedArea(m: GenModel, t: StepTemplate, step: TraceStep): AreaEntry | undefined {
  const at = (t.fields['arg'] as { fields: { iova: Tmpl } }).fields.iova;
  return ok(step) && at instanceof Ref ? m.areas.find((a) => a.name === at.name) : undefined;
}

/** After a DMA that went through: the area it reached, when the IOVA was given by one (GenModel.used). */
export function noteUsed(m: GenModel, t: StepTemplate, step: TraceStep): void {
  const at = t.fields['iova'];
  if (ok(step) && at instanceof Ref && m.areas.some((a) => a.alive && a.name === at.name)) m.used = at.name;
}

/** After an ACCESS_PAGES: its item, with what it pins when the IOVA was given by an area (ItemEntry.pin). */
export function notePin(m: GenModel, t: StepTemplate, step: TraceStep): void {
  if (!ok(step)) return;
  const f = (t.fields['arg'] as { fields: { id: Ref; access_pages: { flags: number; iova: Tmpl; length: bigint; uptr: Tmpl } } }).fields;
  const { flags, iova, length, uptr } = f.access_pages;
  const item = { name: Object.keys(t.bind ?? {})[0] as string, acc: f.id.name, alive: true };
  m.items.push(iova instanceof Ref && m.areas.some((a) => a.name === iova.name) ? { ...item, pin: { area: iova.name, iova, length, uptr, flags } } : item);
}

/** The area a failed ACCESS_PAGES named, every other time (by its choice's offset). */
export function failedPinArea(m: GenModel, c: { off: number }, t: StepTemplate, step: TraceStep): AreaEntry | undefined {
  if (ok(step) || c.off % 2 !== 0) return undefined;
  const iova = (t.fields['arg'] as { fields: { access_pages: { iova: Tmpl } } }).fields.access_pages.iova;
  return iova instanceof Ref ? m.areas.find((a) => a.alive && a.name === iova.name) : undefined;
}

/** Whether the model knows of anything holding an IOAS: a HWPT on it, a device attached to it, an open access. */
export function ioasHeld(m: GenModel, ioas: string): boolean {
  return m.objs.some((o) => o.alive && o.ioas === ioas) || m.dfds.some((d) => d.open && d.attached === ioas) || m.accs.some((a) => a.open && a.ioas === ioas);
}

/**
 * A pinning access with a page-aligned area of its own IOAS to pin, and an
 * IOAS of its context that no domain holds with an area at a byte offset
 * into a page: moving the access there must fail (an access pins whole
 * pages: iopt_calculate_iova_alignment, EADDRINUSE) and leave it where it was.
 */
export function unalignedTargets(m: GenModel): { acc: AccEntry; area: AreaEntry; to: string }[] {
  const held = new Set(m.live('hwpt').map((h) => h.ioas));
  return m.accs.flatMap((acc) => {
    const area = acc.open && acc.pin ? m.liveAreas(acc.ctx, acc.ioas).find((a) => a.buf && a.iova % PAGE === 0n) : undefined;
    if (!area) return [];
    const to = m.liveAreas(acc.ctx).find((a) => a.ioas !== acc.ioas && a.iova % PAGE !== 0n && !held.has(a.ioas));
    return to ? [{ acc, area, to: to.ioas }] : [];
  });
}

/**
 * A device on a nesting parent over `ioas` (a VMM's stage 2 before the guest's table) meets a
 * write-only page mapped into the IOAS (a guest's DMA-out buffer): a stage-2 table keeps read and
 * write apart, so the device's read of it faults, which the step's probes try. Then a page it may
 * read and write is mapped and unmapped again (a buffer used and freed): the stage-2 range
 * invalidation must reach what the map's probes left in the IOTLB.
 */
export function writeOnlyThenUsed(env: GenEnv, m: GenModel, fd: Ref, ioas: Ref): StepTemplate[] {
  const MAP = mapFlags(env.profile);
  const b = m.bufs.find((x) => !x.readonly && x.length >= PAGE_BYTES);
  if (!b) return [];
  const used = m.fresh('area');
  return [
    ioctlStep(env, 'IOMMU_IOAS_MAP', fd, { flags: MAP.write, ioas_id: ioas, user_va: new Ref(b.name, 'va'), length: PAGE, iova: 0n }, NONE, {}),
    ioctlStep(env, 'IOMMU_IOAS_MAP', fd, { flags: MAP.read | MAP.write, ioas_id: ioas, user_va: new Ref(b.name, 'va'), length: PAGE, iova: 0n }, NONE, { bind: { [used]: 'out.iova' } }),
    ioctlStep(env, 'IOMMU_IOAS_UNMAP', fd, { ioas_id: ioas, iova: new Ref(used), length: PAGE }, NONE, {}),
  ].filter((x): x is StepTemplate => x !== undefined);
}

/** What a successful attach bound: the HWPT (auto-allocated for an IOAS, or the one asked for). */
export function recordAttach(m: GenModel, d: DfdEntry, t: StepTemplate): void {
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
export function noteLeft(m: GenModel, d: DfdEntry): void {
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
export function awayFrom(m: GenModel): { d: DfdEntry; to: ObjEntry; lost: boolean }[] {
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
export function kvmFile(m: GenModel, vm: VmEntry, op: 'kvm_vfio_add' | 'kvm_vfio_del', k: number): DfdEntry | undefined {
  const open = m.openDfds();
  const held = (d: DfdEntry): boolean => vm.files.includes(d.name);
  const wantHeld = k % 4 === 3 ? op === 'kvm_vfio_add' : op === 'kvm_vfio_del';
  const aimed = open.filter((d) => held(d) === wantHeld);
  return pick(aimed, k) ?? pick(m.dfds, k);
}

/** The model after a device fd's close: the file is gone from the pools, and its device binding with it (as far as the model knows: a VM may still hold the file). */
export function dfdClosed(m: GenModel, d: DfdEntry): void {
  d.open = false;
  for (const o of m.objs) if (o.name === d.devid) o.alive = false;
}

export type HwptData = 'none' | 'lenOnly' | 'typeOnly';

export const ctxK = fc.nat(31);
export const k16 = fc.nat(15);


export type DeviceCreate = { iommu: number; join: number; peer: number; sibling?: number; ecc: 'default' | 'yes' | 'no'; noSnoop: boolean; resv?: boolean; noDirty?: boolean };

/**
 * Where a device made with a reserved region of its own has it: inside every
 * unit's aperture, away from where areas are usually placed. Attaching the
 * device reserves it in the IOAS; only that device's detach frees it.
 */
export const DEVICE_RESV_IOVA = 0x4000000n;
export const DEVICE_RESV_PAGES = 4;

/** A fixed read-write MAP of a buffer's first pages into a device's reserved region (page `page` on): EADDRINUSE while the device is attached to that IOAS. */
export function reservedMapStep(env: GenEnv, ctx: string, ioas: string, buf: string, page: number, pages: number, bind?: { [n: string]: string }): StepTemplate | undefined {
  const flags = mapFlags(env.profile);
  return ioctlStep(env, 'IOMMU_IOAS_MAP', new Ref(ctx), { flags: flags.read | flags.write | flags.fixed, ioas_id: new Ref(ioas), user_va: new Ref(buf, 'va'), length: BigInt(pages) * PAGE, iova: DEVICE_RESV_IOVA + BigInt(page) * PAGE }, NONE, bind ? { bind } : {});
}

/** After a set_process that succeeded: the CAP_IPC_LOCK it set, as the model follows it. */
export function noteCapIpcLock(m: GenModel, _c: unknown, t: StepTemplate, step: TraceStep): void {
  const cap = t.fields['capIpcLock'];
  if (ok(step) && typeof cap === 'boolean') m.capIpcLock = cap;
}

/** An attach step's `after`: what the attach of the device file it names bound, when it succeeded. */
export function recordAttachOf(m: GenModel, _c: unknown, t: StepTemplate, step: TraceStep): void {
  const d = m.dfds.find((x) => x.name === (t.fields['fd'] as Ref).name);
  if (ok(step) && d) recordAttach(m, d, t);
}

/** IOAS_IOVA_RANGES of one IOAS with room for eight ranges: what it offers after a step that may have moved a reserved region. */
export function rangesOf(env: GenEnv, ctx: string, ioas: string): StepTemplate | undefined {
  return ioctlStep(env, 'IOMMU_IOAS_IOVA_RANGES', new Ref(ctx), { ioas_id: new Ref(ioas), num_iovas: 8, allowed_iovas: { room: 8 * 16 } }, NONE, {});
}

/**
 * The live IOAS a step's object field names: the IOAS itself, or a HWPT's
 * (where a new domain or a device's regions would have gone).
 */
export function namedIoas(m: GenModel, id: Tmpl | undefined): ObjEntry | undefined {
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
export function rangesAfterFailure(env: GenEnv, m: GenModel, t: StepTemplate, step: TraceStep, pt: (arg: { [k: string]: Tmpl }) => Tmpl | undefined): StepTemplate | undefined {
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
export function rangesAfterFailedAttach(env: GenEnv, m: GenModel, t: StepTemplate, step: TraceStep): StepTemplate | undefined {
  if (step.status !== 'failed' || !supported(env.caps, 'IOMMU_IOAS_IOVA_RANGES')) return undefined;
  const d = m.dfds.find((x) => x.name === (t.fields['fd'] as Ref).name);
  // Its own regions, or its unit's (an MSI window the capability report lists).
  const reserves = d && (d.dev.resv || (d.dev.iommu.reservedRegions?.length ?? 0) > 0);
  const h = reserves && d.attached ? m.objs.find((o) => o.name === d.attached && o.alive) : undefined;
  const ioas = h?.ioas ? m.objs.find((o) => o.name === h.ioas && o.kind === 'ioas' && o.alive) : undefined;
  return ioas ? rangesOf(env, ioas.ctx, ioas.name) : rangesAfterFailure(env, m, t, step, (f) => f['pt_id']);
}

export const NONE: AbiChoice = { kind: 'none' };
