/**
 * The iommufd ioctls on IOASes and HWPTs: IOAS alloc, map (fixed and
 * automatic IOVA, huge pages, the address space's edges), copy, unmap,
 * allowed IOVAs and IOVA ranges, options, HWPT alloc, destroy, hardware
 * info, and the malformed requests (wrong type, direction or size bits).
 */
import fc from 'fast-check';
import { enumValue } from '../../../spec/uapi/lookup.ts';
import { decodeStruct, encodeStruct } from '../../../spec/abi/codec.ts';
import { offsetofend, requireLayout, structLayout } from '../../../spec/uapi/layout.ts';
import { MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES, MOCK_FLAGS_ACCESS_SYZ } from '../../../spec/uapi/constants.ts';
import { decodeRanges, encodeRanges, PAGE, U64_MAX, type Range } from '../ranges.ts';
import type { CaseSession, TraceStep } from '../session.ts';
import { type Defect, Ref, type StepTemplate, type Tmpl } from '../step.ts';
import type { AbiChoice, RequestBits } from './abi.ts';
import { type AreaEntry, type BufEntry, type CtxEntry, GenModel, type ObjEntry, type ObjKind, pick } from './model.ts';
import { type IdChoice, idChoice, idOf, type IovaChoice, iovaChoice, iovaOf, type LenChoice, lenChoice, lengthOf, smallBytes, type VaChoice, vaChoice, vaOf } from './values.ts';
import type { CommandSpec } from './command.ts';
import { areaPairs, areasFor, boundsFor, ctxK, ctxOf, DEVICE_RESV_PAGES, freeSpan, freshCtxs, type GenEnv, type HwptData, idDefects, ioctlStep, k16, leafRuns, loneSpanAreas, mapFlags, MOCK_SUB_PAGE, NONE, ok, opSupported, otherRequestStep, PAGE_BYTES, pinnedAreas, rangesAfterFailure, rangesOf, recordAttachOf, recordFixedMap, requestBits, reservedMapStep, roSpanTargets, SLACK_BYTES, SPAN_BASE, testOpStep, testOpSupported, STALE_HW_CAPS, STALE_PASID_LOG2, STALE_HW_TYPE, spanPairs, superpageBuf, supported, TABLE_SPAN, TIGHT, tightBuf, tightHoles, touchingPairs, unmapAreaStep, unmappedArea, v, wholeSpans, writeOnlyThenUsed } from './shared.ts';

export function ioasSpecs(env: GenEnv): CommandSpec<never>[] {
  const { profile: p, caps } = env;
  const specs: CommandSpec<never>[] = [];
  const add = <C,>(spec: CommandSpec<C>): void => {
    specs.push(spec as unknown as CommandSpec<never>);
  };
  const MAP = mapFlags(p);
  const prot = fc.oneof({ weight: 6, arbitrary: fc.constant(MAP.read | MAP.write) }, { weight: 2, arbitrary: fc.constant(MAP.read) }, { weight: 1, arbitrary: fc.constant(MAP.write) }, { weight: 1, arbitrary: fc.constant(0) });
  const has = (c: string): boolean => supported(caps, c);
  // GET_HW_INFO into a buffer that holds a driver's registers whole (VT-d's cap_reg and ecap_reg, 24
  // bytes; SMMUv3's ID registers, 40).
  const vtdInfoLen = requireLayout(p, 'iommu_hw_info_vtd').size;
  const infoRoom = 64;
  // The units whose hardware info says whether a nesting parent can be made (VT-d ecap; 7.3 AMD EFR).
  const nestRegisters = (format: string): boolean => format.startsWith('vtd') || (p === '7.3' && format === 'amd-v1');
  const wholeInfoStep = (fd: Ref, dev: Tmpl): StepTemplate | undefined => ioctlStep(env, 'IOMMU_GET_HW_INFO', fd, { dev_id: dev, data_len: infoRoom, data_uptr: { room: infoRoom } }, NONE, {});

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
      // Every third new IOAS is allowed only [2 MiB, 6 MiB) and mapped 4 MiB at an automatic IOVA
      // from user_va 0 (nothing pins it: no domain, no access): the search aligns to the length,
      // clamped to HPAGE_SIZE (iopt_alloc_iova), so it lands at 2 MiB, the one hole. Then unmapped,
      // and the allowed ranges cleared again. Every other time the allowed IOVA is given as two
      // ranges that touch at 4 MiB: the search walks allowed spans, which merge touching ranges
      // (interval_tree_span_iter), so the map lands at 2 MiB across both.
      follow: (m, _c, t, step) => {
        const ioas = Object.keys(t.bind ?? {})[0];
        const count = m.objs.filter((o) => o.kind === 'ioas').length;
        if (!ok(step) || !ioas || count % 3 !== 1 || !has('IOMMU_IOAS_ALLOW_IOVAS') || !has('IOMMU_IOAS_MAP') || !has('IOMMU_IOAS_UNMAP')) return [];
        const fd = t.fields['fd'] as Ref;
        const hpage = 2n << 20n;
        const area = m.fresh('area');
        const allowed = count % 2 === 0 ? [{ start: hpage, last: 2n * hpage - 1n }, { start: 2n * hpage, last: 3n * hpage - 1n }] : [{ start: hpage, last: 3n * hpage - 1n }];
        return [
          ioctlStep(env, 'IOMMU_IOAS_ALLOW_IOVAS', fd, { ioas_id: new Ref(ioas), num_iovas: allowed.length, allowed_iovas: { data: encodeRanges(allowed) } }, NONE, {}),
          ioctlStep(env, 'IOMMU_IOAS_MAP', fd, { flags: MAP.read | MAP.write, ioas_id: new Ref(ioas), user_va: 0n, length: 2n * hpage, iova: 0n }, NONE, { bind: { [area]: 'out.iova' } }),
          ioctlStep(env, 'IOMMU_IOAS_UNMAP', fd, { ioas_id: new Ref(ioas), iova: new Ref(area), length: 2n * hpage }, NONE, {}),
          ioctlStep(env, 'IOMMU_IOAS_ALLOW_IOVAS', fd, { ioas_id: new Ref(ioas), num_iovas: 0, allowed_iovas: 0n }, NONE, {}),
        ].filter((x): x is StepTemplate => x !== undefined);
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
      // Then a mock domain asked to attach to the id just freed, which its own selftest object
      // takes as it is allocated (the lowest free id, where nothing lower was freed): invisible
      // until finalized, so the attach finds nothing there (ENOENT).
      follow: (m: GenModel, c: { ctx: number }, t: StepTemplate, step: TraceStep): StepTemplate[] => {
        const ctx = ok(step) ? ctxOf(m, c.ctx) : undefined;
        if (!ctx?.open) return [];
        const get = ctx.compat !== undefined && has('IOMMU_VFIO_IOAS') ? ioctlStep(env, 'IOMMU_VFIO_IOAS', new Ref(ctx.name), { op: v(p, 'IOMMU_VFIO_IOAS_GET'), ioas_id: 0 }, NONE, {}) : undefined;
        const freed = (t.fields['arg'] as { fields: { id: Tmpl } }).fields.id;
        const own = freed instanceof Ref && testOpSupported(env, 'IOMMU_TEST_OP_MOCK_DOMAIN') ? testOpStep(env, ctx, 'IOMMU_TEST_OP_MOCK_DOMAIN', freed, 'mock_domain', {}, NONE) : undefined;
        return [get, own].filter((x): x is StepTemplate => x !== undefined);
      },
    } satisfies CommandSpec<{ ctx: number; id: IdChoice; kind: ObjKind; abi: AbiChoice }>);
  }

  if (has('IOMMU_IOAS_MAP')) {
    // A read-only map (a guest ROM) into an IOAS a domain holds, above a writable area, while a
    // VT-d device is bound in the context: its vIOMMU's nesting parent over the IOAS (IOMMU_HWPT_ALLOC
    // NEST_PARENT; EOPNOTSUPP on a unit without nesting). That domain takes no read-only IOPTE (ERRATA_772415_SPR17),
    // so iopt_fill_domain fails at this area after filling the writable one: its unwind takes that
    // area out of the new domain only, the domain already there still maps it and holds its pins.
    const readOnlyNestParent = (m: GenModel, c: { prot: number }, t: StepTemplate, step: TraceStep): StepTemplate | undefined => {
      const a = ok(step) && c.prot === MAP.read ? m.areas.find((x) => x.name === Object.keys(t.bind ?? {})[0]) : undefined;
      const areas = a ? m.liveAreas(a.ctx, a.ioas) : [];
      const firstRo = areas.reduce((lo, x) => (x.write || x.iova > lo ? lo : x.iova), U64_MAX);
      if (!a || !m.live('hwpt', a.ctx).some((h) => h.ioas === a.ioas) || !areas.some((x) => x.write && x.iova < firstRo)) return undefined;
      const d = m.dfds.find((x) => x.open && x.ctx === a.ctx && x.devid && x.dev.iommu.format === 'vtd-ss');
      return d && ioctlStep(env, 'IOMMU_HWPT_ALLOC', new Ref(a.ctx), { flags: v(p, 'IOMMU_HWPT_ALLOC_NEST_PARENT'), dev_id: new Ref(d.devid as string), pt_id: new Ref(a.ioas), data_type: 0 }, NONE, { bind: { [m.fresh('hwpt')]: 'out.out_hwpt_id' } });
    };
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
      // Every other automatic map that took is made again from the same struct with an iova of
      // ULONG_MAX left in it (an answer a caller kept): refused first (EOVERFLOW), whatever the flags.
      follow: (m: GenModel, c: { ctx: number; prot: number; fixed: boolean }, t: StepTemplate, step: TraceStep): StepTemplate[] => {
        const f = (t.fields['arg'] as { fields: { [k: string]: Tmpl } }).fields;
        const again = ok(step) && !c.fixed && c.ctx % 2 === 0 ? ioctlStep(env, 'IOMMU_IOAS_MAP', t.fields['fd'] as Ref, { ...f, iova: U64_MAX }, NONE, { defects: [{ what: 'an iova of ULONG_MAX', errno: 'EOVERFLOW', field: 'iova', abi: true }] }) : undefined;
        // A length above SIZE_MAX - PAGE_SIZE refused with a user_va it wraps is asked again from
        // user_va 0, where nothing wraps: the length bound alone refuses it (iopt_alloc_pages: EINVAL).
        const length = f['length'];
        const tooLong = !ok(step) && typeof length === 'bigint' && length > U64_MAX - PAGE && length < U64_MAX && f['user_va'] !== 0n ? ioctlStep(env, 'IOMMU_IOAS_MAP', t.fields['fd'] as Ref, { ...f, user_va: 0n }, NONE, {}) : undefined;
        // Every other map that took is asked again from the user_va whose range ends exactly at the
        // top of the address space: user_va + length wraps to 0, refused (EOVERFLOW) before anything
        // else is judged of the pages.
        const top = ok(step) && c.ctx % 2 === 1 && typeof length === 'bigint' && length > 0n && length < 1n << 62n ? ioctlStep(env, 'IOMMU_IOAS_MAP', t.fields['fd'] as Ref, { ...f, user_va: (1n << 64n) - length }, NONE, {}) : undefined;
        return [again, tooLong, top, has('IOMMU_HWPT_ALLOC') ? readOnlyNestParent(m, c, t, step) : undefined].filter((x): x is StepTemplate => x !== undefined);
      },
      ...(has('IOMMU_HWPT_ALLOC') && {
        afterFollow: (m: GenModel, _c: unknown, t: StepTemplate, step: TraceStep): void => {
          const f = (t.fields['arg'] as { fields: { pt_id: Ref } }).fields;
          if (ok(step) && t.fields['cmd'] === 'IOMMU_HWPT_ALLOC') m.objs.push({ name: Object.keys(t.bind ?? {})[0] as string, kind: 'hwpt', ctx: (t.fields['fd'] as Ref).name, alive: true, ioas: f.pt_id.name, nestParent: true, auto: false });
        },
      }),
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
      // One area unmap in four that took is followed by an unmap of length U64_MAX from IOVA
      // PAGE_SIZE: only iova 0 with that length is unmap-all, so this one is refused (EOVERFLOW).
      follow: (_m, c, t, step) => {
        const f = (t.fields['arg'] as { fields: { ioas_id: Tmpl } }).fields;
        return ok(step) && c.how === 'area' && c.b % 4 === 0 ? ioctlStep(env, 'IOMMU_IOAS_UNMAP', t.fields['fd'] as Ref, { ioas_id: f.ioas_id, iova: PAGE, length: U64_MAX }, NONE, {}) : undefined;
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
  // Before the unmap another page is mapped right behind it, in the same 2 MiB, and unmapped
  // after it: the unmap's last chunk starts on a 2 MiB boundary with a page left, and must stop
  // at the range's end (__iommu_unmap sizes each chunk from what is left: iommu_pgsize).
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
      const f = (t.fields['arg'] as { fields: { ioas_id: Tmpl; user_va: Tmpl; iova: bigint; length: bigint } }).fields;
      if (!ok(step)) return undefined;
      const fd = t.fields['fd'] as Tmpl;
      const behind = f.iova + f.length;
      // Then the buffer from its second page at the first span's 2 MiB boundary, a 2 MiB run and a
      // page: the IOVA is 2 MiB aligned but the memory is not, so only small pages map it (the page
      // size is chosen from the IOVA and the physical address together: iommu_pgsize's addr_merge).
      const start = f.iova - (TABLE_SPAN - PAGE);
      const skewed = f.user_va instanceof Ref ? new Ref(f.user_va.name, 'va', PAGE) : undefined;
      return [
        ioctlStep(env, 'IOMMU_IOAS_MAP', fd, { flags: MAP.read | MAP.write | MAP.fixed, ioas_id: f.ioas_id, user_va: f.user_va, length: PAGE, iova: behind }, NONE, {}),
        ioctlStep(env, 'IOMMU_IOAS_UNMAP', fd, { ioas_id: f.ioas_id, iova: f.iova, length: f.length }, NONE, {}),
        ioctlStep(env, 'IOMMU_IOAS_UNMAP', fd, { ioas_id: f.ioas_id, iova: behind, length: PAGE }, NONE, {}),
        skewed && ioctlStep(env, 'IOMMU_IOAS_MAP', fd, { flags: MAP.read | MAP.write | MAP.fixed, ioas_id: f.ioas_id, user_va: skewed, length: TABLE_SPAN + PAGE, iova: start }, NONE, {}),
        skewed && ioctlStep(env, 'IOMMU_IOAS_UNMAP', fd, { ioas_id: f.ioas_id, iova: start, length: TABLE_SPAN + PAGE }, NONE, {}),
      ].filter((x): x is StepTemplate => x !== undefined);
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
      // Every other automatic copy that took is made again from the same struct with a dst_iova of
      // ULONG_MAX left in it, as the automatic map is (EOVERFLOW first, whatever the flags). A copy
      // between two IOASes is made again in syzkaller's form (MOCK_FLAGS_ACCESS_SYZ, where the
      // selftest is built): the source as the nth area of the source IOAS plus an offset, which
      // iommufd_test_syz_conv_iova_id decodes there, not in the destination.
      follow: (m, c, t, step) => {
        const f = (t.fields['arg'] as { fields: { dst_ioas_id: Tmpl; src_ioas_id: Ref; src_iova: Ref; flags: number } }).fields;
        if (!ok(step)) return undefined;
        // Every other fixed copy that took is asked again for nothing (length 0): iopt_get_pages
        // refuses it first (EINVAL), whatever IOVA the source range would end at.
        const again = !c.fixed && c.ctx % 2 === 0 ? ioctlStep(env, 'IOMMU_IOAS_COPY', t.fields['fd'] as Tmpl, { ...(f as unknown as { [k: string]: Tmpl }), dst_iova: U64_MAX }, NONE, { defects: [{ what: 'a dst_iova of ULONG_MAX', errno: 'EOVERFLOW', field: 'dst_iova', abi: true }] }) : c.fixed && c.ctx % 2 === 1 ? ioctlStep(env, 'IOMMU_IOAS_COPY', t.fields['fd'] as Tmpl, { ...(f as unknown as { [k: string]: Tmpl }), length: 0n }, NONE, { defects: [{ what: 'a length of 0', errno: 'EINVAL', field: 'length' }] }) : undefined;
        if (!supported(env.caps, 'IOMMU_TEST_CMD') || !(f.dst_ioas_id instanceof Ref) || f.dst_ioas_id.name === f.src_ioas_id.name) return again;
        const a = m.areas.find((x) => x.name === f.src_iova.name);
        const areas = a ? m.liveAreas(a.ctx, a.ioas).sort((x, y) => (x.iova < y.iova ? -1 : x.iova > y.iova ? 1 : 0)) : [];
        const nth = a ? areas.indexOf(a) : -1;
        if (!a || nth < 0) return again;
        const syz = (BigInt(f.src_iova.add) << 32n) | BigInt(nth);
        return [again, ioctlStep(env, 'IOMMU_IOAS_COPY', t.fields['fd'] as Tmpl, { flags: (f.flags & (MAP.read | MAP.write)) | MOCK_FLAGS_ACCESS_SYZ, dst_ioas_id: f.dst_ioas_id, src_ioas_id: f.src_ioas_id, length: PAGE, dst_iova: 0n, src_iova: syz }, NONE, {})].filter((x): x is StepTemplate => x !== undefined);
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
      // Every other time, before the whole copy, a pinning access of the source IOAS pins the whole
      // area and then the same range again: the pin runs over a hole first and then into the span
      // the domain holds, which iopt_pages_fill_xarray reads back from the domain and records in the
      // pages' xarray, where the second pin (the exact-range fast path) and the whole copy take it.
      follow: (m, c, _t, step) => {
        const r = intoDomain(m, c.k);
        const whole = r && copy.build(m, r.choice);
        const ctx = r && m.ctxs.find((x) => x.name === r.src.ctx && x.open);
        if (!r || !whole || !ctx || !ok(step) || c.from % 2 === 0 || !r.src.buf || !testOpSupported(env, 'IOMMU_TEST_OP_CREATE_ACCESS') || !testOpSupported(env, 'IOMMU_TEST_OP_ACCESS_PAGES')) return whole;
        const afd = m.fresh('afd');
        const pin = (): StepTemplate | undefined => testOpStep(env, ctx, 'IOMMU_TEST_OP_ACCESS_PAGES', new Ref(afd), 'access_pages', { flags: 0, iova: new Ref(r.src.name), length: r.src.length, uptr: new Ref(r.src.buf as string, 'va', BigInt(r.src.bufOff)) }, NONE, { [m.fresh('item')]: 'out.access_pages.out_access_pages_id' });
        return [testOpStep(env, ctx, 'IOMMU_TEST_OP_CREATE_ACCESS', new Ref(r.src.ioas), 'create_access', { flags: MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES }, NONE, { [afd]: 'out.create_access.out_access_fd' }), pin(), pin(), whole].filter((x): x is StepTemplate => x !== undefined);
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
          // One that would run past the top ends on its last byte (the automatic search stops a page below).
          const clamped = start > U64_MAX - BigInt(r.pages) * PAGE + 1n ? U64_MAX - BigInt(r.pages) * PAGE + 1n : start;
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
      // Ranges that took are asked for again with one more, from a page below the first into it:
      // ranges of one request may not meet (iommufd_ioas_load_iovas: EINVAL), and the list stays.
      // A single well-formed range refused (for a reserved IOVA: EADDRINUSE) is asked for again
      // behind a first page of its own: iopt_set_allow_iova tests every range of the new list, not
      // only its lowest.
      follow: (_m, _c, t, step) => {
        const f = (t.fields['arg'] as { fields: { ioas_id: Tmpl; num_iovas: number; allowed_iovas: { data: Uint8Array } | bigint } }).fields;
        const refused = step.status === 'failed' && f.num_iovas === 1 && typeof f.allowed_iovas !== 'bigint' ? decodeRanges(f.allowed_iovas.data, 1)[0] : undefined;
        if (refused && refused.start >= 2n * PAGE && refused.start < refused.last && (t.defects?.length ?? 0) === 0) {
          return ioctlStep(env, 'IOMMU_IOAS_ALLOW_IOVAS', t.fields['fd'] as Ref, { ioas_id: f.ioas_id, num_iovas: 2, allowed_iovas: { data: encodeRanges([{ start: 0n, last: PAGE - 1n }, refused]) } }, NONE, {});
        }
        const first = ok(step) && typeof f.allowed_iovas !== 'bigint' ? decodeRanges(f.allowed_iovas.data, f.num_iovas)[0] : undefined;
        if (!first || first.start < PAGE || first.last - first.start < PAGE) return undefined;
        const ranges = [first, { start: first.start - PAGE, last: first.start + PAGE - 1n }];
        return ioctlStep(env, 'IOMMU_IOAS_ALLOW_IOVAS', t.fields['fd'] as Ref, { ioas_id: f.ioas_id, num_iovas: 2, allowed_iovas: { data: encodeRanges(ranges) } }, NONE, { defects: [{ what: 'two ranges that overlap', errno: 'EINVAL', abi: true }] });
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
      // Past the widest range: the allowed ranges cleared (ALLOW_IOVAS of none), then the same map
      // again, which the whole IOVA space now takes (iopt_set_allow_iova swaps in the empty tree).
      follow: (_m, c, t) => {
        const f = (t.fields['arg'] as { fields: { ioas_id: Tmpl; user_va: Tmpl; length: bigint } }).fields;
        const ctx = t.fields['fd'] as Tmpl;
        if (f.length === 0n) return [];
        const again = ioctlStep(env, 'IOMMU_IOAS_MAP', ctx, { flags: MAP.read | MAP.write, ioas_id: f.ioas_id, user_va: f.user_va, length: f.length, iova: 0n }, NONE, {});
        if (c.over === 0) return [again].filter((x): x is StepTemplate => x !== undefined);
        const clear = ioctlStep(env, 'IOMMU_IOAS_ALLOW_IOVAS', ctx, { ioas_id: f.ioas_id, num_iovas: 0, allowed_iovas: 0n }, NONE, {});
        return [clear, again].filter((x): x is StepTemplate => x !== undefined);
      },
      afterFollow: (m, _c, t, step) => {
        const f = t.fields['cmd'] === 'IOMMU_IOAS_ALLOW_IOVAS' && ok(step) ? (t.fields['arg'] as { fields: { ioas_id: Tmpl } }).fields : undefined;
        const o = f?.ioas_id instanceof Ref ? m.objs.find((x) => x.name === (f.ioas_id as Ref).name) : undefined;
        if (o) o.allowed = [];
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
      // Ranges that fitted asked for again into an array at NULL: the first copy faults (EFAULT),
      // inside the IOAS's lookup, whose reference the error path must still drop. Asked for an even
      // number, instead the same request again with __reserved set: refused first (EOPNOTSUPP).
      follow: (_m, c, t, step) => {
        const f = (t.fields['arg'] as { fields: { ioas_id: Tmpl } }).fields;
        if (!ok(step) || c.n === 0) return undefined;
        if (c.n % 2 === 1) return ioctlStep(env, 'IOMMU_IOAS_IOVA_RANGES', t.fields['fd'] as Ref, { ioas_id: f.ioas_id, num_iovas: c.n, allowed_iovas: 0n }, NONE, {});
        return ioctlStep(env, 'IOMMU_IOAS_IOVA_RANGES', t.fields['fd'] as Ref, { ioas_id: f.ioas_id, num_iovas: c.n, allowed_iovas: { room: c.n * 16 }, __reserved: 1 }, NONE, { defects: [{ what: 'a non-zero __reserved', errno: 'EOPNOTSUPP', field: '__reserved', abi: true }] });
      },
    } satisfies CommandSpec<{ ctx: number; ioas: IdChoice; n: number; slack: number; abi: AbiChoice }>);
  }

  if (has('IOMMU_OPTION')) {
    const opts = { rlimit: v(p, 'IOMMU_OPTION_RLIMIT_MODE'), huge: v(p, 'IOMMU_OPTION_HUGE_PAGES'), set: v(p, 'IOMMU_OPTION_OP_SET'), get: v(p, 'IOMMU_OPTION_OP_GET') };
    // A SET that took is made again from a read-only struct: the option is already so, and the copy
    // of val64 back, which iommufd_option makes after a SET too, faults (EFAULT).
    // (Built here, not through applyAbi's readOnly choice: that one is for commands that undo their
    // work when the answer cannot be copied back, and this one keeps it.)
    const setAgainReadOnly = (t: StepTemplate): StepTemplate | undefined => {
      const arg = t.fields['arg'] as { kind: 'struct'; fields: { [k: string]: Tmpl }; readOnly?: true };
      if (arg.readOnly || env.caps.readOnlyArgs?.supported !== true) return undefined;
      return { op: 'ioctl', fields: { fd: t.fields['fd'] as Ref, cmd: 'IOMMU_OPTION', arg: { ...arg, readOnly: true } as unknown as Tmpl } };
    };
    // Large pages turned off are then asked to be 2 (EINVAL: neither 0 nor 1, never read as "on"),
    // and read back: still off.
    const offStaysOff = (t: StepTemplate): (StepTemplate | undefined)[] => {
      const f = (t.fields['arg'] as { fields: { object_id: Tmpl } }).fields;
      const fd = t.fields['fd'] as Ref;
      return [
        ioctlStep(env, 'IOMMU_OPTION', fd, { option_id: opts.huge, op: opts.set, object_id: f.object_id, val64: 2n }, NONE, { defects: [{ what: 'val64 2 (neither 0 nor 1)', errno: 'EINVAL', abi: true }] }),
        ioctlStep(env, 'IOMMU_OPTION', fd, { option_id: opts.huge, op: opts.get, object_id: f.object_id, val64: 0n }, NONE, {}),
      ];
    };
    const reservedAgain = (t: StepTemplate): StepTemplate | undefined => {
      const arg = t.fields['arg'] as { fields: { [k: string]: Tmpl } };
      return ioctlStep(env, 'IOMMU_OPTION', t.fields['fd'] as Ref, { ...arg.fields, __reserved: 1 }, NONE, { defects: [{ what: 'a non-zero __reserved', errno: 'EOPNOTSUPP', field: '__reserved', abi: true }] });
    };
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
      // Large pages turned off stay off when asked to be 2 (offStaysOff).
      follow: (_m, c, t, step) => {
        if (!ok(step) || c.op !== opts.set) return undefined;
        const off = c.option === opts.huge && c.val === 0n;
        return [setAgainReadOnly(t), ...(off ? offStaysOff(t) : [])].filter((x): x is StepTemplate => x !== undefined);
      },
    } satisfies CommandSpec<{ ctx: number; option: number; op: number; ioas: IdChoice; val: bigint; abi: AbiChoice }>);
    // Large pages turned off on an IOAS with an area at a byte offset into a page: refused
    // (EADDRINUSE, the alignment cannot rise to PAGE_SIZE), and then the option must still read 1.
    const unalignedIoas = (m: GenModel): AreaEntry[] => m.liveAreas().filter((a) => (a.iova % PAGE !== 0n || a.length % PAGE !== 0n) && !m.live('hwpt').some((h) => h.ioas === a.ioas));
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
      // A GET whose value draw it does not use (0) is followed by a SET of 2, which a context with
      // no object refuses only for its value (EINVAL; with objects EBUSY comes first), and a GET
      // again: a refused SET leaves the mode it found, whatever it read first.
      // Whatever took is asked again with a non-zero __reserved, which iommufd_option refuses for
      // every option before it looks at one (EOPNOTSUPP), the mode left as it was.
      follow: (_m, c, t, step) => {
        const again = ok(step) ? reservedAgain(t) : undefined;
        if (ok(step) && c.op === opts.set) return [setAgainReadOnly(t), again].filter((x): x is StepTemplate => x !== undefined);
        if (!ok(step) || c.op !== opts.get || c.val !== 0n || c.object) return again;
        const fd = t.fields['fd'] as Tmpl;
        return [
          again,
          ioctlStep(env, 'IOMMU_OPTION', fd, { option_id: opts.rlimit, op: opts.set, object_id: 0, val64: 2n }, NONE, { defects: [{ what: 'val64 2 (neither 0 nor 1)', errno: 'EINVAL', abi: true }] }),
          ioctlStep(env, 'IOMMU_OPTION', fd, { option_id: opts.rlimit, op: opts.get, object_id: 0, val64: 0n }, NONE, {}),
        ].filter((x): x is StepTemplate => x !== undefined);
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
        const mapped = (o: ObjEntry): boolean => m.liveAreas(o.ctx, o.name).length > 0;
        // One SET of 0 in four that are undone at once (the follow-up) goes to an IOAS a domain
        // holds with nothing mapped, where it takes: the domain's own alignment must come back.
        const undo = c.val === 0n && c.k % 4 === 1;
        const ioas = (undo ? pick(m.live('ioas').filter((o) => held.has(o.name) && !mapped(o)), c.k) : undefined) ?? pick(m.live('ioas').filter((o) => held.has(o.name) && mapped(o)), c.k) ?? pick(m.live('ioas'), c.k);
        return ioas && ioctlStep(env, 'IOMMU_OPTION', new Ref(ioas.ctx), { option_id: opts.huge, op: opts.set, object_id: new Ref(ioas.name), val64: c.val }, NONE, {});
      },
      // Half the time large pages turned off are turned on again at once, and the IOAS's ranges
      // read: the IOVA alignment falls back to what its domains impose (iopt_enable_large_pages
      // clears the flag, then recalculates), a sub-page mock domain's 2 KiB, not PAGE_SIZE. The
      // other half they stay off when asked to be 2 (offStaysOff).
      follow: (_m, c, t, step) => {
        if (ok(step) && c.val === 0n && c.k % 2 === 0) return [setAgainReadOnly(t), ...offStaysOff(t)].filter((x): x is StepTemplate => x !== undefined);
        if (ok(step) && c.val !== 0n) return setAgainReadOnly(t);
        if (!ok(step) || c.val !== 0n || c.k % 2 === 0) return undefined;
        const f = (t.fields['arg'] as { fields: { object_id: Tmpl } }).fields;
        const ioas = f.object_id instanceof Ref ? f.object_id.name : undefined;
        const fd = t.fields['fd'] as Ref;
        return ioas === undefined ? undefined : [ioctlStep(env, 'IOMMU_OPTION', fd, { option_id: opts.huge, op: opts.set, object_id: f.object_id, val64: 1n }, NONE, {}), rangesOf(env, fd.name, ioas)].filter((x): x is StepTemplate => x !== undefined);
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
      // A CLEAR that took is followed by a GET: the context has no compat IOAS now (ENODEV). A SET
      // that took is made again with __reserved set: refused first (EOPNOTSUPP).
      follow: (_m, c, t, step) => {
        if (!ok(step)) return undefined;
        if (c.op === ops[2]) return ioctlStep(env, 'IOMMU_VFIO_IOAS', t.fields['fd'] as Ref, { ioas_id: 0, op: v(p, 'IOMMU_VFIO_IOAS_GET') }, NONE, {});
        const f = (t.fields['arg'] as { fields: { [k: string]: Tmpl } }).fields;
        return c.op === ops[1] ? ioctlStep(env, 'IOMMU_VFIO_IOAS', t.fields['fd'] as Ref, { ...f, __reserved: 1 }, NONE, { defects: [{ what: 'a non-zero __reserved', errno: 'EOPNOTSUPP', field: '__reserved', abi: true }] }) : undefined;
      },
    } satisfies CommandSpec<{ ctx: number; op: number; ioas: IdChoice; abi: AbiChoice }>);
  }

  if (has('IOMMU_VFIO_IOAS') && has('IOMMU_IOAS_ALLOC') && has('VFIO_IOMMU_MAP_DMA')) {
    // The compat IOAS moved to a new IOAS of the same context (IOMMU_VFIO_IOAS SET replaces
    // ictx->vfio_ioas whatever it was), then a type1 map and GET: both name the new one.
    add({
      kind: 'IOMMU_VFIO_IOAS/repoint',
      weight: 1,
      arb: fc.record({ ctx: ctxK, page: fc.nat(3) }),
      needs: ['compat', 'buf'], ready: () => true,
      build: (m, c) => {
        const ctx = pick(m.ctxs.filter((x) => x.compat !== undefined && x.open), c.ctx);
        return ctx && ioctlStep(env, 'IOMMU_IOAS_ALLOC', new Ref(ctx.name), {}, NONE, { bind: { [m.fresh('ioas')]: 'out.out_ioas_id' } });
      },
      after: (m, _c, t, step) => {
        if (ok(step)) m.objs.push({ name: Object.keys(t.bind ?? {})[0] as string, kind: 'ioas', ctx: (t.fields['fd'] as Ref).name, alive: true });
      },
      follow: (m, c, t, step) => {
        const b = pick(m.bufs, c.page);
        if (!ok(step) || !b) return undefined;
        const fd = t.fields['fd'] as Ref;
        const ioas = new Ref(Object.keys(t.bind ?? {})[0] as string);
        return [
          ioctlStep(env, 'IOMMU_VFIO_IOAS', fd, { op: v(p, 'IOMMU_VFIO_IOAS_SET'), ioas_id: ioas }, NONE, {}),
          ioctlStep(env, 'VFIO_IOMMU_MAP_DMA', fd, { flags: v(p, 'VFIO_DMA_MAP_FLAG_READ') | v(p, 'VFIO_DMA_MAP_FLAG_WRITE'), vaddr: new Ref(b.name, 'va'), iova: 0x100000n + BigInt(c.page) * PAGE, size: PAGE }, NONE, {}),
          ioctlStep(env, 'IOMMU_VFIO_IOAS', fd, { op: v(p, 'IOMMU_VFIO_IOAS_GET'), ioas_id: 0 }, NONE, {}),
        ].filter((x): x is StepTemplate => x !== undefined);
      },
      afterFollow: (m, _c, t, step) => {
        const f = (t.fields['arg'] as { fields?: { op?: Tmpl; ioas_id?: Tmpl } } | undefined)?.fields;
        const ctx = m.ctxs.find((x) => x.name === (t.fields['fd'] as Ref).name);
        if (ok(step) && ctx && f?.op === v(p, 'IOMMU_VFIO_IOAS_SET') && f.ioas_id instanceof Ref) ctx.compat = f.ioas_id.name;
      },
    } satisfies CommandSpec<{ ctx: number; page: number }>);
  }

  if (has('IOMMU_HWPT_ALLOC')) {
    const nest = v(p, 'IOMMU_HWPT_ALLOC_NEST_PARENT');
    const dirty = v(p, 'IOMMU_HWPT_ALLOC_DIRTY_TRACKING');
    // A non-DEFAULT user-data type: with data_len 0 it is EINVAL whatever the driver.
    const someDataType = v(p, 'IOMMU_HWPT_DATA_VTD_S1');
    const faultId = v(p, 'IOMMU_HWPT_FAULT_ID_VALID');
    const noDirty = v(p, 'MOCK_FLAGS_DEVICE_NO_DIRTY');
    // A dirty-tracking HWPT allocated for a mock device is offered a new mock device that cannot
    // track (MOCK_FLAGS_DEVICE_NO_DIRTY): the first device's allocation check does not cover it, so
    // only the driver's attach check stands between its writes and a dirty bitmap missing them.
    const noDirtyJoin = (m: GenModel, t: StepTemplate, step: TraceStep): StepTemplate | undefined => {
      const f = (t.fields['arg'] as { fields: { flags: Tmpl; dev_id: Tmpl } }).fields;
      const hwpt = Object.keys(t.bind ?? {})[0];
      const ctx = m.ctxs.find((x) => x.name === (t.fields['fd'] as Ref).name);
      if (!ok(step) || !hwpt || !ctx || !noDirty || typeof f.flags !== 'number' || (f.flags & dirty) === 0 || !testOpSupported(env, 'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS')) return undefined;
      if (!(f.dev_id instanceof Ref) || !m.objs.some((o) => o.kind === 'stdev' && o.ioas === (f.dev_id as Ref).name)) return undefined;
      return testOpStep(env, ctx, 'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS', new Ref(hwpt), 'mock_domain_flags', { dev_flags: noDirty }, NONE);
    };
    // A paging HWPT a mock device took with no data is asked for again with the selftest driver
    // data a 7.3 mock takes (IOMMU_HWPT_DATA_SELFTEST: an older caller's 4 bytes, iotlb alone, 8
    // naming the default page table, or 8 naming the huge one, 4 KiB and 1 MiB pages, in turn): the
    // driver copies up to its first member at least.
    const mockPt = enumValue(p, 'MOCK_IOMMUPT_DEFAULT');
    const mockHugePt = enumValue(p, 'MOCK_IOMMUPT_HUGE');
    const mockData = (m: GenModel, t: StepTemplate, step: TraceStep): readonly (StepTemplate | undefined)[] => {
      const f = (t.fields['arg'] as { fields: { flags: Tmpl; dev_id: Tmpl; pt_id: Tmpl; data_type: Tmpl; data_len?: Tmpl } }).fields;
      if (!ok(step) || mockPt === undefined || f.data_type !== 0 || f.data_len !== undefined || !(f.dev_id instanceof Ref)) return [];
      const dev = f.dev_id.name;
      if (!m.objs.some((o) => o.kind === 'stdev' && o.ioas === dev)) return [];
      const turn = m.objs.filter((o) => o.kind === 'hwpt').length % 3;
      const ask = (pagetable: number | undefined, len: number): { hwpt: string; step: StepTemplate | undefined } => {
        const data = encodeStruct(p, 'iommu_hwpt_selftest', { iotlb: 0, pagetable_type: pagetable ?? mockPt }).slice(0, len);
        const hwpt = m.fresh('hwpt');
        return { hwpt, step: ioctlStep(env, 'IOMMU_HWPT_ALLOC', t.fields['fd'] as Ref, { flags: f.flags, dev_id: f.dev_id, pt_id: f.pt_id, data_type: v(p, 'IOMMU_HWPT_DATA_SELFTEST'), data_len: len, data_uptr: { data } }, NONE, { bind: { [hwpt]: 'out.out_hwpt_id' } }) };
      };
      const whole = requireLayout(p, 'iommu_hwpt_selftest').size;
      const asked = ask(turn === 2 ? mockHugePt : mockPt, turn === 0 ? offsetofend(p, 'iommu_hwpt_selftest', 'iotlb') : whole);
      const low = turn === 2 ? lowHuge(m, t.fields['fd'] as Ref, f.dev_id, whole) : [];
      // Where the IOAS maps something, the huge table too (if that was not the turn's), checked half
      // a page into a mapping it was filled with: its smallest page is 4 KiB, so MD_CHECK_MAP
      // refuses what the 2 KiB mock walks.
      const ctx = m.ctxs.find((x) => x.name === (t.fields['fd'] as Ref).name);
      const a = mockHugePt !== undefined && ctx && f.pt_id instanceof Ref && testOpSupported(env, 'IOMMU_TEST_OP_MD_CHECK_MAP') ? m.liveAreas(ctx.name, f.pt_id.name).find((x) => x.buf !== undefined && x.bufOff % PAGE_BYTES === 0 && x.iova % PAGE === 0n && x.length >= PAGE) : undefined;
      if (!a || !ctx) return [asked.step, ...low];
      const huge = turn === 2 ? asked : ask(mockHugePt, whole);
      const half = PAGE / 2n;
      const check = testOpStep(env, ctx, 'IOMMU_TEST_OP_MD_CHECK_MAP', new Ref(huge.hwpt), 'check_map', { iova: new Ref(a.name, '', half), length: a.length - half, uptr: new Ref(a.buf as string, 'va', BigInt(a.bufOff) + half) }, NONE);
      return turn === 2 ? [asked.step, check, ...low] : [asked.step, huge.step, check];
    };
    // The huge table keeps AMDv1's aperture, from 0 (mock_domain_alloc_pgtable narrows the default
    // table's only): asked for over a new IOAS that maps a page at 64 KiB, below the default mock
    // aperture, it takes the IOAS. Both are destroyed again.
    const lowHuge = (m: GenModel, fd: Ref, dev: Tmpl, whole: number): (StepTemplate | undefined)[] => {
      const b = m.bufs.find((x) => !x.readonly && x.length >= PAGE_BYTES);
      if (!b || mockHugePt === undefined || !has('IOMMU_IOAS_ALLOC') || !has('IOMMU_IOAS_MAP') || !has('IOMMU_DESTROY')) return [];
      const [ioas, hwpt] = [m.fresh('ioas'), m.fresh('hwpt')];
      const data = encodeStruct(p, 'iommu_hwpt_selftest', { iotlb: 0, pagetable_type: mockHugePt });
      return [
        ioctlStep(env, 'IOMMU_IOAS_ALLOC', fd, {}, NONE, { bind: { [ioas]: 'out.out_ioas_id' } }),
        ioctlStep(env, 'IOMMU_IOAS_MAP', fd, { flags: MAP.fixed | MAP.read | MAP.write, ioas_id: new Ref(ioas), user_va: new Ref(b.name, 'va'), length: PAGE, iova: 0x10000n }, NONE, {}),
        ioctlStep(env, 'IOMMU_HWPT_ALLOC', fd, { flags: 0, dev_id: dev, pt_id: new Ref(ioas), data_type: v(p, 'IOMMU_HWPT_DATA_SELFTEST'), data_len: whole, data_uptr: { data } }, NONE, { bind: { [hwpt]: 'out.out_hwpt_id' } }),
        ioctlStep(env, 'IOMMU_DESTROY', fd, { id: new Ref(hwpt) }, NONE, {}),
        ioctlStep(env, 'IOMMU_DESTROY', fd, { id: new Ref(ioas) }, NONE, {}),
      ];
    };
    // A nesting parent is made for the device that asked for it, which then attaches to it while it
    // has nothing else (a VMM's stage 2 before the guest's table): the device reaches the IOAS
    // through the parent's own format (an SMMUv3 stage-2 table, a VT-d second stage).
    const nestAttach = (m: GenModel, t: StepTemplate, step: TraceStep): StepTemplate | undefined => {
      const f = (t.fields['arg'] as { fields: { flags: Tmpl; dev_id: Tmpl } }).fields;
      const hwpt = Object.keys(t.bind ?? {})[0];
      if (!ok(step) || !hwpt || typeof f.flags !== 'number' || (f.flags & nest) === 0 || !(f.dev_id instanceof Ref) || !has('VFIO_DEVICE_ATTACH_IOMMUFD_PT')) return undefined;
      const devid = f.dev_id.name;
      const d = m.openDfds().find((x) => x.devid === devid && x.attached === undefined);
      return d && ioctlStep(env, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', new Ref(d.name), { flags: 0, pt_id: new Ref(hwpt) }, NONE, { bind: { [m.fresh('hwpt')]: 'out.pt_id' } });
    };
    // Once the device sits on its nesting parent, its stage 2 is tried (writeOnlyThenUsed).
    const nestWriteOnly = (m: GenModel, t: StepTemplate, attach: StepTemplate | undefined): StepTemplate[] => {
      const f = (t.fields['arg'] as { fields: { pt_id: Tmpl } }).fields;
      return attach && f.pt_id instanceof Ref ? writeOnlyThenUsed(env, m, t.fields['fd'] as Ref, f.pt_id) : [];
    };
    // A nested HWPT asked of that parent by a device of another driver, with data of its own
    // driver's type: the parent's owner is checked before the driver sees it (EINVAL).
    const driverOf = (format: string): string => format.replace(/-.*$/, '').replace(/^amdv1$/, 'mock');
    const nestForeign = (m: GenModel, t: StepTemplate, step: TraceStep): StepTemplate | undefined => {
      const f = (t.fields['arg'] as { fields: { flags: Tmpl; dev_id: Tmpl } }).fields;
      const hwpt = Object.keys(t.bind ?? {})[0];
      if (!ok(step) || !hwpt || typeof f.flags !== 'number' || (f.flags & nest) === 0 || !(f.dev_id instanceof Ref)) return undefined;
      const ctx = (t.fields['fd'] as Ref).name;
      // Every device of the context with its driver: the bound device files, and the mock devices
      // (a mock device's id is its stdev's `ioas`).
      const devices = [
        ...m.openDfds().filter((x) => x.ctx === ctx && x.devid).map((x) => ({ devid: x.devid as string, driver: driverOf(x.dev.iommu.format) })),
        ...m.objs.filter((o) => o.kind === 'stdev' && o.alive && o.ctx === ctx && o.ioas).map((o) => ({ devid: o.ioas as string, driver: 'mock' })),
      ];
      const owner = devices.find((x) => x.devid === (f.dev_id as Ref).name);
      // One whose driver has a nested allocation to refuse it with (7.3: VT-d and the mock only).
      const other = owner && devices.find((x) => x.driver !== owner.driver && (p === '6.12' || x.driver === 'vtd' || x.driver === 'mock'));
      if (!other) return undefined;
      return ioctlStep(env, 'IOMMU_HWPT_ALLOC', t.fields['fd'] as Ref, { flags: 0, dev_id: new Ref(other.devid), pt_id: new Ref(hwpt), data_type: v(p, 'IOMMU_HWPT_DATA_SELFTEST'), data_len: selftestSize, data_uptr: { data: new Uint8Array(selftestSize) } }, NONE, {});
    };
    // A nesting parent asked for a VT-d or AMD device is followed by the device's hardware info,
    // whole: a VMM reads ecap.NEST (EFR.GT...) to decide whether it can offer the guest nesting, and
    // the answer must agree with the one the allocation just gave.
    const nestInfo = (m: GenModel, t: StepTemplate): StepTemplate | undefined => {
      const f = (t.fields['arg'] as { fields: { flags: Tmpl; dev_id: Tmpl } }).fields;
      if (typeof f.flags !== 'number' || (f.flags & nest) === 0 || !(f.dev_id instanceof Ref) || !has('IOMMU_GET_HW_INFO')) return undefined;
      const devid = f.dev_id.name;
      return m.openDfds().some((x) => x.devid === devid && nestRegisters(x.dev.iommu.format)) ? wholeInfoStep(t.fields['fd'] as Ref, f.dev_id) : undefined;
    };
    // A nesting parent that took is asked for again with PASID as well (7.3): a driver whose nesting
    // parent is a stage-2 table (SMMUv3) refuses the pair (EOPNOTSUPP), VT-d and the mock take it.
    const pasidFlag = enumValue(p, 'IOMMU_HWPT_ALLOC_PASID');
    // A plain paging HWPT that took is asked for again PASID-capable (7.3): a VMM's table for its
    // device's PASIDs, which VT-d and the mock build as they build the plain one.
    const plainPasid = (t: StepTemplate, step: TraceStep): StepTemplate | undefined => {
      const f = (t.fields['arg'] as { fields: { flags: Tmpl; dev_id: Tmpl; pt_id: Tmpl; data_type?: Tmpl; data_len?: Tmpl } }).fields;
      if (!ok(step) || pasidFlag === undefined || f.flags !== 0 || f.data_type !== 0 || f.data_len !== undefined) return undefined;
      return ioctlStep(env, 'IOMMU_HWPT_ALLOC', t.fields['fd'] as Ref, { flags: pasidFlag, dev_id: f.dev_id, pt_id: f.pt_id, data_type: 0 }, NONE, {});
    };
    // Every other plain paging HWPT that took for a device of a hardware driver is asked for again
    // with the driver data a VMM gives a nested one (its vIOMMU's type, zeroed; 6.12 and a driver
    // without one: VT-d's): a paging domain takes no user data there (EOPNOTSUPP).
    const vmmData = (format: string): { type: number; len: number } => {
      const [type, struct] = format.startsWith('arm-') ? ['IOMMU_HWPT_DATA_ARM_SMMUV3', 'iommu_hwpt_arm_smmuv3'] : format.startsWith('amd') ? ['IOMMU_HWPT_DATA_AMD_GUEST', 'iommu_hwpt_amd_guest'] : ['IOMMU_HWPT_DATA_VTD_S1', 'iommu_hwpt_vtd_s1'];
      const layout = enumValue(p, type) === undefined ? undefined : structLayout(p, struct);
      return layout ? { type: v(p, type), len: layout.size } : { type: v(p, 'IOMMU_HWPT_DATA_VTD_S1'), len: requireLayout(p, 'iommu_hwpt_vtd_s1').size };
    };
    // The other half of the time, the plain paging HWPT that took is named instead as the parent
    // of a nested allocation with that data: the core refuses a parent allocated without
    // NEST_PARENT (EINVAL), but only once the driver has a nested op at all (7.3: VT-d and the
    // mock; AMD and SMMUv3 nest through a vIOMMU, EOPNOTSUPP first).
    const plainData = (m: GenModel, t: StepTemplate, step: TraceStep): StepTemplate | undefined => {
      const f = (t.fields['arg'] as { fields: { flags: Tmpl; dev_id: Tmpl; pt_id: Tmpl; data_type?: Tmpl; data_len?: Tmpl } }).fields;
      if (!ok(step) || f.flags !== 0 || f.data_type !== 0 || f.data_len !== undefined || !(f.dev_id instanceof Ref)) return undefined;
      const devid = f.dev_id.name;
      const d = m.openDfds().find((x) => x.devid === devid);
      const hwpt = Object.keys(t.bind ?? {})[0];
      const overPlain = m.objs.filter((o) => o.kind === 'hwpt').length % 2 === 1;
      if (!d || d.dev.iommu.format.includes('mock') || (overPlain && !hwpt)) return undefined;
      const data = vmmData(d.dev.iommu.format);
      return ioctlStep(env, 'IOMMU_HWPT_ALLOC', t.fields['fd'] as Ref, { flags: 0, dev_id: f.dev_id, pt_id: overPlain ? new Ref(hwpt as string) : f.pt_id, data_type: data.type, data_len: data.len, data_uptr: { data: new Uint8Array(data.len) } }, NONE, {});
    };
    // A nested allocation with driver data is asked for again with IOMMU_HWPT_ALLOC_PASID as well
    // (7.3), whatever the first answered: a flag nesting takes, so the parent decides as before.
    const nestedPasid = (m: GenModel, t: StepTemplate): StepTemplate | undefined => {
      const f = (t.fields['arg'] as { fields: { flags: Tmpl; dev_id: Tmpl; pt_id: Tmpl; data_type?: Tmpl } }).fields;
      const pt = f.pt_id instanceof Ref ? m.objs.find((o) => o.name === (f.pt_id as Ref).name) : undefined;
      if (pasidFlag === undefined || f.flags !== 0 || pt?.kind !== 'hwpt' || f.data_type !== v(p, 'IOMMU_HWPT_DATA_SELFTEST')) return undefined;
      return ioctlStep(env, 'IOMMU_HWPT_ALLOC', t.fields['fd'] as Ref, { ...f, flags: pasidFlag }, NONE, {});
    };
    // A nesting parent that took is asked for again with a fault queue (FAULT_ID_VALID, fault_id
    // the IOAS, no queue): a nesting parent takes none, refused before its domain is built (EOPNOTSUPP).
    const nestFault = (t: StepTemplate, step: TraceStep): StepTemplate | undefined => {
      const f = (t.fields['arg'] as { fields: { flags: Tmpl; dev_id: Tmpl; pt_id: Tmpl; data_type?: Tmpl } }).fields;
      if (!ok(step) || f.flags !== nest || f.data_type !== 0) return undefined;
      return ioctlStep(env, 'IOMMU_HWPT_ALLOC', t.fields['fd'] as Ref, { flags: nest | faultId, dev_id: f.dev_id, pt_id: f.pt_id, fault_id: f.pt_id, data_type: 0 }, NONE, {});
    };
    // A nesting parent that took for a mock device is asked, by that device, for a nested HWPT over
    // it with the selftest's data: the parent passes the core's test (a user nesting parent of the
    // device's own driver), and the driver decides. The data is the profile's whole struct
    // iommu_hwpt_selftest, zeroed: its copy refuses a longer one (EINVAL).
    const selftestSize = requireLayout(p, 'iommu_hwpt_selftest').size;
    const nestMock = (m: GenModel, t: StepTemplate, step: TraceStep): StepTemplate | undefined => {
      const f = (t.fields['arg'] as { fields: { flags: Tmpl; dev_id: Tmpl; data_type?: Tmpl } }).fields;
      const hwpt = Object.keys(t.bind ?? {})[0];
      if (!ok(step) || !hwpt || f.flags !== nest || f.data_type !== 0 || !(f.dev_id instanceof Ref) || !m.objs.some((o) => o.kind === 'stdev' && o.ioas === (f.dev_id as Ref).name)) return undefined;
      return ioctlStep(env, 'IOMMU_HWPT_ALLOC', t.fields['fd'] as Ref, { flags: 0, dev_id: f.dev_id, pt_id: new Ref(hwpt), data_type: v(p, 'IOMMU_HWPT_DATA_SELFTEST'), data_len: selftestSize, data_uptr: { data: new Uint8Array(selftestSize) } }, NONE, {});
    };
    const nestPasid = (t: StepTemplate, step: TraceStep): StepTemplate | undefined => {
      const f = (t.fields['arg'] as { fields: { flags: Tmpl; dev_id: Tmpl; pt_id: Tmpl; data_type?: Tmpl } }).fields;
      if (!ok(step) || pasidFlag === undefined || f.flags !== nest || f.data_type !== 0) return undefined;
      return ioctlStep(env, 'IOMMU_HWPT_ALLOC', t.fields['fd'] as Ref, { flags: nest | pasidFlag, dev_id: f.dev_id, pt_id: f.pt_id, data_type: 0 }, NONE, {});
    };
    type HwptAlloc = { ctx: number; dev: IdChoice; pt: IdChoice; ptHwpt: boolean; flags: number; data: HwptData; typed: boolean; abi: AbiChoice };
    add({
      kind: 'IOMMU_HWPT_ALLOC',
      weight: 3,
      // data: user data whose type and length disagree (a length without a type, a type without a
      // length) — EINVAL before the device is looked up (iommufd_hwpt_alloc checks __reserved and
      // data_type/data_len first).
      arb: fc.record({ ctx: ctxK, dev: idChoice, pt: idChoice, ptHwpt: fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }), flags: fc.constantFrom(0, 0, 0, nest, dirty, nest | dirty, faultId), data: fc.constantFrom<HwptData>('none', 'none', 'none', 'none', 'none', 'lenOnly', 'typeOnly'), typed: fc.boolean(), abi: env.abiFor('IOMMU_HWPT_ALLOC') }),
      needs: ['devid', 'ioas'], ready: () => true,
      build: (m, c) => {
        const ctx = ctxOf(m, c.ctx) as CtxEntry;
        // A nesting parent is asked for a device behind a unit that has nesting (a VMM offering
        // its guest a vIOMMU), unattached as yet, where the context binds one: the parent's own
        // format (an SMMUv3 stage 2, a VT-d second stage, AMD v1) is then what its follow-ups try.
        const nestable = c.flags & nest && c.dev.kind === 'live' && !c.ptHwpt ? pick(m.openDfds().filter((x) => x.ctx === ctx.name && x.devid && x.attached === undefined && /^(arm-|vtd-ss|amd-v1)/.test(x.dev.iommu.format)), c.dev.k) : undefined;
        const dev = nestable?.devid ? { id: new Ref(nestable.devid) } : idOf(c.dev, m, ctx.name, ['devid']);
        const pt = idOf(c.pt, m, ctx.name, c.ptHwpt ? ['hwpt'] : ['ioas']);
        const name = m.fresh('hwpt');
        // Over a HWPT (a nested allocation), half the time with driver data of the selftest's type, as
        // a VMM's would be: the flags and the parent are then what is judged, not the missing data.
        const typed = c.ptHwpt && c.typed && c.data === 'none';
        const data: { [k: string]: Tmpl } = c.data === 'lenOnly' ? { data_type: 0, data_len: 8, data_uptr: { data: new Uint8Array(8) } } : c.data === 'typeOnly' ? { data_type: someDataType, data_len: 0 } : typed ? { data_type: v(p, 'IOMMU_HWPT_DATA_SELFTEST'), data_len: 8, data_uptr: { data: new Uint8Array(8) } } : { data_type: 0 };
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
        m.objs.push({ name: Object.keys(t.bind ?? {})[0] as string, kind: 'hwpt', ctx: (ctxOf(m, c.ctx) as CtxEntry).name, alive: true, ...(pt?.kind === 'ioas' && { ioas: pt.name }), ...(pt?.kind === 'hwpt' && pt.ioas && { ioas: pt.ioas }), nestParent: (c.flags & nest) !== 0, auto: false, ...(mock && { mock }), ...((c.flags & dirty) !== 0 && { dirty: true }) });
      },
      follow: (m, _c, t, step) => {
        const ranges = rangesAfterFailure(env, m, t, step, (f) => f['pt_id']);
        // A refusal must give back what it took: with a HWPT still holding the IOAS, its DESTROY is
        // EBUSY (a refused allocation that dropped a reference it never took lets it go).
        const pt = (t.fields['arg'] as { fields: { pt_id: Tmpl } }).fields.pt_id;
        const held = !ok(step) && step.status === 'failed' && pt instanceof Ref && m.objs.some((o) => o.kind === 'hwpt' && o.alive && o.ioas === pt.name && m.objs.some((x) => x.name === pt.name && x.kind === 'ioas' && x.alive));
        const destroy = held && has('IOMMU_DESTROY') ? ioctlStep(env, 'IOMMU_DESTROY', t.fields['fd'] as Ref, { id: pt }, NONE, {}) : undefined;
        const attach = nestAttach(m, t, step);
        // Every other HWPT that took is asked for again from the same struct with __reserved set:
        // refused first (EOPNOTSUPP), whatever the rest asks for.
        const f = (t.fields['arg'] as { fields: { [k: string]: Tmpl } }).fields;
        const reserved = ok(step) && m.objs.filter((o) => o.kind === 'hwpt').length % 2 === 0 ? ioctlStep(env, 'IOMMU_HWPT_ALLOC', t.fields['fd'] as Ref, { ...f, __reserved: 1 }, NONE, { defects: [{ what: 'a non-zero __reserved', errno: 'EOPNOTSUPP', field: '__reserved', abi: true }] }) : undefined;
        return [ranges, destroy, reserved, noDirtyJoin(m, t, step), ...mockData(m, t, step), nestForeign(m, t, step), attach, ...nestWriteOnly(m, t, attach), nestInfo(m, t), nestMock(m, t, step), nestPasid(t, step), plainPasid(t, step), plainData(m, t, step), nestedPasid(m, t), nestFault(t, step)].filter((x): x is StepTemplate => x !== undefined);
      },
      afterFollow: (m, c, t, step) => {
        if (t.fields['cmd'] === 'VFIO_DEVICE_ATTACH_IOMMUFD_PT') return recordAttachOf(m, c, t, step);
        const made = t.fields['cmd'] === 'IOMMU_HWPT_ALLOC' && ok(step) ? Object.keys(t.bind ?? {})[0] : undefined;
        const pt = (t.fields['arg'] as { fields?: { pt_id?: Tmpl } } | undefined)?.fields?.pt_id;
        const ioas = pt instanceof Ref ? m.objs.find((o) => o.name === pt.name && o.kind === 'ioas') : undefined;
        const data = (t.fields['arg'] as { fields?: { data_uptr?: Tmpl } } | undefined)?.fields?.data_uptr;
        const bytes = typeof data === 'object' && data !== null && 'data' in data && data.data instanceof Uint8Array ? data.data : undefined;
        const mockHuge = mockHugePt !== undefined && bytes !== undefined && bytes.length === requireLayout(p, 'iommu_hwpt_selftest').size && Number(decodeStruct(p, 'iommu_hwpt_selftest', bytes)['pagetable_type']) === mockHugePt;
        if (made && ioas) m.objs.push({ name: made, kind: 'hwpt', ctx: (ctxOf(m, c.ctx) as CtxEntry).name, alive: true, ioas: ioas.name, nestParent: false, auto: false, mock: true, ...(mockHuge && { mockHuge }) });
        if (t.fields['cmd'] !== 'IOMMU_DESTROY') return;
        const id = (t.fields['arg'] as { fields?: { id?: Tmpl } } | undefined)?.fields?.id;
        const o = ok(step) && id instanceof Ref ? m.objs.find((x) => x.name === id.name) : undefined;
        if (o) o.alive = false;
      },
    } satisfies CommandSpec<HwptAlloc>);
  }

  if (has('IOMMU_GET_HW_INFO')) {
    add({
      kind: 'IOMMU_GET_HW_INFO',
      weight: 2,
      // The buffer runs past data_len with bytes of its own now and then: the kernel writes up to data_len only.
      // Now and then the struct still holds an earlier answer (a VMM asking each device in turn with
      // one struct): the kernel writes every output, whatever the caller left there.
      arb: fc.record({ ctx: ctxK, dev: idChoice, len: fc.constantFrom(0, 4, 8, 64), slack: fc.constantFrom(0, 0, 16), stale: fc.constantFrom(false, false, true), abi: env.abiFor('IOMMU_GET_HW_INFO') }),
      needs: ['devid'], ready: () => true,
      build: (m, c) => {
        const ctx = ctxOf(m, c.ctx) as CtxEntry;
        const dev = idOf(c.dev, m, ctx.name, ['devid']);
        const uptr: Tmpl = c.slack ? { data: SLACK_BYTES.subarray(0, c.len + c.slack) } : c.len ? { room: c.len } : 0n;
        const stale: { [k: string]: Tmpl } = c.stale ? { out_capabilities: STALE_HW_CAPS, out_max_pasid_log2: STALE_PASID_LOG2, out_data_type: STALE_HW_TYPE } : {};
        return ioctlStep(env, 'IOMMU_GET_HW_INFO', new Ref(ctx.name), { dev_id: dev.id, data_len: c.len, data_uptr: uptr, ...stale }, c.abi, { defects: idDefects(c.dev, dev.obj) });
      },
      // A VMM's next step after asking what the device's IOMMU is (when it asked for no data): a
      // paging HWPT for the device over the context's first IOAS, with the struct of an older
      // uAPI (IOMMU_HWPT_ALLOC up to __reserved). What the older caller lacks is read as zero
      // (copy_struct_from_user), not as whatever the answer just before left in the kernel's
      // buffer: the hardware info's type and capabilities sit where data_type and data_uptr are.
      // A VMM that left an older answer in the struct asks again for that type by name
      // (IOMMU_HW_INFO_FLAG_INPUT_TYPE): a type no unit here has, which each driver refuses.
      follow: (m: GenModel, c: { len: number; stale: boolean }, t: StepTemplate, step: TraceStep): StepTemplate[] => {
        const dev = (t.fields['arg'] as { fields: { dev_id: Tmpl } }).fields.dev_id;
        const fd = t.fields['fd'] as Ref;
        const ioas = has('IOMMU_HWPT_ALLOC') && ok(step) && c.len === 0 && dev instanceof Ref ? m.live('ioas', fd.name)[0] : undefined;
        const alloc = ioas && ioctlStep(env, 'IOMMU_HWPT_ALLOC', fd, { flags: 0, dev_id: dev, pt_id: new Ref(ioas.name), data_type: 0 }, { kind: 'shortOk', k: 0 }, { bind: { [m.fresh('hwpt')]: 'out.out_hwpt_id' } });
        const inputType = enumValue(p, 'IOMMU_HW_INFO_FLAG_INPUT_TYPE');
        const typed = inputType !== undefined && ok(step) && c.stale ? ioctlStep(env, 'IOMMU_GET_HW_INFO', fd, { flags: inputType, dev_id: dev, data_len: 0, data_uptr: 0n, in_data_type: STALE_HW_TYPE }, NONE, {}) : undefined;
        // A VMM asks each device it holds in turn: one behind another unit next (another VT-d unit
        // first), its registers whole.
        const asked = dev instanceof Ref ? m.openDfds().find((x) => x.devid === dev.name) : undefined;
        const others = ok(step) && asked ? m.openDfds().filter((x) => x.devid && x.ctx && x.dev.iommu.name !== asked.dev.iommu.name) : [];
        const next = others.find((x) => x.dev.iommu.format.startsWith('vtd') && asked?.dev.iommu.format.startsWith('vtd')) ?? others[0];
        const other = next ? wholeInfoStep(new Ref(next.ctx as string), new Ref(next.devid as string)) : undefined;
        // One that read the registers whole asks for the stage 2 a guest's nesting would need (a
        // nesting parent over the context's first IOAS): ecap.NEST (EFR.GT...) says whether the driver makes it.
        const stage2 = has('IOMMU_HWPT_ALLOC') && ok(step) && c.len >= vtdInfoLen && asked && nestRegisters(asked.dev.iommu.format) ? m.live('ioas', fd.name)[0] : undefined;
        const parent = stage2 && ioctlStep(env, 'IOMMU_HWPT_ALLOC', fd, { flags: v(p, 'IOMMU_HWPT_ALLOC_NEST_PARENT'), dev_id: dev, pt_id: new Ref(stage2.name), data_type: 0 }, NONE, { bind: { [m.fresh('hwpt')]: 'out.out_hwpt_id' } });
        return [alloc, typed, other, parent].filter((x): x is StepTemplate => x !== undefined);
      },
      ...(has('IOMMU_HWPT_ALLOC') && {
        afterFollow: (m: GenModel, _c: unknown, t: StepTemplate, step: TraceStep): void => {
          const f = (t.fields['arg'] as { fields: { pt_id?: Tmpl; dev_id?: Tmpl } }).fields;
          if (!ok(step) || !(f.pt_id instanceof Ref) || !(f.dev_id instanceof Ref)) return;
          const dev = f.dev_id.name;
          const mock = m.objs.some((o) => o.kind === 'stdev' && o.ioas === dev);
          const nestParent = ((t.fields['arg'] as { fields: { flags?: Tmpl } }).fields.flags ?? 0) !== 0;
          m.objs.push({ name: Object.keys(t.bind ?? {})[0] as string, kind: 'hwpt', ctx: (t.fields['fd'] as Ref).name, alive: true, ioas: f.pt_id.name, nestParent, auto: false, ...(mock && { mock }) });
        },
      }),
    } satisfies CommandSpec<{ ctx: number; dev: IdChoice; len: number; slack: number; stale: boolean; abi: AbiChoice }>);
  }
  return specs;
}
