/**
 * The constructors of each need (syzkaller's createResource): when a command
 * needs an IOAS, a bound device, an area, a pair of touching areas..., the
 * same specs run first with plain default choices to make one.
 */
import { enumValue } from '../../../spec/uapi/lookup.ts';
import type { Profile } from '../../../spec/uapi/profiles.ts';
import { PAGE } from '../ranges.ts';
import type { CaseSession } from '../session.ts';
import { Ref } from '../step.ts';
import { type BufEntry, type DevEntry, type DfdEntry, GenModel, type ObjEntry } from './model.ts';
import type { IovaChoice } from './values.ts';
import { type CommandSpec, type Ensure, type Need, needsContext, runSpec } from './command.ts';
import { areaPairs, awayFrom, type DeviceCreate, enforcingUnit, freeSpan, freshCtxs, LEAF_RUN_PAGES, leafRuns, loneSpanAreas, NONE, ok, PAGE_BYTES, roSpanTargets, spanPairs, superpageBuf, TABLE_SPAN, TIGHT, tightBuf, tightHoles, touchingPairs, unalignedTargets, wholeSpans } from './shared.ts';
import { type Attach, type Bind, crossUnitPairs, GROW_IOVA, growTargets, ioasOfDfd, tagReuses, twoUnitIoases } from './vfio.ts';

/** The constructors of each need: the same specs, run with plain default choices. */
export function makeEnsure(profile: Profile, specs: readonly CommandSpec<never>[]): Ensure {
  const byKind = new Map<string, CommandSpec<unknown>>(specs.map((x) => [x.kind, x as unknown as CommandSpec<unknown>]));
  const R = enumValue(profile, 'IOMMU_IOAS_MAP_READABLE') ?? 4;
  const RW = R | (enumValue(profile, 'IOMMU_IOAS_MAP_WRITEABLE') ?? 2);
  const OPTION_SET = enumValue(profile, 'IOMMU_OPTION_OP_SET');
  const run = async (m: GenModel, s: CaseSession, kind: string, choice: unknown): Promise<void> => {
    const spec = byKind.get(kind);
    // With every open of /dev/iommu refused there is no context to build on: the case goes on with the rest.
    if (!spec || (m.openCtxs().length === 0 && m.refused.has('open') && needsContext(spec))) return;
    await runSpec(spec, m, s, choice);
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
  const attachToOwnHwpt = async (m: GenModel, s: CaseSession, d: DfdEntry, ctx: string, ioas = 0, flags = 0): Promise<void> => {
    const k = m.live('devid', ctx).findIndex((o) => o.name === d.devid);
    if (k < 0 || !byKind.has('IOMMU_HWPT_ALLOC') || m.live('ioas', ctx).length <= ioas) return;
    const before = m.live('hwpt', ctx).length;
    await run(m, s, 'IOMMU_HWPT_ALLOC', { ctx: openIdx(m, ctx), dev: { kind: 'live', k }, pt: { kind: 'live', k: ioas }, ptHwpt: false, flags, data: 'none', abi: NONE });
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
      if (m.devs.some((d) => d.alive)) return;
      const iommu = m.setting.unit + m.devs.length;
      // On the mock unit the first device is one whose domains map 1M pages as well (the resv draw
      // makes a mock device MOCK_FLAGS_DEVICE_HUGE_IOVA) in the cases that keep CAP_IPC_LOCK: the
      // case setting decides, with no draw of its own (a new draw would reshuffle every case).
      const hugeIova = m.caps.iommus[iommu % m.caps.iommus.length]?.format.includes('mock') === true && !m.setting.unprivileged;
      await run(m, s, 'device_create', { iommu, join: -1, peer: -1, ecc: 'default', noSnoop: false, resv: hugeIova });
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
      // two across 512 GiB (a map above the top the domain was allocated with grows it).
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
      // Two pages across the boundary, from the page below it: the range's last byte, not its
      // first, is what the table's top must reach (generic_pt pt_check_range, check_map_range).
      await run(m, s, 'IOMMU_IOAS_MAP', { ctx: openIdx(m, ctx.name), ioas: { kind: 'live', k }, prot: RW, fixed: true, va: { kind: 'buf', k: 0, pageOff: 0, byte: 0 }, len: { kind: 'pages', n: 2 }, iova: { kind: 'at', iova: GROW_IOVA - PAGE }, abi: NONE });
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
      // A fresh IOAS (no device narrows it, no area is outside) allowed one small range at the
      // very top of the address space, or two low ones a hole apart: an automatic IOVA goes to
      // the second once the first is full.
      if (!byKind.has('IOMMU_IOAS_ALLOW_IOVAS')) return;
      await ensure(m, s, 'ctx');
      if (m.live('ioas').some((o) => o.allowed?.length && m.ctxs.find((c) => c.name === o.ctx)?.open)) return;
      const ctx = m.openCtxs()[0];
      if (!ctx || m.objs.filter((o) => o.kind === 'ioas').length >= 8) return;
      await run(m, s, 'IOMMU_IOAS_ALLOC', { ctx: 0, abi: NONE });
      const fresh = m.live('ioas', ctx.name);
      const top = m.objs.length % 2 === 0;
      const iova: IovaChoice = top ? { kind: 'edge', which: 'topPage' } : { kind: 'page', n: 0 };
      const ranges = top ? [{ iova, pages: 2, bad: false }] : [{ iova, pages: 2, bad: false }, { iova: { kind: 'page', n: 4 } as IovaChoice, pages: 2, bad: false }];
      await run(m, s, 'IOMMU_IOAS_ALLOW_IOVAS', { ctx: 0, ioas: { kind: 'live', k: fresh.length - 1 }, ranges, abi: NONE });
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
      // Every other time the holder's own HWPT tracks dirty pages (IOMMU_HWPT_ALLOC_DIRTY_TRACKING),
      // where its unit can; a mover of the same driver is then one its unit cannot track for, which
      // the driver must refuse that HWPT whether tracking is on yet or not (paging_domain_compatible).
      const ownHwpt = (h >>> 12) % 2 === 0;
      const dirty = ownHwpt && (h >>> 14) % 2 === 0 && m.caps.iommus[holder]?.dirtyTracking === true && m.caps.deviceFeatures.dirtyTracking?.supported === true ? (enumValue(profile, 'IOMMU_HWPT_ALLOC_DIRTY_TRACKING') ?? 0) : 0;
      const noDirty = dirty !== 0 && fmt(mover) === fmt(holder);
      // The second on another IOAS: a replace within one IOAS leaves the reserved regions alone.
      if (m.live('ioas', ctx.name).length < 2) await run(m, s, 'IOMMU_IOAS_ALLOC', { ctx: openIdx(m, ctx.name), abi: NONE });
      const made: DfdEntry[] = [];
      for (const [unit, resv, k, ecc] of [[mover, true, 0, moverEcc], [holder, false, 1, holderEcc]] as const) {
        const dev = await createDevice(m, s, { iommu: unit, join: -1, peer: -1, ecc, noSnoop: false, resv, ...(resv && noDirty && { noDirty }) });
        const dfd = dev && (await openDfd(m, s, dev));
        if (!dfd) return;
        await run(m, s, 'VFIO_DEVICE_BIND_IOMMUFD', { dfd: m.openDfds().indexOf(dfd), ctx: 0, badFd: false, abi: NONE, to: ctx.name } satisfies Bind);
        // The holder every other time on a HWPT allocated for it, else (and the mover always) on the IOAS.
        if (!resv && ownHwpt) await attachToOwnHwpt(m, s, dfd, ctx.name, k, dirty);
        if (!dfd.attached || !m.objs.find((o) => o.name === dfd.attached)?.alive) await run(m, s, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', { dfd: 0, pt: { kind: 'live', k }, hwpt: false, abi: NONE, at: dfd.name } satisfies Attach);
        made.push(dfd);
      }
      // The mover that cannot track tries the holder's dirty-tracking HWPT at once (the cross-unit
      // command may pick the other direction, or come too late): a VMM attaching a device that
      // cannot to the HWPT it allocated for one that can, before any migration turned tracking on.
      const [moverDfd, holderDfd] = made;
      const target = noDirty && moverDfd?.attached && holderDfd?.attached ? m.live('hwpt', ctx.name).findIndex((o) => o.name === holderDfd.attached) : -1;
      if (moverDfd && target >= 0) await run(m, s, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', { dfd: 0, pt: { kind: 'live', k: target }, hwpt: true, abi: NONE, at: moverDfd.name } satisfies Attach);
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
        // In a third of the cases the container is then set as TYPE1v2 too, which turns large pages
        // back on nowhere (iommufd_vfio_set_iommu): its IOAS still cuts as type1 v1 does.
        if (ok(step) && m.setting.unit % 3 === 1) await s.exec({ op: 'ioctl', fields: { fd: new Ref(ctx.name), cmd: 'VFIO_SET_IOMMU', arg: { kind: 'int', value: BigInt(enumValue(profile, 'VFIO_TYPE1v2_IOMMU') ?? 3) } } });
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
