/**
 * Fault K5 (IOMMU_GET_HW_INFO, ABI): iommufd_get_hw_info copies the driver's
 * whole info struct to data_uptr (copy_to_user(user_ptr, data, data_len)
 * with the driver's length) instead of min(cmd->data_len, data_len).
 *
 * Consequence: a caller whose buffer is smaller than the driver's struct
 * (data_len 0 to ask for the size, or an older/smaller struct) gets bytes
 * written past the end of its buffer — user memory it never offered is
 * overwritten with IOMMU register values; with data_len 0 and a NULL (or
 * short) buffer the call fails EFAULT instead of reporting the size.
 *
 * Bug class: a dropped min() on a user copy length (the "copy_len" clamp of
 * iommufd_get_hw_info; the classic kernel-to-user overflow of an extensible
 * out buffer).
 *
 * Applied as: before the reference's handler (whose own checks come first,
 * so the errno order is kept), the full driver data is copied to data_uptr
 * when it is longer than data_len; a fault there is EFAULT.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_HW_INFO_FLAG_INPUT_TYPE, IOMMU_HW_INFO_TYPE_DEFAULT } from '../../../spec/uapi/constants.ts';
import { EFAULT } from '../../../impl/lib/errno.ts';
import type { IommufdDevice } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('hw-info-copy-len-unclamped', profile, {
    handlers: {
      IOMMU_GET_HW_INFO: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        const flags = cmd.num('flags');
        const supported = ctx.profile === '7.3' ? IOMMU_HW_INFO_FLAG_INPUT_TYPE : 0;
        if (flags & ~supported || cmd.fieldBytes('__reserved').some((b) => b !== 0)) return original(ucmd);
        const obj = ctx.objects.load(cmd.num('dev_id'));
        if (!obj || obj.type !== 'DEVICE') return original(ucmd);
        const dev = (obj as IommufdDevice).dev;
        const drv = dev.iommu.driver;
        if (!drv.hwInfo) return original(ucmd);
        const inType = ctx.profile === '7.3' && !(flags & IOMMU_HW_INFO_FLAG_INPUT_TYPE) ? IOMMU_HW_INFO_TYPE_DEFAULT : cmd.num('out_data_type');
        const info = drv.hwInfo(dev, inType);
        if (!('data' in info)) return original(ucmd);
        const userLen = cmd.num('data_len');
        if (info.data.length <= userLen) return original(ucmd);
        // The fault: copy_to_user(user_ptr, data, data_len) — the driver's length, not min(cmd->data_len, data_len).
        if (!ctx.proc.copyToUser(cmd.big('data_uptr'), info.data)) return -EFAULT;
        return original(ucmd);
      },
    },
  });
}
