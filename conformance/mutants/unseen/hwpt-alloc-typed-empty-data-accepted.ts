/**
 * hwpt-alloc-typed-empty-data-accepted (drivers/iommu/iommufd/hw_pagetable.c,
 * iommufd_hwpt_alloc).
 *
 * IOMMU_HWPT_ALLOC refuses a data type without data, and data without a type,
 * before it looks anything up (6.12 and 7.3 alike):
 *
 *     if (cmd->__reserved)
 *             return -EOPNOTSUPP;
 *     if ((cmd->data_type == IOMMU_HWPT_DATA_NONE && cmd->data_len) ||
 *         (cmd->data_type != IOMMU_HWPT_DATA_NONE && !cmd->data_len))
 *             return -EINVAL;
 *
 * The fault keeps only the first half,
 *
 *     if (cmd->data_type == IOMMU_HWPT_DATA_NONE && cmd->data_len)
 *             return -EINVAL;
 *
 * a "simplification" that reads the second half as redundant because the
 * paging path already passes `user_data.len ? &user_data : NULL`. It is not:
 * a typed request with data_len 0 is no longer refused.
 *
 * Observable: IOMMU_HWPT_ALLOC with a non-NONE data_type (e.g.
 * IOMMU_HWPT_DATA_SELFTEST or a vendor nested type) and data_len 0 —
 *   - on an IOAS: succeeds and creates a plain paging HWPT (the driver is
 *     called with no user data, as if data_type were NONE), where the kernel
 *     answers EINVAL: the caller asked for a driver-configured domain and
 *     silently got a default one (and a new object, a new domain, pinned
 *     pages when the IOAS has mappings);
 *   - on a HWPT_PAGING (the nested path): EOPNOTSUPP from the nested
 *     checks instead of EINVAL;
 *   - with a bad dev_id / pt_id: ENOENT / EINVAL of the lookups instead.
 *
 * Applied as: IOMMU_HWPT_ALLOC with data_type != NONE and data_len == 0 runs
 * a copy of iommufd_hwpt_alloc past the data check; every other request is
 * the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EINVAL } from '../../../impl/lib/errno.ts';
import { IOMMU_HWPT_DATA_NONE, IOMMU_HWPT_FAULT_ID_VALID } from '../../../spec/uapi/constants.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { iommufdGetObject, iommufdObjectAbortAndDestroy, iommufdObjectFinalize, refcount_inc } from '../../../impl/iommufd/object.ts';
import { iommufdGetDevice, iommufdUcmdRespond, type IommufdHwpt, type IommufdHwptPaging, type IommufdIoas, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { iommufdHwptNestedAllocChecks, iommufdHwptPagingAlloc, userDataOf } from '../../../impl/iommufd/hw_pagetable.ts';
import { mutantImplementation } from '../harness.ts';

/** iommufd_hwpt_alloc after its data check (__reserved and the first half were checked by the caller). */
function hwptAllocPastDataCheck(ucmd: Ucmd): number {
  const { cmd, ctx: ictx } = ucmd;
  const dataType = cmd.num('data_type');
  const dataLen = cmd.num('data_len');
  const flags = cmd.num('flags');

  const idevR = iommufdGetDevice(ictx, cmd.num('dev_id'));
  if (idevR.errno || !idevR.value) return idevR.errno;
  const idev = idevR.value;

  const ptR = iommufdGetObject(ictx, cmd.num('pt_id'), 'ANY');
  if (ptR.errno || !ptR.value) return -EINVAL;
  const pt = ptR.value;

  // user_data.len ? &user_data : NULL
  const userData = dataLen ? userDataOf(ictx, dataType, dataLen, cmd.big('data_uptr')) : undefined;
  let hwpt: IommufdHwpt;
  if (pt.type === 'IOAS') {
    const r = iommufdHwptPagingAlloc(ictx, pt as IommufdIoas, idev, flags, false, userData);
    if (r.errno || !r.value) return r.errno;
    hwpt = r.value;
  } else if (pt.type === 'HWPT_PAGING') {
    return iommufdHwptNestedAllocChecks(pt as IommufdHwptPaging, idev, flags, dataLen);
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
  if (rc) return unwind.exit(rc);
  iommufdObjectFinalize(ictx, hwpt);
  return unwind.exit(0);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('hwpt-alloc-typed-empty-data-accepted', profile, {
    handlers: {
      IOMMU_HWPT_ALLOC: (ucmd, original) => {
        const { cmd } = ucmd;
        // THE FAULT: `(data_type != IOMMU_HWPT_DATA_NONE && !data_len)` is no longer refused.
        if (cmd.num('__reserved') || cmd.num('data_type') === IOMMU_HWPT_DATA_NONE || cmd.num('data_len') !== 0) return original(ucmd);
        return hwptAllocPastDataCheck(ucmd);
      },
    },
  });
}
