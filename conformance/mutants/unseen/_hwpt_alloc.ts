/**
 * Shared by the faults in IOMMU_HWPT_ALLOC: a copy of iommufd_hwpt_alloc
 * (hw_pagetable.c) whose pt_id lookup failure, paging allocation, a nested
 * allocation's checks and its failure's unwind, and copy-back failure are
 * steps. With the reference's steps it answers as the reference's
 * iommufdHwptAlloc does.
 */
import { EINVAL, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_DATA_NONE, IOMMU_HWPT_FAULT_ID_VALID } from '../../../spec/uapi/constants.ts';
import type { Profile } from '../../../spec/uapi/profiles.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { iommufdGetObject, iommufdObjectAbortAndDestroy, iommufdObjectFinalize, refcount_inc } from '../../../impl/iommufd/object.ts';
import { iommufdGetDevice, iommufdUcmdRespond, type IommufdCtx, type IommufdDevice, type IommufdHwpt, type IommufdHwptPaging, type IommufdIoas, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { iommufdHwptNestedAllocChecks, iommufdHwptPagingAlloc, userDataOf } from '../../../impl/iommufd/hw_pagetable.ts';

/** The steps a fault may replace; each one not given is the reference's. */
export interface HwptAllocSteps {
  /** The data check: data_type NONE with data_len, or another type without it (EINVAL). */
  readonly dataRefused?: (dataType: number, dataLen: number) => boolean;
  /** pt_id names no object: out_put_idev, then EINVAL. */
  readonly badPt?: (idev: IommufdDevice) => number;
  /** iommufd_hwpt_paging_alloc, for a pt_id that is an IOAS. */
  readonly pagingAlloc?: typeof iommufdHwptPagingAlloc;
  /** The copy-back failed with rc: out_hwpt, iommufd_object_abort_and_destroy (run by the unwind unless this commits it). */
  readonly respondFailed?: (ictx: IommufdCtx, hwpt: IommufdHwpt, unwind: Unwind, rc: number) => number;
  /** iommufd_hwpt_nested_alloc's checks before the driver, for a pt_id that is a paging HWPT. */
  readonly nestedChecks?: typeof iommufdHwptNestedAllocChecks;
  /** A nested allocation over a paging HWPT failed with rc: out_unlock puts the parent's lookup reference (the kernel), or not. */
  readonly nestedFailed?: (parent: IommufdHwptPaging, rc: number) => number;
}

/**
 * iommufd_hwpt_nested_alloc's checks before the driver with another flag
 * mask in its first test (the kernel's: IOMMU_HWPT_FAULT_ID_VALID, 7.3 also
 * IOMMU_HWPT_ALLOC_PASID); the rest of that test (data, the driver's nested
 * op) and the parent's are the reference's.
 */
export function nestedChecksWithFlags(valid: (profile: Profile) => number): typeof iommufdHwptNestedAllocChecks {
  return (parent, idev, flags, dataLen) => {
    const mask = valid(idev.ictx.profile);
    if (flags & ~mask) return -EOPNOTSUPP;
    return iommufdHwptNestedAllocChecks(parent, idev, flags & mask & (IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID), dataLen);
  };
}

/** iommufd_hwpt_alloc over the given steps. */
export function hwptAllocWith({ dataRefused = (type, len) => (type === IOMMU_HWPT_DATA_NONE) !== (len === 0), badPt = () => -EINVAL, pagingAlloc = iommufdHwptPagingAlloc, respondFailed = (_ictx, _hwpt, unwind, rc) => unwind.exit(rc), nestedChecks = iommufdHwptNestedAllocChecks, nestedFailed = (_parent, rc) => rc }: HwptAllocSteps = {}): (ucmd: Ucmd) => number {
  return (ucmd) => {
    const { cmd, ctx: ictx } = ucmd;
    if (cmd.num('__reserved')) return -EOPNOTSUPP;
    const dataType = cmd.num('data_type');
    const dataLen = cmd.num('data_len');
    if (dataRefused(dataType, dataLen)) return -EINVAL;
    const flags = cmd.num('flags');

    const idevR = iommufdGetDevice(ictx, cmd.num('dev_id'));
    if (idevR.errno || !idevR.value) return idevR.errno;
    const idev = idevR.value;

    const ptR = iommufdGetObject(ictx, cmd.num('pt_id'), 'ANY');
    if (ptR.errno || !ptR.value) return badPt(idev);
    const pt = ptR.value;

    const userData = dataLen ? userDataOf(ictx, dataType, dataLen, cmd.big('data_uptr')) : undefined;
    let hwpt: IommufdHwpt;
    if (pt.type === 'IOAS') {
      const r = pagingAlloc(ictx, pt as IommufdIoas, idev, flags, false, userData);
      if (r.errno || !r.value) return r.errno;
      hwpt = r.value;
    } else if (pt.type === 'HWPT_PAGING') {
      const rc = nestedChecks(pt as IommufdHwptPaging, idev, flags, dataLen);
      return rc ? nestedFailed(pt as IommufdHwptPaging, rc) : rc;
    } else {
      return -EINVAL;
    }

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
    if (rc) return respondFailed(ictx, hwpt, unwind, rc);
    iommufdObjectFinalize(ictx, hwpt);
    return unwind.exit(0);
  };
}
