/**
 * The system machine's own guards: rules that need more than one object — an
 * id looked up in the object table with its type, an fd in the fd table, the
 * context's compat IOAS, a device file's binding. Each names the clause(s) it
 * implements and the errno the kernel returns when it holds.
 */
import { U } from './uapi.ts';
import type { Obj, ObjKind } from './state.ts';
import type { SystemGuard, Tx } from './tx.ts';

export function objAt(tx: Tx, id: number): Obj | undefined {
  return tx.sys.ctxs[tx.ctx]?.objects[id];
}

export function isTombstone(o: Obj): boolean {
  return o.tomb === true;
}

/** iommufd_get_object(ictx, id, type): absent, tombstoned or of another type → undefined (ENOENT). */
export function live(tx: Tx, id: number, kinds?: readonly ObjKind[]): Obj | undefined {
  const o = objAt(tx, id);
  if (!o || isTombstone(o)) return undefined;
  if (kinds && !kinds.includes(o.kind)) return undefined;
  return o;
}

const lookup = (kinds: readonly ObjKind[], doc: string, clauses: readonly string[], errno = 'ENOENT'): SystemGuard => ({
  errno,
  clauses,
  doc,
  test: (tx, id) => !live(tx, id, kinds),
});

const TYPED = 'OBJECTS.TYPED_LOOKUP';

export const SYSTEM_GUARDS: { readonly [name: string]: SystemGuard } = {
  fdClosed: {
    errno: 'EBADF',
    clauses: ['FILES.EBADF'],
    doc: 'the fd was closed earlier in the session (and not reused)',
    test: (tx, fd) => tx.sys.closed.includes(fd),
  },
  noSuchObject: {
    errno: 'ENOENT',
    clauses: ['DESTROY.ENOENT'],
    doc: 'no object has this id (a tombstone is routed to its vDEVICE machine)',
    test: (tx, id) => objAt(tx, id) === undefined,
  },
  noSuchIoas: lookup(['ioas'], 'the id is not an IOAS', [TYPED, 'IOAS_MAP.IOAS', 'IOAS_UNMAP.IOAS', 'IOAS_IOVA_RANGES.IOAS', 'IOAS_ALLOW_IOVAS.IOAS', 'OPTION.HUGE_PAGES.IOAS', 'VFIO_IOAS.SET_ENOENT']),
  noSuchSrcIoas: lookup(['ioas'], 'the source id is not an IOAS', ['IOAS_COPY.SRC']),
  noSuchDstIoas: lookup(['ioas'], 'the destination id is not an IOAS', ['IOAS_COPY.DST']),
  noSuchDevice: lookup(['device'], 'the id is not a DEVICE object', [TYPED, 'HWPT_ALLOC.NO_DEVICE', 'GET_HW_INFO.NO_DEVICE']),
  noSuchPt: {
    errno: 'ENOENT',
    clauses: ['VFIO_ATTACH.PT_ABSENT', TYPED],
    doc: 'pt_id names no object',
    test: (tx, id) => !live(tx, id),
  },
  ptWrongType: {
    errno: 'EINVAL',
    clauses: ['VFIO_ATTACH.PT_ABSENT'],
    doc: 'pt_id is neither an IOAS nor a HWPT',
    test: (tx, id) => !live(tx, id, ['ioas', 'hwpt_paging', 'hwpt_nested']),
  },
  noSuchPtForAlloc: {
    errno: 'EINVAL',
    clauses: ['HWPT_ALLOC.PT_ABSENT'],
    doc: 'IOMMU_HWPT_ALLOC pt_id names no object (EINVAL, not ENOENT)',
    test: (tx, id) => !live(tx, id),
  },
  ptWrongTypeForAlloc: {
    errno: 'EINVAL',
    clauses: ['HWPT_ALLOC.PT_WRONG_TYPE'],
    doc: 'IOMMU_HWPT_ALLOC pt_id is not an IOAS, a paging HWPT or (7.3) a vIOMMU',
    test: (tx, id) => !live(tx, id, tx.profile === '6.12' ? ['ioas', 'hwpt_paging'] : ['ioas', 'hwpt_paging', 'viommu']),
  },
  noSuchFault: lookup(['fault'], 'fault_id is not a fault queue', ['HWPT_ALLOC.FAULT_LOOKUP']),
  noSuchHwptPaging: lookup(['hwpt_paging'], 'the id is not a paging HWPT', [TYPED, 'HWPT.PAGING_LOOKUP']),
  noSuchHwpt: lookup(['hwpt_paging', 'hwpt_nested'], 'the id is not a HWPT', [TYPED]),
  noSuchInvalidateTarget: {
    errno: 'ENOENT',
    clauses: ['HWPT_INVALIDATE.TARGET'],
    doc: 'no object has this id (6.12: or it is not a HWPT)',
    test: (tx, id) => (tx.profile === '6.12' ? !live(tx, id, ['hwpt_nested', 'hwpt_paging']) : !live(tx, id)),
  },
  invalidateWrongType: {
    errno: 'EINVAL',
    clauses: ['HWPT_INVALIDATE.TARGET'],
    doc: '7.3: the object is neither a HWPT nor a vIOMMU',
    test: (tx, id) => !live(tx, id, ['hwpt_nested', 'hwpt_paging', 'viommu']),
  },
  noSuchViommu: lookup(['viommu'], 'the id is not a vIOMMU', [TYPED, 'VIOMMU.LOOKUP']),
  noSuchSelftest: lookup(['selftest'], 'the id is not a mock device’s selftest object', [TYPED, 'MOCK_DOMAIN.DESTROY']),
  notAnAccessFd: {
    errno: 'EBADFD',
    clauses: ['ACCESS.LOOKUP_BY_FD'],
    doc: 'the fd is not an open selftest access fd',
    test: (tx, fd) => tx.sys.fds[fd]?.kind !== 'access',
  },
  noCompatIoas: {
    errno: 'ENODEV',
    clauses: ['VFIO_IOAS.GET_ENODEV', 'VFIO_COMPAT.NEEDS_COMPAT_IOAS'],
    doc: 'the context has no compat IOAS (IOMMU_VFIO_IOAS SET, and not destroyed since)',
    test: (tx) => tx.sys.ctxs[tx.ctx]?.compatIoas === undefined,
  },
  ctxHasObjects: {
    errno: 'EBUSY',
    clauses: ['OPTION.RLIMIT_MODE.EBUSY'],
    doc: 'the context’s object table is not empty (tombstones count)',
    test: (tx) => Object.keys(tx.sys.ctxs[tx.ctx]?.objects ?? {}).length > 0,
  },
  fileNotBound: {
    errno: 'EINVAL',
    clauses: ['VFIO_BIND.NOT_BOUND'],
    doc: 'the device file is not the one bound to an iommufd',
    test: (tx, file) => {
      const f = tx.sys.files[file];
      const d = f ? tx.sys.devs[f.dev] : undefined;
      return !d || d.file !== file;
    },
  },
  otherFileBound: {
    errno: 'EINVAL',
    clauses: ['VFIO_BIND.OPEN_ONCE'],
    doc: 'the device is already bound through another file',
    test: (tx, file) => {
      const f = tx.sys.files[file];
      const d = f ? tx.sys.devs[f.dev] : undefined;
      return d?.file !== undefined && d.file !== file;
    },
  },
  bindFdClosed: {
    errno: 'EBADF',
    clauses: ['VFIO_BIND.BAD_FD'],
    doc: 'the iommufd argument is an fd closed earlier',
    test: (tx, fd) => tx.sys.closed.includes(fd),
  },
  bindNotIommufd: {
    errno: 'EBADFD',
    clauses: ['VFIO_BIND.BAD_FD'],
    doc: 'the iommufd argument is an open file that is not an iommufd',
    test: (tx, fd) => {
      const e = tx.sys.fds[fd];
      return e !== undefined && e.kind !== 'iommufd';
    },
  },
  kvmFdClosed: {
    errno: 'EBADF',
    clauses: ['KVM.FILE_ADD_ERRNO', 'KVM.FILE_DEL_ERRNO'],
    doc: 'the fd was closed earlier',
    test: (tx, fd) => tx.sys.closed.includes(fd),
  },
  foreignDomain: {
    errno: 'EINVAL',
    clauses: ['ATTACH.FOREIGN_DOMAIN'],
    doc: 'the HWPT’s domain belongs to another IOMMU driver than the device’s (the handler passes 1 when it does)',
    test: (_tx, foreign) => foreign === 1,
  },
  triggerNotMock: {
    errno: 'EINVAL',
    clauses: ['FAULT.TRIGGER_IOPF'],
    doc: 'IOMMU_TEST_OP_TRIGGER_IOPF on a device that is not a mock device',
    test: (tx, id) => {
      const o = live(tx, id, ['device']);
      return o !== undefined && tx.sys.devs[o.dev as string]?.mock === false;
    },
  },
  noViommuForVevent: {
    errno: 'ENOENT',
    clauses: ['VEVENTQ.DELIVERY'],
    doc: 'mock: the device is not attached through a vIOMMU under a non-zero virtual id',
    test: (tx, id) => {
      const o = live(tx, id, ['device']);
      const d = o ? tx.sys.devs[o.dev as string] : undefined;
      return !d || d.mockViommu === undefined || !d.mockVdevId;
    },
  },
  noVeventq: {
    errno: 'EOPNOTSUPP',
    clauses: ['VEVENTQ.DELIVERY'],
    doc: 'the vIOMMU has no vEVENTQ of the selftest type',
    test: (tx, viommu) => !Object.values(tx.sys.ctxs[tx.ctx]?.objects ?? {}).some((o) => o.kind === 'veventq' && o.viommu === viommu && o.type === U.IOMMU_VEVENTQ_TYPE_SELFTEST),
  },
};
