/**
 * Round 37 fault (HWPT allocation, abi-hygiene / errno):
 * drivers/iommu/iommufd/hw_pagetable.c iommufd_hwpt_alloc keeps only half of
 * its data_type / data_len consistency test.
 *
 * Correct:
 *     if ((cmd->data_type == IOMMU_HWPT_DATA_NONE && cmd->data_len) ||
 *         (cmd->data_type != IOMMU_HWPT_DATA_NONE && !cmd->data_len))
 *             return -EINVAL;
 *
 * Fault: the first half is gone (only "a typed request needs data" is
 * tested), so data_type = IOMMU_HWPT_DATA_NONE with a non-zero data_len goes
 * on: the device and pt lookups answer first (ENOENT for a bad dev_id, EINVAL
 * for a bad pt_id), and a struct iommu_user_data of type NONE reaches the
 * driver's domain_alloc_paging_flags / nested allocation, which refuses it
 * with its own errno (VT-d, AMD, SMMUv3: EOPNOTSUPP for any user data; the
 * selftest mock: its iommu_copy_struct_from_user type check, EINVAL) instead
 * of the command's EINVAL. Both profiles.
 */
import { EINVAL, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { IOMMU_HWPT_DATA_NONE, IOMMU_HWPT_FAULT_ID_VALID } from '../../../spec/uapi/constants.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdHwpt, IommufdHwptPaging, IommufdIoas, Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { iommufdGetDevice, iommufdUcmdRespond } from '../../../impl/iommufd/iommufd_private.ts';
import { iommufdGetObject, iommufdObjectAbortAndDestroy, iommufdObjectFinalize, refcount_inc } from '../../../impl/iommufd/object.ts';
import { iommufdHwptNestedAllocChecks, iommufdHwptPagingAlloc, userDataOf } from '../../../impl/iommufd/hw_pagetable.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { mutantImplementation } from '../harness.ts';

/** iommufd_hwpt_alloc with the `DATA_NONE && data_len` half of the test dropped. */
function hwptAllocNoneWithData(ucmd: Ucmd, original: (u: Ucmd) => number): number {
  const { cmd, ctx: ictx } = ucmd;
  const dataType = cmd.num('data_type');
  const dataLen = cmd.num('data_len');
  if (!(dataType === IOMMU_HWPT_DATA_NONE && dataLen)) return original(ucmd);
  if (cmd.num('__reserved')) return -EOPNOTSUPP;
  if (dataType !== IOMMU_HWPT_DATA_NONE && !dataLen) return -EINVAL; // the half that stayed
  const flags = cmd.num('flags');
  const idevR = iommufdGetDevice(ictx, cmd.num('dev_id'));
  if (idevR.errno || !idevR.value) return idevR.errno;
  const idev = idevR.value;
  const ptR = iommufdGetObject(ictx, cmd.num('pt_id'), 'ANY');
  if (ptR.errno || !ptR.value) return -EINVAL;
  const pt = ptR.value;
  const userData = userDataOf(ictx, dataType, dataLen, cmd.big('data_uptr'));
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
  return mutantImplementation('hwpt-alloc-none-data-len-accepted', profile, {
    handlers: { IOMMU_HWPT_ALLOC: hwptAllocNoneWithData },
  });
}
