/**
 * Round 37 fault (HWPT allocation, errno): drivers/iommu/iommufd/hw_pagetable.c
 * iommufd_hwpt_paging_alloc loses the test that a NEST_PARENT HWPT cannot
 * take a fault queue.
 *
 * Correct:
 *     if ((flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) &&
 *         !device_iommu_capable(idev->dev, IOMMU_CAP_DIRTY_TRACKING))
 *             return ERR_PTR(-EOPNOTSUPP);
 *     if ((flags & IOMMU_HWPT_FAULT_ID_VALID) &&
 *         (flags & IOMMU_HWPT_ALLOC_NEST_PARENT))
 *             return ERR_PTR(-EOPNOTSUPP);
 *
 * Fault: the second test is gone. IOMMU_HWPT_ALLOC(flags = NEST_PARENT |
 * FAULT_ID_VALID) on an IOAS now allocates the object and the driver's
 * nest-parent domain (flags & ~FAULT_ID_VALID), attaches it to the IOAS, and
 * only then looks fault_id up in iommufd_hwpt_alloc.
 *
 * What a user sees (7.3 only: 6.12's valid flags have no FAULT_ID_VALID, so
 * the request is refused earlier there): the command fails with the fault
 * lookup's ENOENT (fault_id is no FAULT object), or, when the driver refuses
 * the domain first, with the driver's errno (ENOMEM under fail-nth,
 * EOPNOTSUPP ...), instead of EOPNOTSUPP; with a valid fault object a
 * nest-parent HWPT with a fault queue would be created, which the kernel
 * forbids.
 */
import { EINVAL, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_DATA_NONE, IOMMU_HWPT_FAULT_ID_VALID } from '../../../spec/uapi/constants.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { iommufdGetDevice, type IommufdIoas, iommufdUcmdRespond } from '../../../impl/iommufd/iommufd_private.ts';
import { iommufdGetObject, iommufdObjectAbortAndDestroy, iommufdObjectFinalize, refcount_inc } from '../../../impl/iommufd/object.ts';
import { iommufdHwptPagingAlloc, userDataOf } from '../../../impl/iommufd/hw_pagetable.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { mutantImplementation } from '../harness.ts';

/** iommufd_hwpt_alloc for pt_id = an IOAS, with iommufd_hwpt_paging_alloc's FAULT_ID_VALID/NEST_PARENT test skipped. */
function hwptAllocNoFaultParentCheck(ucmd: Ucmd, original: (u: Ucmd) => number): number {
  const { cmd, ctx: ictx } = ucmd;
  const flags = cmd.num('flags');
  if (!(flags & IOMMU_HWPT_FAULT_ID_VALID) || !(flags & IOMMU_HWPT_ALLOC_NEST_PARENT)) return original(ucmd);
  if (cmd.num('__reserved')) return -EOPNOTSUPP;
  const dataType = cmd.num('data_type');
  const dataLen = cmd.num('data_len');
  if ((dataType === IOMMU_HWPT_DATA_NONE && dataLen) || (dataType !== IOMMU_HWPT_DATA_NONE && !dataLen)) return -EINVAL;
  const idevR = iommufdGetDevice(ictx, cmd.num('dev_id'));
  if (idevR.errno || !idevR.value) return idevR.errno;
  const ptR = iommufdGetObject(ictx, cmd.num('pt_id'), 'ANY');
  if (ptR.errno || !ptR.value) return -EINVAL;
  // Only the IOAS branch reaches iommufd_hwpt_paging_alloc.
  if (ptR.value.type !== 'IOAS') return original(ucmd);
  const userData = dataLen ? userDataOf(ictx, dataType, dataLen, cmd.big('data_uptr')) : undefined;
  // The same call without the one test: the driver sees flags & ~FAULT_ID_VALID either way.
  const r = iommufdHwptPagingAlloc(ictx, ptR.value as IommufdIoas, idevR.value, flags & ~IOMMU_HWPT_FAULT_ID_VALID, false, userData);
  if (r.errno || !r.value) return r.errno;
  const hwpt = r.value;
  const unwind = new Unwind();
  unwind.onError('out_hwpt', () => iommufdObjectAbortAndDestroy(ictx, hwpt));
  const f = iommufdGetObject(ictx, cmd.num('fault_id'), 'FAULT');
  if (f.errno || !f.value) return unwind.exit(f.errno);
  hwpt.fault = f.value;
  refcount_inc(f.value);
  cmd.set('out_hwpt_id', hwpt.id);
  const rc = iommufdUcmdRespond(ucmd);
  if (rc) return unwind.exit(rc);
  iommufdObjectFinalize(ictx, hwpt);
  return unwind.exit(0);
}

export function createAdapter(profile: Profile): Implementation {
  if (profile !== '7.3') return mutantImplementation('hwpt-alloc-fault-id-with-nest-parent', profile, {});
  return mutantImplementation('hwpt-alloc-fault-id-with-nest-parent', profile, {
    handlers: { IOMMU_HWPT_ALLOC: hwptAllocNoFaultParentCheck },
  });
}
