/**
 * Fault K2 (HWPT allocation error path, object lifetime): in
 * iommufd_hwpt_alloc, a failed fault-object lookup for
 * IOMMU_HWPT_FAULT_ID_VALID jumps to out_unlock instead of out_hwpt: the new
 * paging HWPT is neither finalized nor aborted.
 *
 * Consequence: the ioctl fails (ENOENT, as it should), but the never-published
 * HWPT lives on: its id stays reserved (later objects skip it), it holds a
 * users reference on the IOAS (IOMMU_DESTROY of the IOAS is EBUSY forever,
 * the context's release WARNs and leaks the IOAS and its pins), and its
 * domain stays in the IOAS's domain list (every later map is also written
 * into an orphan page table).
 *
 * Bug class: a wrong goto label on an error path added with a new feature
 * (the fault_id lookup came with "iommufd: Associate fault object with
 * iommufd_hw_pgtable", v6.11); iommufd's object-abort unwinds have had several
 * such fixes (e.g. "iommufd: Fix iommufd_object_abort_and_destroy" class).
 *
 * Applied as: the same check done before the reference's handler; when the
 * lookup would fail, the HWPT is allocated exactly as the reference does and
 * left alone.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_HWPT_DATA_NONE, IOMMU_HWPT_FAULT_ID_VALID } from '../../../spec/uapi/constants.ts';
import { EINVAL, ENOENT, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { iommufdHwptPagingAlloc } from '../../../impl/iommufd/hw_pagetable.ts';
import type { IommufdDevice, IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('hwpt-alloc-fault-lookup-leaks', profile, {
    handlers: {
      IOMMU_HWPT_ALLOC: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        const flags = cmd.num('flags');
        if (!(flags & IOMMU_HWPT_FAULT_ID_VALID)) return original(ucmd);
        // iommufd_hwpt_alloc up to the paging allocation, as the reference.
        if (cmd.num('__reserved')) return -EOPNOTSUPP;
        const dataType = cmd.num('data_type');
        const dataLen = cmd.num('data_len');
        if ((dataType === IOMMU_HWPT_DATA_NONE && dataLen) || (dataType !== IOMMU_HWPT_DATA_NONE && !dataLen)) return -EINVAL;
        const idev = ctx.objects.load(cmd.num('dev_id'));
        if (!idev || idev.type !== 'DEVICE') return original(ucmd);
        const pt = ctx.objects.load(cmd.num('pt_id'));
        if (!pt || pt.type !== 'IOAS') return original(ucmd);
        const fault = ctx.objects.load(cmd.num('fault_id'));
        if (fault && fault.type === 'FAULT') return original(ucmd);
        const userData = dataLen ? { type: dataType, len: dataLen, read: () => ctx.proc.copyFromUser(cmd.big('data_uptr'), dataLen) ?? undefined } : undefined;
        const r = iommufdHwptPagingAlloc(ctx, pt as IommufdIoas, idev as IommufdDevice, flags, false, userData);
        if (r.errno || !r.value) return r.errno;
        // The fault: `goto out_unlock` — the HWPT is neither finalized nor aborted.
        return -ENOENT;
      },
    },
  });
}
