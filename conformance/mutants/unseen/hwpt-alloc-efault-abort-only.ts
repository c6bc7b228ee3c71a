/**
 * C8.6 — hwpt-alloc-efault-abort-only (drivers/iommu/iommufd/hw_pagetable.c
 * iommufd_hwpt_alloc).
 *
 * When the copy of out_hwpt_id back to the user faults, the new HWPT is
 * undone through its destroy op before the reserved id is released:
 *     rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
 *     if (rc)
 *             goto out_hwpt;
 *     ...
 * out_hwpt:
 *     iommufd_object_abort_and_destroy(ucmd->ictx, &hwpt->obj);
 * The fault calls iommufd_object_abort() there (only the id goes back). The
 * HWPT's destroy never runs: its domain stays in the IOAS's io_pagetable
 * (every later map is mapped and pinned for it, its aperture stays reserved
 * in IOVA_RANGES), it stays on ioas->hwpt_list, and the reference it took on
 * the IOAS is never dropped, so IOMMU_DESTROY of the IOAS is EBUSY for ever
 * and closing the iommufd leaves the IOAS (and its pins) behind.
 *
 * Applied as: IOMMU_HWPT_ALLOC is the reference's iommufd_hwpt_alloc with
 * that one label changed (the handler is rebuilt from the reference's
 * exported steps).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EINVAL, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_DATA_NONE, IOMMU_HWPT_FAULT_ID_VALID } from '../../../spec/uapi/constants.ts';
import type { HwptAllocData } from '../../../impl/platform/iommu.ts';
import { iommufdGetObject, iommufdObjectAbort, iommufdObjectAbortAndDestroy, iommufdObjectFinalize, refcount_inc } from '../../../impl/iommufd/object.ts';
import { iommufdGetDevice, iommufdUcmdRespond, type IommufdDevice, type IommufdHwptPaging, type IommufdIoas, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { iommufdHwptPagingAlloc } from '../../../impl/iommufd/hw_pagetable.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { mutantImplementation } from '../harness.ts';

/** iommufd_hwpt_nested_alloc's checks before the driver (as the reference). */
function nestedAllocChecks(parent: IommufdHwptPaging, idev: IommufdDevice, flags: number, dataLen: number): number {
  const valid = idev.ictx.profile === '6.12' ? IOMMU_HWPT_FAULT_ID_VALID : IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID;
  if (flags & ~valid || !dataLen) return -EOPNOTSUPP;
  if (parent.autoDomain || !parent.nestParent || parent.domain?.owner !== idev.dev.iommu.driver) return -EINVAL;
  return -EOPNOTSUPP;
}

function hwptAlloc(ucmd: Ucmd): number {
  const { cmd, ctx: ictx } = ucmd;
  if (cmd.num('__reserved')) return -EOPNOTSUPP;
  const dataType = cmd.num('data_type');
  const dataLen = cmd.num('data_len');
  if ((dataType === IOMMU_HWPT_DATA_NONE && dataLen) || (dataType !== IOMMU_HWPT_DATA_NONE && !dataLen)) return -EINVAL;
  const flags = cmd.num('flags');
  const idevR = iommufdGetDevice(ictx, cmd.num('dev_id'));
  if (idevR.errno || !idevR.value) return idevR.errno;
  const idev = idevR.value;
  const ptR = iommufdGetObject(ictx, cmd.num('pt_id'), 'ANY');
  if (ptR.errno || !ptR.value) return -EINVAL;
  const pt = ptR.value;
  const uptr = cmd.big('data_uptr');
  const userData: HwptAllocData | undefined = dataLen ? { type: dataType, len: dataLen, read: () => ictx.proc.copyFromUser(uptr, dataLen) ?? undefined } : undefined;
  if (pt.type === 'HWPT_PAGING') return nestedAllocChecks(pt as IommufdHwptPaging, idev, flags, dataLen);
  if (pt.type !== 'IOAS') return -EINVAL;
  const r = iommufdHwptPagingAlloc(ictx, pt as IommufdIoas, idev, flags, false, userData);
  if (r.errno || !r.value) return r.errno;
  const hwpt = r.value;
  const unwind = new Unwind();
  unwind.onError('out_hwpt', () => iommufdObjectAbortAndDestroy(ictx, hwpt));
  if (flags & IOMMU_HWPT_FAULT_ID_VALID) {
    const f = iommufdGetObject(ictx, cmd.num('fault_id'), 'FAULT');
    if (f.errno || !f.value) return unwind.exit(f.errno);
    hwpt.fault = f.value;
    refcount_inc(f.value);
  }
  cmd.set('out_hwpt_id', hwpt.id);
  const rc = iommufdUcmdRespond(ucmd);
  if (rc) {
    unwind.commit();
    // THE FAULT: iommufd_object_abort, not iommufd_object_abort_and_destroy.
    iommufdObjectAbort(ictx, hwpt);
    return unwind.exit(rc);
  }
  iommufdObjectFinalize(ictx, hwpt);
  return unwind.exit(0);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('hwpt-alloc-efault-abort-only', profile, {
    handlers: { IOMMU_HWPT_ALLOC: (ucmd) => hwptAlloc(ucmd) },
  });
}
