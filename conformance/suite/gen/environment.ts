/**
 * The environment operations the adapter serves: processes and their
 * accounting, buffers (mem_alloc / mem_write), simulated devices and groups,
 * opening and closing files, KVM VMs and their VFIO device list.
 */
import fc from 'fast-check';
import type { IommuInstanceInfo } from '../../../spec/contract/types.ts';
import { PAGE, U64_MAX } from '../ranges.ts';
import type { TraceStep } from '../session.ts';
import { Ref, type StepTemplate, type Tmpl } from '../step.ts';
import { type AccEntry, type AreaEntry, type CtxEntry, type DevEntry, type DfdEntry, GenModel, pick, type VmEntry } from './model.ts';
import { type IovaChoice, iovaChoice, iovaOf, smallBytes } from './values.ts';
import type { CommandSpec } from './command.ts';
import { areaPairs, areasFor, boundsFor, bufPages, DEVICE_RESV_IOVA, DEVICE_RESV_PAGES, type DeviceCreate, dfdClosed, type GenEnv, ioasHeld, ioctlStep, k16, kvmFile, NONE, noteCapIpcLock, noteUsed, ok, opSupported, stampOf, supported, testOpStep, testOpSupported, v } from './shared.ts';

export function envSpecs(env: GenEnv): CommandSpec<never>[] {
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
        // (Mock devices report none: the selftest's mock IOMMU has no reserved regions. The same draw
        // makes a mock device one whose domains map 1M pages as well, MOCK_FLAGS_DEVICE_HUGE_IOVA.)
        // Every such device shares one region (an RMRR whose scope names several devices); each after
        // the first has a page of its own as well (its own RMRR, IVMD or RMR), so that a region
        // reported for the wrong device differs from the device's own.
        if (c.resv && f.reservedRegions.supported && !iommu.format.includes('mock')) {
          const before = m.devs.filter((d) => d.resv).length;
          const own = DEVICE_RESV_IOVA + BigInt(DEVICE_RESV_PAGES + 2 * before) * PAGE;
          spec['reservedRegions'] = [{ start: DEVICE_RESV_IOVA, last: DEVICE_RESV_IOVA + BigInt(DEVICE_RESV_PAGES) * PAGE - 1n }, ...(before > 0 ? [{ start: own, last: own + PAGE - 1n }] : [])];
        }
        if (c.resv && f.hugeIova.supported && iommu.format.includes('mock')) spec['hugeIova'] = true;
        const dev = m.fresh('dev');
        const grp = group ?? m.fresh('grp');
        return { op: 'device_create', fields: { spec }, bind: group ? { [dev]: 'device' } : { [dev]: 'device', [grp]: 'group' }, note: `iommu ${iommu.name}` };
      },
      after: (m, c, t, step) => {
        if (!ok(step)) return;
        const names = Object.keys(t.bind ?? {});
        const spec = t.fields['spec'] as { iommu: string; group?: Ref; enforceCacheCoherency?: boolean; reservedRegions?: { start: bigint }[] };
        const own = spec.reservedRegions?.[1]?.start;
        const iommu = iommus.find((i) => i.name === spec.iommu) as IommuInstanceInfo;
        const ecc = spec.enforceCacheCoherency ?? iommu.enforceCacheCoherency;
        m.devs.push({ name: names[0] as string, iommu, group: spec.group ? spec.group.name : (names[1] as string), ecc, resv: spec.reservedRegions !== undefined, ...(own !== undefined && { ownResv: own }), alive: true });
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
        const d = pick(m.devs.filter((x) => x.alive), c.k);
        if (!d) return undefined; // no device: its device_create was refused
        const name = m.fresh('dfd');
        return { op: 'open_device', fields: { device: new Ref(d.name) }, bind: { [name]: 'fd' } };
      },
      after: (m, c, t, step) => {
        if (ok(step)) m.dfds.push({ name: Object.keys(t.bind ?? {})[0] as string, dev: pick(m.devs.filter((x) => x.alive), c.k) as DevEntry, open: true });
      },
      // Every other file opened is first asked to bind to iommufd -1 (a VMM's unset descriptor):
      // refused with the argument checks (EINVAL), before any file is looked up.
      ...(supported(caps, 'VFIO_DEVICE_BIND_IOMMUFD') && {
        follow: (m: GenModel, _c: { k: number }, t: StepTemplate, step: TraceStep): StepTemplate | undefined =>
          ok(step) && m.dfds.length % 2 === 1 ? ioctlStep(env, 'VFIO_DEVICE_BIND_IOMMUFD', new Ref(Object.keys(t.bind ?? {})[0] as string), { flags: 0, iommufd: -1 }, NONE, { defects: [{ what: 'a negative iommufd', errno: 'EINVAL', field: 'iommufd' }] }) : undefined,
      }),
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
      // CAP_IPC_LOCK taken back, then pages mapped without it are pinned for the first time (a mock
      // domain joins their IOAS): they were charged by the mode recorded at the map, and the limit
      // holds for them whatever the caller holds now (__account_locked_vm never bypasses it).
      follow: (m, _c, t, step) => {
        if (!ok(step) || t.fields['capIpcLock'] !== true || !testOpSupported(env, 'IOMMU_TEST_OP_MOCK_DOMAIN')) return undefined;
        const a = m.liveAreas().find((x) => m.ctxs.find((y) => y.name === x.ctx)?.open && !m.live('hwpt').some((h) => h.ioas === x.ioas));
        const ctx = a && m.ctxs.find((y) => y.name === a.ctx);
        if (!a || !ctx) return undefined;
        const [st, idev, hwpt] = [m.fresh('stdev'), m.fresh('devid'), m.fresh('hwpt')];
        return testOpStep(env, ctx, 'IOMMU_TEST_OP_MOCK_DOMAIN', new Ref(a.ioas), 'mock_domain', {}, NONE, { [st]: 'out.mock_domain.out_stdev_id', [idev]: 'out.mock_domain.out_idev_id', [hwpt]: 'out.mock_domain.out_hwpt_id' });
      },
      afterFollow: (m, _c, t, step) => {
        const [st, idev, hwpt] = Object.keys(t.bind ?? {});
        const on = (t.fields['arg'] as { fields: { id: Tmpl } }).fields.id;
        const ctx = (t.fields['fd'] as Ref).name;
        if (!ok(step) || !st || !idev || !hwpt || !(on instanceof Ref)) return;
        m.objs.push({ name: st, kind: 'stdev', ctx, alive: true, ioas: idev }, { name: idev, kind: 'devid', ctx, alive: true }, { name: hwpt, kind: 'hwpt', ctx, alive: true, ioas: on.name, auto: true });
      },
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
    /** A kvm_vfio_add or kvm_vfio_del that succeeded: the VM's file list, as the model follows it. */
    const noteKvmFile = (m: GenModel, t: StepTemplate, step: TraceStep): void => {
      const vm = m.vms.find((x) => x.name === (t.fields['vm'] as Ref).name);
      const fd = (t.fields['fd'] as Ref).name;
      if (!ok(step) || !vm) return;
      const i = vm.files.indexOf(fd);
      if (t.op === 'kvm_vfio_add' && i < 0) vm.files.push(fd);
      if (t.op === 'kvm_vfio_del' && i >= 0) vm.files.splice(i, 1);
    };
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
        after: (m, _c, t, step) => noteKvmFile(m, t, step),
      } satisfies CommandSpec<KvmFileOp>);
    }
    if (opSupported(caps, 'kvm_vfio_add') && opSupported(caps, 'kvm_vfio_del') && opSupported(caps, 'open_device')) {
      // A second file of a device a VM holds a file of: KVM keys its list by struct file (kvm_vfio_file_add,
      // kvm_vfio_file_del), so the second is added beside the first and deleted alone; the first stays
      // registered, with its coherency.
      /** The VM and the file it holds that an open_device step of this kind opened a second file of. */
      const secondFiles = new WeakMap<StepTemplate, { vm: VmEntry; held: DfdEntry }>();
      add({
        kind: 'kvm_vfio_add/second-file',
        weight: 1,
        arb: fc.record({ vm: k16, d: k16, del: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }) }),
        needs: ['vmMixed'], ready: () => true,
        build: (m, c) => {
          const vm = pick(m.vms.filter((x) => x.alive && x.files.length > 0), c.vm);
          const held = vm && pick(m.openDfds().filter((x) => vm.files.includes(x.name)), c.d);
          if (!vm || !held) return undefined;
          const t: StepTemplate = { op: 'open_device', fields: { device: new Ref(held.dev.name) }, bind: { [m.fresh('dfd')]: 'fd' } };
          secondFiles.set(t, { vm, held });
          return t;
        },
        after: (m, _c, t, step) => {
          const held = secondFiles.get(t)?.held;
          if (ok(step) && held) m.dfds.push({ name: Object.keys(t.bind ?? {})[0] as string, dev: held.dev, open: true });
        },
        follow: (_m, c, t, step) => {
          const vm = secondFiles.get(t)?.vm;
          if (!ok(step) || !vm) return undefined;
          const fd = new Ref(Object.keys(t.bind ?? {})[0] as string);
          const addIt: StepTemplate = { op: 'kvm_vfio_add', fields: { vm: new Ref(vm.name), fd } };
          return c.del ? [addIt, { op: 'kvm_vfio_del', fields: { vm: new Ref(vm.name), fd } }] : [addIt];
        },
        afterFollow: (m, _c, t, step) => noteKvmFile(m, t, step),
      } satisfies CommandSpec<{ vm: number; d: number; del: boolean }>);
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
