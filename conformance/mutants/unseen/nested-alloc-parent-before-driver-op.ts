/**
 * Round 41 fault C4 (errno, 7.3 only): drivers/iommu/iommufd/hw_pagetable.c
 * iommufd_hwpt_nested_alloc tests the driver's nested op after the parent.
 * The kernel (7.3):
 *
 *     if ((flags & ~(IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID)) ||
 *         !user_data->len || !ops->domain_alloc_nested)
 *         return ERR_PTR(-EOPNOTSUPP);
 *     if (parent->auto_domain || !parent->nest_parent ||
 *         parent->common.domain->owner != ops)
 *         return ERR_PTR(-EINVAL);
 *
 * The fault moves `!ops->domain_alloc_nested` below the parent test (its
 * own `if`, after the EINVAL one), so the parent is judged first.
 *
 * What a user sees: IOMMU_HWPT_ALLOC with pt_id = a HWPT_PAGING and user
 * data, for a device whose driver cannot nest through HWPT_ALLOC (AMD, and
 * SMMUv3 which nests only through a vIOMMU), answers EINVAL instead of
 * EOPNOTSUPP when the parent is an auto domain, not NEST_PARENT, or another
 * driver's — telling userspace (QEMU probes this) to fix its parent rather
 * than that nesting is unsupported. 6.12 tests domain_alloc_user, which every
 * driver has: unchanged.
 */
import { EINVAL, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_DATA_NONE, IOMMU_HWPT_FAULT_ID_VALID } from '../../../spec/uapi/constants.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { iommufdGetObject } from '../../../impl/iommufd/object.ts';
import { iommufdGetDevice, type IommufdHwptPaging } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('nested-alloc-parent-before-driver-op', profile, {
    handlers: {
      IOMMU_HWPT_ALLOC: (ucmd, original) => {
        if (profile !== '7.3') return original(ucmd);
        const { cmd, ctx } = ucmd;
        if (cmd.num('__reserved')) return original(ucmd);
        const dataType = cmd.num('data_type');
        const dataLen = cmd.num('data_len');
        if ((dataType === IOMMU_HWPT_DATA_NONE && dataLen) || (dataType !== IOMMU_HWPT_DATA_NONE && !dataLen)) return original(ucmd);
        // Peek (no fail-nth step taken) at what the reference would look up.
        const idev = ctx.objects.load(cmd.num('dev_id'));
        const pt = ctx.objects.load(cmd.num('pt_id'));
        if (!idev || idev.type !== 'DEVICE' || !pt || pt.type !== 'HWPT_PAGING') return original(ucmd);
        const flags = cmd.num('flags');
        if (flags & ~(IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID) || !dataLen) return original(ucmd);
        // The reference's lookups, in its order (their fail-nth steps included).
        const d = iommufdGetDevice(ctx, cmd.num('dev_id'));
        if (d.errno || !d.value) return d.errno;
        const p = iommufdGetObject(ctx, cmd.num('pt_id'), 'ANY');
        if (p.errno || !p.value) return -EINVAL;
        const parent = p.value as IommufdHwptPaging;
        const dev = d.value.dev;
        if (parent.autoDomain || !parent.nestParent || parent.domain?.owner !== dev.iommu.driver) return -EINVAL;
        const name = dev.iommu.driver.name;
        if (name !== 'intel' && name !== 'mock') return -EOPNOTSUPP; // !ops->domain_alloc_nested, now second
        return -EOPNOTSUPP; // the reference's driver step (nested domains: roadmap draft 3)
      },
    },
  });
}
