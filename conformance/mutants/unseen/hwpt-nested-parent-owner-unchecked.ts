/**
 * hwpt-nested-parent-owner-unchecked (drivers/iommu/iommufd/hw_pagetable.c
 * iommufd_hwpt_nested_alloc, reached from IOMMU_HWPT_ALLOC with pt_id = a
 * HWPT_PAGING; 6.12 and 7.3).
 *
 * A nested HWPT is a stage-1 table the device's IOMMU walks through the
 * parent's stage-2 domain, so the parent must be a NEST_PARENT domain of the
 * same IOMMU driver as the device:
 *
 *     if ((flags & ~(IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID)) ||
 *         !user_data->len || !ops->domain_alloc_nested)
 *             return ERR_PTR(-EOPNOTSUPP);
 *     if (parent->auto_domain || !parent->nest_parent ||
 *         parent->common.domain->owner != ops)
 *             return ERR_PTR(-EINVAL);
 *
 * (6.12: FAULT_ID_VALID only, and ops->domain_alloc_user.)
 *
 * THE FAULT: the `parent->common.domain->owner != ops` term is lost (the
 * check reads as "is this a parent-capable HWPT", and the driver is trusted
 * to look at what it is handed). A NEST_PARENT HWPT made for a device of one
 * IOMMU (the selftest mock, VT-d, 7.3's SMMUv3 stage 2) then reaches the
 * nested allocator of another device's driver: an object id is allocated and
 * the foreign parent domain is passed to domain_alloc_nested. What the caller
 * sees is that driver's answer instead of iommufd's EINVAL:
 *   - VT-d (6.12 and 7.3): EOPNOTSUPP unless the unit nests and the data is
 *     IOMMU_HWPT_DATA_VTD_S1 (then its own ops test gives EINVAL);
 *   - the 6.12 mock: EOPNOTSUPP unless the data is IOMMU_HWPT_DATA_SELFTEST;
 *     7.3's mock_domain_alloc_nested never tests the parent's ops and would
 *     build a mock nested domain over a foreign table (the reference has no
 *     mock nested domains: its driver step answers EOPNOTSUPP);
 *   - 6.12 AMD / SMMUv3 (domain_alloc_user refuses any parent): EOPNOTSUPP.
 * 7.3 AMD and SMMUv3 have no domain_alloc_nested and fail before the parent
 * is looked at, so nothing changes there.
 *
 * Observable: IOMMU_HWPT_ALLOC of a nested HWPT whose parent belongs to
 * another IOMMU driver answers EOPNOTSUPP (or, on a 7.3 mock device, would
 * succeed) instead of EINVAL.
 *
 * Applied as: IOMMU_HWPT_ALLOC is the reference's unless pt_id is a
 * non-auto NEST_PARENT HWPT_PAGING of another driver; then the reference's
 * earlier checks (same order, same fail-nth steps), the object allocation and
 * its abort, and the device driver's answer above.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EINVAL, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import {
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HWPT_DATA_NONE,
  IOMMU_HWPT_DATA_SELFTEST,
  IOMMU_HWPT_DATA_VTD_S1,
  IOMMU_HWPT_FAULT_ID_VALID,
} from '../../../spec/uapi/constants.ts';
import { iommufdGetObject, iommufdObjectAbort, iommufdObjectAlloc, type IommufdObject } from '../../../impl/iommufd/object.ts';
import { type IommufdDevice, iommufdGetDevice, type IommufdHwptPaging } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

/** The device driver's nested allocation handed a parent domain of another driver. */
function foreignParentAnswer(idev: IommufdDevice, flags: number, dataType: number): number {
  const profile = idev.ictx.profile;
  const f = flags & ~IOMMU_HWPT_FAULT_ID_VALID;
  const nests = idev.dev.iommu.config.nesting;
  switch (idev.dev.iommu.driver.name) {
    case 'intel':
      // 6.12 intel_iommu_domain_alloc_user(parent) / 7.3 intel_iommu_domain_alloc_nested
      if (!nests || (profile === '6.12' ? f : f & ~IOMMU_HWPT_ALLOC_PASID)) return -EOPNOTSUPP;
      if (dataType !== IOMMU_HWPT_DATA_VTD_S1) return -EOPNOTSUPP;
      return -EINVAL; // parent->ops != intel's (6.12) / !intel_domain_is_ss_paging (7.3)
    case 'mock':
      if (profile === '6.12') {
        if (dataType !== IOMMU_HWPT_DATA_SELFTEST || f) return -EOPNOTSUPP;
        return -EINVAL; // parent->ops != mock_ops.default_domain_ops
      }
      // 7.3: no parent ops test; the reference's driver step has no mock nested domain.
      return -EOPNOTSUPP;
    default:
      // 6.12 amd/arm-smmu-v3 domain_alloc_user: a parent is EOPNOTSUPP.
      return -EOPNOTSUPP;
  }
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('hwpt-nested-parent-owner-unchecked', profile, {
    handlers: {
      IOMMU_HWPT_ALLOC: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        const dataType = cmd.num('data_type');
        const dataLen = cmd.num('data_len');
        const flags = cmd.num('flags');
        // Peek (no fail-nth step) whether the faulty branch is reached at all.
        const idevPeek = ctx.objects.load(cmd.num('dev_id'));
        const ptPeek = ctx.objects.load(cmd.num('pt_id'));
        if (cmd.num('__reserved')) return original(ucmd);
        if ((dataType === IOMMU_HWPT_DATA_NONE && dataLen) || (dataType !== IOMMU_HWPT_DATA_NONE && !dataLen)) return original(ucmd);
        if (!idevPeek || idevPeek.type !== 'DEVICE' || !ptPeek || ptPeek.type !== 'HWPT_PAGING') return original(ucmd);
        const idev = idevPeek as IommufdDevice;
        const parent = ptPeek as IommufdHwptPaging;
        // 7.3 AMD / SMMUv3 have no domain_alloc_nested: the kernel is EOPNOTSUPP before the parent either way.
        if (profile === '7.3' && idev.dev.iommu.driver.name !== 'intel' && idev.dev.iommu.driver.name !== 'mock') return original(ucmd);
        const valid = profile === '6.12' ? IOMMU_HWPT_FAULT_ID_VALID : IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID;
        if (flags & ~valid || !dataLen) return original(ucmd);
        if (parent.autoDomain || !parent.nestParent || parent.domain?.owner === idev.dev.iommu.driver) return original(ucmd);

        // The reference's lookups, with their fail-nth steps.
        const d = iommufdGetDevice(ctx, cmd.num('dev_id'));
        if (d.errno || !d.value) return d.errno;
        const pt = iommufdGetObject(ctx, cmd.num('pt_id'), 'ANY');
        if (pt.errno || !pt.value) return -EINVAL;
        // THE FAULT: no `parent->common.domain->owner != ops` → EINVAL.
        const nested: IommufdObject = { type: 'HWPT_NESTED', id: 0, users: 0, destroy: () => {} };
        const rc = iommufdObjectAlloc(ctx, nested);
        if (rc) return rc;
        const answer = foreignParentAnswer(idev, flags, dataType);
        iommufdObjectAbort(ctx, nested); // out_abort: the driver refused
        return answer;
      },
    },
  });
}
