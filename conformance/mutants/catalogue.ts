/**
 * The mutant catalogue: realistic faulty variants of the reference, each one
 * small named change (see harness.ts for how it is applied without touching
 * impl/), mapped to the spec clauses (spec/clauses ids) and the suite
 * invariant it breaks, and to the real bug class it stands for.
 *
 * `security` mutants (isolation, confinement, coherency) must also be killed
 * by the invariants alone (`--oracle invariants`): a real kernel may differ
 * from the reference in details, so the differential oracle cannot be what
 * catches a security hole.
 *
 * Kernel fix subjects are cited only where known; otherwise `kernelFix` is
 * absent and `bugClass` describes the class.
 */
import type { SingleRequest } from '../../spec/contract/types.ts';
import { commandByName, flagMask } from '../../spec/uapi/lookup.ts';
import { IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE, IOMMU_OPTION_RLIMIT_MODE, IOMMU_TEST_OP_ACCESS_PAGES, IOMMU_TEST_OP_ACCESS_RW, MOCK_ACCESS_RW_WRITE, MOCK_FLAGS_ACCESS_WRITE } from '../../spec/uapi/constants.ts';
import { decodeIoctl } from '../../spec/abi/dispatch.ts';
import { E2BIG, EMSGSIZE, ENOENT, EOPNOTSUPP, EOVERFLOW, ENOSPC } from '../../impl/lib/errno.ts';
import { iommufdGetIoas, iommufdUcmdRespond, ULONG_MAX, type IoctlExecute, type Ucmd, type IommufdCtx, type IommufdDevice, type IommufdHwptPaging, type IommufdIoas } from '../../impl/iommufd/iommufd_private.ts';
import { convIommuProt } from '../../impl/iommufd/ioas.ts';
import { IOMMU_READ, IOMMU_WRITE, IOPT_ALLOC_IOVA, ioptFreePagesList, ioptGetPages, ioptMapPages, ioptMapUserPages, ioptUnmapIova } from '../../impl/iommufd/io_pagetable.ts';
import { iommufdTestSyzConvIovaId, SelftestAccess } from '../../impl/iommufd/selftest.ts';
import { layoutOf, userArgOf } from '../../impl/iommufd/ucmd.ts';
import type { VfioDevice, VfioDeviceFile } from '../../impl/iommufd/vfio_cdev.ts';
import type { IommufdObject } from '../../impl/iommufd/object.ts';
import type { PagesListElm } from '../../impl/iommufd/iommufd_private.ts';
import type { IommuDomain, Machine } from '../../impl/platform/index.ts';
import type { SimDevice } from '../../impl/platform/iommu.ts';
import type { IotlbGather } from '../../impl/pagetable/gather.ts';
import { hwUnits, patchOwn, type MutantEnv, type MutantHooks } from './harness.ts';

/** Which invariant family the fault breaks (the suite's invariants oracle, conformance/suite/oracles/invariants.ts). */
export type MutantClass = 'isolation' | 'confinement' | 'coherency' | 'lifetime' | 'accounting' | 'abi-hygiene' | 'errno' | 'uapi';

export interface Mutant {
  readonly name: string;
  readonly class: MutantClass;
  /** Must be killed by `--oracle invariants` too. */
  readonly security: boolean;
  /** The spec clauses (spec/clauses ids) it breaks. */
  readonly clauses: readonly string[];
  /** The suite property expected to object (invariants.* or differential). */
  readonly invariant: string;
  /** The small change, in one sentence. */
  readonly change: string;
  /** The real bug class it stands for. */
  readonly bugClass: string;
  /** A real kernel fix of this class, by subject, where one is known. */
  readonly kernelFix?: string;
  readonly hooks: MutantHooks;
}

const PAGE = 4096;
/** The classes a security mutant breaks (isolation, confinement, coherency). */
export const SECURITY_CLASSES: ReadonlySet<MutantClass> = new Set(['isolation', 'confinement', 'coherency']);

// ------------------------------------------------------------------ helpers

/** The drivers of the machine (one object per IOMMU driver of this machine). */
function drivers(m: Machine) {
  return [...new Set([...m.instances.values()].map((i) => i.driver))];
}

/** The hardware units (walker, IOTLB, invalidation) of the machine. */
/** A VFIO device file's request number for a command name. */
function vfioRequest(df: VfioDeviceFile, name: string): number | undefined {
  return commandByName(df.profile, name)?.request;
}

/** The device behind an fd of the process, if it is a VFIO device file. */
function deviceOfFd(env: MutantEnv, fd: number): SimDevice | undefined {
  const f = env.proc.fds.lookup(fd);
  return f?.kind === 'vfio-device' ? (f.private_data as VfioDeviceFile).device.dev : undefined;
}

/**
 * Run `fn` while the machine answers device_iommu_capable(ENFORCE_CACHE_COHERENCY)
 * with `answer(dev)` (an own property of this machine only, removed after).
 */
function withCoherency<T>(m: Machine, answer: (dev: SimDevice, real: boolean) => boolean, fn: () => T): T {
  const own = Object.getOwnPropertyDescriptor(m, 'capable');
  patchOwn(m, 'capable', (capable) => (dev, cap) => (cap === 'ENFORCE_CACHE_COHERENCY' ? answer(dev, capable(dev, cap)) : capable(dev, cap)));
  try {
    return fn();
  } finally {
    if (own) Object.defineProperty(m, 'capable', own);
    else delete (m as unknown as Record<string, unknown>)['capable'];
  }
}

const mapFlagMask = (ctx: IommufdCtx): number => flagMask(ctx.profile, 'iommufd_ioas_map_flags');
const RW = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;

/** A handler that only marks the command as in flight (MutantEnv.inIoctl) for process-level hooks. */
const passThrough = (ucmd: Ucmd, original: IoctlExecute): number => original(ucmd);

// ------------------------------------------------------------------ the catalogue

const CATALOGUE: Omit<Mutant, 'security'>[] = [
  // ---------------------------------------------------------------- group isolation
  {
    name: 'group-owner-unchecked',
    class: 'isolation',
    clauses: ['GROUP.OWNERSHIP', 'VFIO_BIND.DMA_OWNER'],
    invariant: 'invariants.group-isolation',
    change: 'iommu_device_claim_dma_owner takes another reference on a group already owned by a different owner instead of failing EPERM',
    bugClass: 'a missing DMA-ownership comparison: a second context (or a kernel driver) binds a device whose group another context owns, and reaches that context’s DMA',
    hooks: {
      machine: (m) =>
        patchOwn(m, 'claimDmaOwner', (claim) => (dev, owner) => {
          const g = dev.group;
          if (g.ownerCnt > 0 && g.owner !== owner) {
            g.ownerCnt++; // the fault: `if (group->owner != owner) return -EPERM` is missing
            return 0;
          }
          return claim(dev, owner);
        }),
    },
  },
  {
    name: 'remove-releases-owned-group',
    class: 'isolation',
    clauses: ['GROUP.OWNERSHIP'],
    invariant: 'invariants.group-isolation',
    change: 'device_remove of a device that is not bound releases DMA ownership of its group although a sibling still holds it (the group returns to its default domain under the bound sibling)',
    bugClass: 'an owner count dropped on a path that never took it (release without claim on hot-unplug)',
    hooks: {
      request: (req, next, env) => {
        if (req.op !== 'device_remove') return next(req);
        const m = env.machine();
        const dev = m.device(req.device);
        const bound = ((dev?.vfio as VfioDevice | undefined)?.iommufdDevice ?? null) !== null;
        const r = next(req);
        if (r.ok && dev && !bound && dev.group.ownerCnt > 0) m.releaseDmaOwner(dev);
        return r;
      },
    },
  },
  {
    name: 'group-split-across-hwpts',
    class: 'isolation',
    clauses: ['GROUP.SAME_HWPT'],
    invariant: 'invariants.group-isolation',
    change: 'iommufd_hw_pagetable_attach no longer compares the group’s current HWPT: a second device of an attached group attaches to another HWPT (the group stays on the first)',
    bugClass: 'per-device instead of per-group attach bookkeeping: a device believed to be in HWPT B translates through the group’s HWPT A',
    hooks: {
      vfioIoctl: (df, cmd, _arg, original) => {
        if (cmd !== vfioRequest(df, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT')) return original();
        const idev = df.device.iommufdDevice;
        const igroup = idev?.igroup;
        if (!idev || !igroup || !igroup.hwpt || igroup.deviceList.length === 0 || igroup.deviceList.includes(idev)) return original();
        const current = igroup.hwpt;
        igroup.hwpt = null; // the fault: `igroup->hwpt != hwpt → -EINVAL` compares against nothing
        try {
          return original();
        } finally {
          if (igroup.hwpt === null) igroup.hwpt = current;
        }
      },
    },
  },
  {
    name: 'detach-keeps-domain',
    class: 'confinement',
    clauses: ['VFIO_DETACH.BLOCKS', 'GROUP.BLOCKED_WHEN_EMPTY', 'DMA.ISOLATION'],
    invariant: 'invariants.dma-confinement',
    change: 'iommu_detach_group leaves the group on its old domain instead of the blocking domain',
    bugClass: 'a detach that does not restore the blocking (or default) domain: an unattached device still reaches the IOAS it left',
    hooks: { machine: (m) => patchOwn(m, 'iommuDetachGroup', () => () => undefined) },
  },
  // ---------------------------------------------------------------- DMA confinement
  {
    name: 'iotlb-not-flushed-on-unmap',
    class: 'confinement',
    clauses: ['DMA.NO_STALE_TRANSLATION', 'IOAS_UNMAP.NOTHING_REACHABLE'],
    invariant: 'invariants.dma-confinement',
    change: 'the driver’s iotlb_sync issues no invalidation: unmapped IOVAs stay in the IOTLB',
    bugClass: 'a missing IOTLB invalidation on unmap (driver iotlb_sync / gather flush skipped)',
    hooks: { machine: (m) => hwUnits(m).forEach((hw) => patchOwn(hw, 'flushGather', () => () => undefined)) },
  },
  {
    name: 'iotlb-flush-range-short',
    class: 'confinement',
    clauses: ['DMA.NO_STALE_TRANSLATION'],
    invariant: 'invariants.dma-confinement',
    change: 'the gather flush invalidates [start, end) at page granularity instead of [start, end]: the last page of every unmapped range stays in the IOTLB',
    bugClass: 'an off-by-one in an invalidation range (size from last - start instead of last - start + 1)',
    hooks: {
      machine: (m) =>
        hwUnits(m).forEach((hw) =>
          patchOwn(hw, 'flushGather', (flush) => (d, g: IotlbGather) => {
            if (g.empty || g.wide) return flush(d, g);
            if (g.end - g.start + 1 <= PAGE) return undefined; // nothing left to flush
            const end = g.end;
            g.end = end - PAGE;
            try {
              flush(d, g);
            } finally {
              g.end = end;
            }
          }),
        ),
    },
  },
  {
    name: 'unmap-stale-last-pte',
    class: 'confinement',
    clauses: ['IOAS_UNMAP.NOTHING_REACHABLE', 'DMA.NO_STALE_TRANSLATION'],
    invariant: 'invariants.dma-confinement',
    change: 'iommu_unmap clears one IO page less than asked: the last PTE of every unmapped area stays',
    bugClass: 'unmap leaving a stale PTE (an exclusive/inclusive end confusion in the page-table walk)',
    hooks: {
      domain: (d) =>
        patchOwn(d, 'unmap', (unmap) => (iova, size) => {
          const io = d.minPageSize || PAGE;
          if (size > io) unmap(iova, size - io);
          return size; // reports the whole range as unmapped
        }),
    },
  },
  {
    name: 'write-permission-ignored',
    class: 'confinement',
    clauses: ['DMA.ISOLATION', 'IOAS_MAP.FLAGS'],
    invariant: 'invariants.dma-confinement',
    change: 'the domain map makes every PTE writable, whatever IOMMU_WRITE says',
    bugClass: 'a permission bit ignored when building PTEs (prot → PTE conversion)',
    hooks: { domain: (d) => patchOwn(d, 'map', (map) => (iova, pa, size, prot) => map(iova, pa, size, prot | IOMMU_WRITE)) },
  },
  {
    name: 'read-permission-ignored',
    class: 'confinement',
    clauses: ['DMA.ISOLATION', 'IOAS_MAP.FLAGS'],
    invariant: 'invariants.dma-confinement',
    change: 'the domain map makes every PTE readable, whatever IOMMU_READ says',
    bugClass: 'a permission bit ignored when building PTEs (a write-only mapping leaks reads)',
    hooks: { domain: (d) => patchOwn(d, 'map', (map) => (iova, pa, size, prot) => map(iova, pa, size, prot | IOMMU_READ)) },
  },
  {
    name: 'area-map-past-last-byte',
    class: 'confinement',
    clauses: ['DMA.LANDS_ON_USER_PAGES', 'DMA.ISOLATION'],
    invariant: 'invariants.dma-confinement',
    change: 'filling a domain maps one IO page past each contiguous run (the area’s last byte taken as exclusive)',
    bugClass: 'an off-by-one at an area’s last byte: the page after the area (whatever physical memory follows) becomes reachable',
    hooks: {
      domain: (d) =>
        patchOwn(d, 'map', (map) => (iova, pa, size, prot) => {
          const io = d.minPageSize || PAGE;
          const rc = map(iova, pa, size + io, prot);
          return rc === 0 ? 0 : map(iova, pa, size, prot);
        }),
    },
  },
  {
    name: 'msi-window-not-reserved',
    class: 'confinement',
    clauses: ['GROUP.RESV_PER_DEVICE'],
    invariant: 'invariants.dma-confinement',
    change: 'a bound device’s reserved regions reach the IOAS without its unit’s MSI window (IOMMU_RESV_MSI / IOMMU_RESV_SW_MSI dropped)',
    bugClass: 'a reserved region lost on its way to iopt_table_enforce_dev_resv_regions: userspace can map over the interrupt doorbell and DMA into it',
    hooks: {
      object: (obj) => {
        if (obj.type !== 'DEVICE') return;
        patchOwn((obj as IommufdDevice).dev, 'resvRegions', (regions) => () => regions().filter((r) => r.type !== 'msi' && r.type !== 'sw-msi'));
      },
    },
  },
  {
    name: 'unmap-error-reported-as-success',
    class: 'confinement',
    clauses: ['IOAS_UNMAP.NO_SPLIT', 'IOAS_UNMAP.NOTHING_REACHABLE'],
    invariant: 'invariants.dma-confinement',
    change: 'IOMMU_IOAS_UNMAP swallows an error that comes after some areas were unmapped and reports the whole requested length',
    bugClass: 'bytes unmapped misreported on an error path: userspace believes a range is gone while areas past the failure point stay mapped',
    hooks: {
      handlers: {
        IOMMU_IOAS_UNMAP: (ucmd, original) => {
          const { cmd, ctx } = ucmd;
          const iova = cmd.big('iova');
          const length = cmd.big('length');
          if ((iova === 0n && length === ULONG_MAX) || iova >= ULONG_MAX || length >= ULONG_MAX) return original(ucmd);
          const r = iommufdGetIoas(ctx, cmd.num('ioas_id'));
          if (r.errno || !r.value) return r.errno;
          const unmapped = { bytes: 0n };
          const rc = ioptUnmapIova(r.value.iopt, iova, length, unmapped);
          if (!unmapped.bytes) return rc || -ENOENT;
          cmd.set('length', rc ? length : unmapped.bytes); // the fault: rc dropped once something was unmapped
          return iommufdUcmdRespond(ucmd);
        },
      },
    },
  },
  // ---------------------------------------------------------------- coherency
  {
    name: 'enforcing-accepts-noncoherent',
    class: 'coherency',
    clauses: ['HWPT.ENFORCING_REFUSES_NONCOHERENT'],
    invariant: 'invariants.coherency',
    change: 'the driver’s attach_dev no longer refuses a device without snoop control on a domain that enforces cache coherency',
    bugClass: 'a non-coherent device accepted into an enforcing domain (force_snooping not checked against the attached devices)',
    kernelFix: 'iommu/vt-d: Check domain force_snooping against attached devices (from memory)',
    hooks: {
      machine: (m) =>
        drivers(m).forEach((drv) =>
          patchOwn(drv, 'attachDev', (attach) => (domain: IommuDomain, dev) => {
            if (!domain.enforceCacheCoherency || dev.caps.enforceCacheCoherency) return attach(domain, dev);
            domain.enforceCacheCoherency = false; // the fault: the snoop check does not see the domain's enforcement
            try {
              return attach(domain, dev);
            } finally {
              domain.enforceCacheCoherency = true;
            }
          }),
        ),
    },
  },
  {
    name: 'kvm-add-ignores-coherency',
    class: 'coherency',
    clauses: ['KVM.NONCOHERENT_IFF'],
    invariant: 'invariants.coherency',
    change: 'KVM_DEV_VFIO_FILE_ADD registers the file as coherent without asking vfio_file_enforced_coherent',
    bugClass: 'KVM registration that ignores the device’s coherency: WBINVD is not emulated for a VM with a non-coherent device',
    hooks: {
      request: (req, next, env) => {
        if (req.op !== 'kvm_vfio_add') return next(req);
        const added = deviceOfFd(env, req.fd);
        return withCoherency(env.machine(), (dev, real) => (dev === added ? true : real), () => next(req));
      },
    },
  },
  {
    name: 'kvm-del-derives-from-deleted-file',
    class: 'coherency',
    clauses: ['KVM.REDERIVED', 'KVM.NONCOHERENT_IFF'],
    invariant: 'invariants.coherency',
    change: 'KVM_DEV_VFIO_FILE_DEL re-derives the non-coherent state without re-testing the files that remain: WBINVD is dropped while a non-coherent file is still registered',
    bugClass: 'WBINVD not re-derived from the remaining files when a file is deleted',
    hooks: {
      request: (req, next, env) => {
        if (req.op !== 'kvm_vfio_del') return next(req);
        return withCoherency(env.machine(), () => true, () => next(req));
      },
    },
  },
  {
    name: 'kvm-del-not-rederived',
    class: 'coherency',
    clauses: ['KVM.REDERIVED'],
    invariant: 'invariants.coherency',
    change: 'KVM_DEV_VFIO_FILE_DEL does not re-derive the non-coherent state: WBINVD emulation stays on after the last non-coherent file is gone',
    bugClass: 'WBINVD not re-derived when a file is deleted (the conservative direction: a performance bug, not a hole)',
    hooks: {
      request: (req, next, env) => {
        if (req.op !== 'kvm_vfio_del') return next(req);
        const before = next({ op: 'kvm_state', vm: req.vm } as SingleRequest);
        if (!before.ok) return next(req);
        const was = (before.result as { noncoherentDma: boolean }).noncoherentDma;
        return withCoherency(env.machine(), () => !was, () => next(req));
      },
    },
  },
  // ---------------------------------------------------------------- lifetime
  {
    name: 'destroy-ignores-users',
    class: 'lifetime',
    clauses: ['DESTROY.EBUSY', 'HWPT.DESTROY_EBUSY'],
    invariant: 'invariants.lifetime',
    change: 'IOMMU_DESTROY drops every reference instead of refcount_dec_if_one: a referenced object is destroyed',
    bugClass: 'DESTROY ignoring a reference (use-after-free of an IOAS under a HWPT, a HWPT under a device)',
    hooks: {
      handlers: {
        IOMMU_DESTROY: (ucmd, original) => {
          const obj = ucmd.ctx.objects.load(ucmd.cmd.num('id'));
          if (obj && obj.users > 1) obj.users = 1; // the fault
          return original(ucmd);
        },
      },
    },
  },
  {
    name: 'id-reused-while-referenced',
    class: 'lifetime',
    clauses: ['OBJECTS.LOWEST_FREE_ID', 'DESTROY.ENOENT'],
    invariant: 'invariants.lifetime',
    change: 'xa_alloc hands out the id of an object that is still referenced (its slot was released early)',
    bugClass: 'an id reused while referenced: the old id now names a new object, the old object lives on unnamed',
    hooks: {
      ctx: (ctx) =>
        patchOwn(ctx.objects, 'allocId', (alloc) => () => {
          const busy = ctx.objects.entries().find(([, o]) => o.users > 1);
          if (!busy) return alloc();
          ctx.objects.store(busy[0], null as unknown as IommufdObject); // the fault: the slot is reserved again while referenced
          return busy[0];
        }),
    },
  },
  {
    name: 'abort-keeps-reserved-id',
    class: 'lifetime',
    clauses: ['OBJECTS.ABORT_ON_ERROR', 'OBJECTS.LOWEST_FREE_ID'],
    invariant: 'invariants.lifetime',
    change: 'iommufd_object_abort frees the object but not its reserved xarray slot: the id of an object whose ioctl failed stays taken',
    bugClass: 'an id leaked on an error path (iommufd_object_abort vs abort_and_destroy unwinds): later objects get higher ids and the context never reads as empty again',
    hooks: {
      ctx: (ctx) =>
        patchOwn(ctx.objects, 'erase', (erase) => (id) => {
          if (ctx.objects.has(id) && !ctx.objects.load(id)) return; // the fault: a reserved, never-published slot is not released
          erase(id);
        }),
    },
  },
  {
    name: 'access-not-told-to-unpin',
    class: 'lifetime',
    clauses: ['ACCESS.UNMAP_NOTIFY'],
    invariant: 'invariants.lifetime',
    change: 'iommufd_access_notify_unmap skips the access: its pins stay and the unmap spins until EDEADLOCK',
    bugClass: 'an access not told to unpin before an area under it is unmapped',
    hooks: {
      object: (obj) => {
        if (obj.type === 'ACCESS') patchOwn(obj as IommufdObject & { notifyUnmap(iova: bigint, length: bigint): void }, 'notifyUnmap', () => () => undefined);
      },
    },
  },
  // ---------------------------------------------------------------- accounting
  {
    name: 'pin-leaked-on-map-error',
    class: 'accounting',
    clauses: ['PAGES.RELEASE', 'FAIL_NTH.ATOMIC'],
    invariant: 'invariants.accounting',
    change: 'an IOMMU_IOAS_MAP / IOAS_COPY that fails after pinning does not unpin (the error path skips unpin_user_pages)',
    bugClass: 'a pin leaked on an error path (e.g. the RLIMIT_MEMLOCK charge or a domain map failing after the pin)',
    hooks: {
      handlers: { IOMMU_IOAS_MAP: passThrough, IOMMU_IOAS_COPY: passThrough },
      process: (proc, env) =>
        patchOwn(proc, 'unpinUserPage', (unpin) => (pfn) => {
          if (env.inIoctl === 'IOMMU_IOAS_MAP' || env.inIoctl === 'IOMMU_IOAS_COPY') return; // only error paths unpin during MAP/COPY
          unpin(pfn);
        }),
    },
  },
  {
    name: 'pin-ignores-write-permission',
    class: 'confinement',
    clauses: ['PAGES.PIN_FOR_WRITE'],
    invariant: 'invariants.dma-confinement',
    change: 'the pages of a writable mapping are pinned without asking for write access (no FOLL_WRITE): read-only user memory is mapped writable',
    bugClass: 'a long-term pin that does not check write access (the FOLL_FORCE / COW class of CVE-2020-29374)',
    hooks: {
      process: (proc) => patchOwn(proc, 'pinUserPages', (pin) => (va, npages) => pin(va, npages, false)),
    },
  },
  // ---------------------------------------------------------------- ABI hygiene
  {
    name: 'rlimit-mode-object-id-ignored',
    class: 'abi-hygiene',
    clauses: ['OPTION.RLIMIT_MODE.OBJECT_ID'],
    invariant: 'invariants.abi-hygiene',
    change: 'IOMMU_OPTION_RLIMIT_MODE ignores a non-zero object_id instead of refusing it with EOPNOTSUPP',
    bugClass: 'a must-be-zero field of a global option ignored (it can never be given a meaning later)',
    hooks: {
      handlers: {
        IOMMU_OPTION: (ucmd, original) => {
          const id = ucmd.cmd.num('object_id');
          if (ucmd.cmd.num('option_id') !== IOMMU_OPTION_RLIMIT_MODE || id === 0) return original(ucmd);
          ucmd.cmd.set('object_id', 0);
          const rc = original(ucmd);
          ucmd.cmd.set('object_id', id);
          return rc;
        },
      },
    },
  },
  {
    name: 'map-reserved-ignored',
    class: 'abi-hygiene',
    clauses: ['IOAS_MAP.FLAGS'],
    invariant: 'invariants.abi-hygiene',
    change: 'IOMMU_IOAS_MAP no longer refuses a non-zero __reserved',
    bugClass: 'a reserved field ignored (it can never be given a meaning later)',
    hooks: {
      handlers: {
        IOMMU_IOAS_MAP: (ucmd, original) => {
          ucmd.cmd.set('__reserved', 0);
          return original(ucmd);
        },
      },
    },
  },
  {
    name: 'ioas-alloc-flags-ignored',
    class: 'abi-hygiene',
    clauses: ['IOAS_ALLOC.FLAGS'],
    invariant: 'invariants.abi-hygiene',
    change: 'IOMMU_IOAS_ALLOC accepts unknown flags',
    bugClass: 'unknown flag bits ignored instead of EOPNOTSUPP',
    hooks: {
      handlers: {
        IOMMU_IOAS_ALLOC: (ucmd, original) => {
          ucmd.cmd.set('flags', 0);
          return original(ucmd);
        },
      },
    },
  },
  {
    name: 'nonzero-tail-accepted',
    class: 'abi-hygiene',
    clauses: ['DISPATCH.NONZERO_TAIL'],
    invariant: 'invariants.abi-hygiene',
    change: 'the iommufd dispatch copies min(size, sizeof) and ignores a non-zero tail instead of copy_struct_from_user’s E2BIG',
    bugClass: 'copy_from_user of the known prefix where copy_struct_from_user is required',
    hooks: {
      decodeFailed: (ctx, cmd, arg, d, original, dispatch) => {
        if (d.errno !== E2BIG || !d.command?.struct) return original();
        const ua = userArgOf(ctx.proc, arg, ctx.profile);
        if (!ua.readable) return original();
        const bytes = ua.readable.slice();
        bytes.fill(0, layoutOf(d.command.struct, ctx.profile).size);
        return dispatch(decodeIoctl(ctx.profile, 'iommufd', cmd, { value: arg, readable: bytes }));
      },
    },
  },
  // ---------------------------------------------------------------- errno order
  {
    name: 'map-ioas-before-flags',
    class: 'errno',
    clauses: ['IOAS_MAP.FLAGS', 'IOAS_MAP.IOAS'],
    invariant: 'differential',
    change: 'IOMMU_IOAS_MAP looks the IOAS up before checking flags, __reserved, overflow and READ|WRITE',
    bugClass: 'wrong errno order (ENOENT where the kernel answers EOPNOTSUPP / EOVERFLOW / EINVAL)',
    hooks: {
      handlers: {
        IOMMU_IOAS_MAP: (ucmd, original) => {
          const obj = ucmd.ctx.objects.load(ucmd.cmd.num('ioas_id'));
          if (!obj || obj.type !== 'IOAS') return -ENOENT;
          return original(ucmd);
        },
      },
    },
  },
  {
    name: 'hwpt-alloc-device-before-reserved',
    class: 'errno',
    clauses: ['HWPT_ALLOC.RESERVED', 'HWPT_ALLOC.DATA_LEN_MISMATCH', 'HWPT_ALLOC.NO_DEVICE'],
    invariant: 'differential',
    change: 'IOMMU_HWPT_ALLOC looks the device up before checking __reserved and data_type/data_len',
    bugClass: 'wrong errno order (ENOENT where the kernel answers EOPNOTSUPP / EINVAL)',
    hooks: {
      handlers: {
        IOMMU_HWPT_ALLOC: (ucmd, original) => {
          const obj = ucmd.ctx.objects.load(ucmd.cmd.num('dev_id'));
          if (!obj || obj.type !== 'DEVICE') return -ENOENT;
          return original(ucmd);
        },
      },
    },
  },
  // ---------------------------------------------------------------- classes of real iommufd fixes
  {
    name: 'map-missing-rw-check',
    class: 'uapi',
    clauses: ['IOAS_MAP.NO_PROT'],
    invariant: 'differential',
    change: 'IOMMU_IOAS_MAP without READABLE or WRITEABLE creates an area with no permission instead of EINVAL',
    bugClass: 'a missing READ|WRITE check on a new area',
    kernelFix: 'iommufd: Do not allow creating areas without READ or WRITE (from memory)',
    hooks: {
      handlers: {
        IOMMU_IOAS_MAP: (ucmd, original) => {
          const { cmd, ctx } = ucmd;
          const flags = cmd.num('flags');
          if (flags & RW) return original(ucmd);
          // iommufd_ioas_map before the fix
          if (flags & ~mapFlagMask(ctx) || cmd.num('__reserved')) return -EOPNOTSUPP;
          if (cmd.big('iova') >= ULONG_MAX || cmd.big('length') >= ULONG_MAX) return -EOVERFLOW;
          const r = iommufdGetIoas(ctx, cmd.num('ioas_id'));
          if (r.errno || !r.value) return r.errno;
          const m = ioptMapUserPages(r.value.iopt, ctx.proc, ctx.accountMode === 'MM', cmd.big('iova'), cmd.big('user_va'), cmd.big('length'), convIommuProt(flags), flags & IOMMU_IOAS_MAP_FIXED_IOVA ? 0 : IOPT_ALLOC_IOVA, ctx.profile);
          if (m.errno) return m.errno;
          cmd.set('iova', m.value!);
          return iommufdUcmdRespond(ucmd);
        },
      },
    },
  },
  {
    name: 'copy-missing-rw-check',
    class: 'uapi',
    clauses: ['IOAS_COPY.NO_PROT'],
    invariant: 'differential',
    change: 'IOMMU_IOAS_COPY without READABLE or WRITEABLE creates an area with no permission instead of EINVAL',
    bugClass: 'a missing READ|WRITE check on a new area (the COPY path)',
    kernelFix: 'iommufd: Do not allow creating areas without READ or WRITE (from memory)',
    hooks: {
      handlers: {
        IOMMU_IOAS_COPY: (ucmd, original) => {
          const { cmd, ctx } = ucmd;
          const flags = cmd.num('flags');
          if (flags & RW) return original(ucmd);
          // iommufd_ioas_copy before the fix
          iommufdTestSyzConvIovaId(ucmd, cmd.num('src_ioas_id'), 'src_iova');
          if (flags & ~mapFlagMask(ctx)) return -EOPNOTSUPP;
          const length = cmd.big('length');
          if (length >= ULONG_MAX || cmd.big('src_iova') >= ULONG_MAX || cmd.big('dst_iova') >= ULONG_MAX) return -EOVERFLOW;
          const src = iommufdGetIoas(ctx, cmd.num('src_ioas_id'));
          if (src.errno || !src.value) return src.errno;
          const list: PagesListElm[] = [];
          let rc = ioptGetPages(src.value.iopt, cmd.big('src_iova'), length, list);
          if (rc) return rc;
          try {
            const dst = iommufdGetIoas(ctx, cmd.num('dst_ioas_id'));
            if (dst.errno || !dst.value) return dst.errno;
            const iova = { iova: cmd.big('dst_iova') };
            rc = ioptMapPages(dst.value.iopt, list, length, iova, convIommuProt(flags), flags & IOMMU_IOAS_MAP_FIXED_IOVA ? 0 : IOPT_ALLOC_IOVA);
            if (rc) return rc;
            cmd.set('dst_iova', iova.iova);
            return iommufdUcmdRespond(ucmd);
          } finally {
            ioptFreePagesList(list);
          }
        },
      },
    },
  },
  {
    name: 'alloc-iova-align-overflow',
    class: 'uapi',
    clauses: ['IOAS_MAP.AUTO_PLACEMENT', 'IOAS_MAP.NO_SPACE'],
    invariant: 'differential',
    change: 'iopt_alloc_iova’s ALIGN() of a hole start near the top of the window wraps to 0: an automatic MAP that should fail ENOSPC is placed at IOVA 0 (plus the user page offset), below the window and outside the allowed ranges',
    bugClass: 'an ALIGN() overflow near the top of the address space',
    kernelFix: 'iommufd: Prevent ALIGN() overflow (from memory; the exact call sites it fixed are not verified here)',
    hooks: {
      handlers: {
        IOMMU_IOAS_MAP: (ucmd, original) => {
          const { cmd } = ucmd;
          const flags = cmd.num('flags');
          const rc = original(ucmd);
          if (rc !== -ENOSPC || flags & IOMMU_IOAS_MAP_FIXED_IOVA) return rc;
          // The wrapped ALIGN: the allocator's candidate is 0 | page offset of the user address.
          cmd.set('flags', flags | IOMMU_IOAS_MAP_FIXED_IOVA);
          cmd.set('iova', cmd.big('user_va') % BigInt(PAGE));
          const again = original(ucmd);
          cmd.set('flags', flags);
          if (again) return rc;
          return iommufdUcmdRespond(ucmd);
        },
      },
    },
  },
  {
    name: 'auto-domain-of-another-ioas',
    class: 'isolation',
    clauses: ['HWPT.AUTO_DOMAIN_REUSE'],
    invariant: 'invariants.group-isolation',
    change: 'iommufd_device_auto_get_domain takes its candidates from every automatic HWPT of the context instead of ioas->hwpt_list: an attach to IOAS B lands on an automatic domain of IOAS A',
    bugClass: 'a candidate walk over the wrong list head: a device meant for one address space DMAs into another’s mappings',
    hooks: {
      vfioIoctl: (df, cmd, _arg, original) => (cmd === vfioRequest(df, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT') && df.iommufd ? withEveryAutoDomain(df.iommufd.ctx, original) : original()),
      handlers: { IOMMU_TEST_CMD: (ucmd, original) => withEveryAutoDomain(ucmd.ctx, () => original(ucmd)) },
    },
  },
  {
    name: 'access-read-side-unchecked',
    class: 'confinement',
    clauses: ['ACCESS.RW', 'ACCESS.PIN_PAGES'],
    invariant: 'invariants.dma-confinement',
    change: 'check_area_prot tests only the write side: an access reads (ACCESS_RW) or pins for reading (ACCESS_PAGES) an area mapped without IOMMU_READ',
    bugClass: 'a permission check that covers one direction only: an emulated device reads guest memory no physical device behind the IOAS may read',
    hooks: {
      handlers: {
        IOMMU_TEST_CMD: (ucmd, original) => {
          const { cmd, ctx } = ucmd;
          const op = cmd.num('op');
          const member = op === IOMMU_TEST_OP_ACCESS_RW ? 'access_rw' : op === IOMMU_TEST_OP_ACCESS_PAGES ? 'access_pages' : undefined;
          if (!member || cmd.num(`${member}.flags`) & (op === IOMMU_TEST_OP_ACCESS_RW ? MOCK_ACCESS_RW_WRITE : MOCK_FLAGS_ACCESS_WRITE)) return original(ucmd);
          const staccess = ctx.proc.fds.lookup(cmd.num('id'))?.private_data;
          const iopt = staccess instanceof SelftestAccess ? staccess.access?.ioas?.iopt : undefined;
          const length = cmd.big(`${member}.length`);
          if (!iopt || length === 0n) return original(ucmd);
          const iova = cmd.big(`${member}.iova`);
          const last = iova + length - 1n;
          // The fault: for the duration of a read, the areas' missing READ is not looked at.
          const lifted = iopt.areas.filter((a) => a.start <= last && a.last >= iova && !(a.iommuProt & IOMMU_READ));
          for (const a of lifted) a.iommuProt |= IOMMU_READ;
          try {
            return original(ucmd);
          } finally {
            for (const a of lifted) a.iommuProt &= ~IOMMU_READ;
          }
        },
      },
    },
  },
  {
    name: 'unmap-length-copied-on-failure',
    class: 'abi-hygiene',
    clauses: ['DISPATCH.NO_COPYBACK_ON_FAILURE'],
    invariant: 'invariants.abi-hygiene',
    change: 'IOMMU_IOAS_UNMAP ends in one exit that copies the struct back whatever rc is: a failed unmap overwrites the caller’s length with the bytes unmapped before the failure (0)',
    bugClass: 'an out-field written on the failure path (a shared exit label that responds unconditionally)',
    hooks: {
      handlers: {
        IOMMU_IOAS_UNMAP: (ucmd, original) => {
          const rc = original(ucmd);
          if (rc >= 0 || ucmd.ctx.objects.load(ucmd.cmd.num('ioas_id'))?.type !== 'IOAS') return rc;
          ucmd.cmd.set('length', 0n);
          iommufdUcmdRespond(ucmd);
          return rc;
        },
      },
    },
  },
  {
    name: 'iova-ranges-count-not-copied',
    class: 'abi-hygiene',
    clauses: ['IOAS_IOVA_RANGES.EMSGSIZE'],
    invariant: 'invariants.abi-hygiene',
    change: 'IOMMU_IOAS_IOVA_RANGES returns EMSGSIZE before it copies the struct back: the array holds the first ranges, but num_iovas still says what the caller passed',
    bugClass: 'an out-field not written on the documented failure path: the caller cannot size its retry',
    hooks: {
      handlers: {
        IOMMU_IOAS_IOVA_RANGES: (ucmd, original) => {
          const sent = ucmd.cmd.num('num_iovas');
          const rc = original(ucmd);
          if (rc !== -EMSGSIZE) return rc;
          ucmd.cmd.set('num_iovas', sent);
          iommufdUcmdRespond(ucmd);
          return rc;
        },
      },
    },
  },
];

/**
 * Runs `attach` with every automatic paging HWPT of the context listed as a
 * candidate of every IOAS (the fault of auto-domain-of-another-ioas), then
 * puts each IOAS's own list back.
 */
function withEveryAutoDomain(ctx: IommufdCtx, attach: () => number): number {
  const objects = ctx.objects.entries().map(([, o]) => o);
  const autos = objects.filter((o): o is IommufdHwptPaging => o.type === 'HWPT_PAGING' && (o as IommufdHwptPaging).autoDomain);
  const ioases = objects.filter((o): o is IommufdIoas => o.type === 'IOAS');
  for (const ioas of ioases) for (const h of autos) if (h.ioas !== ioas) ioas.hwptList.push(h);
  try {
    return attach();
  } finally {
    for (const ioas of ioases) {
      for (let i = ioas.hwptList.length - 1; i >= 0; i--) if (ioas.hwptList[i]!.ioas !== ioas) ioas.hwptList.splice(i, 1);
    }
  }
}

export const MUTANTS: readonly Mutant[] = CATALOGUE.map((m) => ({ ...m, security: SECURITY_CLASSES.has(m.class) }));

export function mutantByName(name: string): Mutant | undefined {
  return MUTANTS.find((m) => m.name === name);
}
