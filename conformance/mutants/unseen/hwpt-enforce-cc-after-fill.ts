/**
 * R21-C1 — hwpt-enforce-cc-after-fill (drivers/iommu/iommufd/hw_pagetable.c
 * iommufd_hwpt_paging_alloc; 6.12 and 7.3).
 *
 * A paging HWPT made for a device whose IOMMU can enforce cache coherency
 * (IOMMU_CAP_ENFORCE_CACHE_COHERENCY: VT-d snoop control, the AMD v1 FC bit,
 * an SMMUv3 CANWBS master) is switched to enforcing mode right after the
 * domain is allocated, before anything is mapped into it, because some
 * formats carry the snoop bit in every leaf and refuse the switch once the
 * domain holds mappings (intel_iommu_enforce_cache_coherency_ss:
 * `if (!domain_support_force_snooping(dmar_domain) || dmar_domain->has_mappings) return false;`):
 *
 *     hwpt->domain = ops->domain_alloc_paging_flags(...);
 *     ...
 *     if (idev->enforce_cache_coherency) {
 *             rc = iommufd_hwpt_paging_enforce_cc(hwpt_paging);
 *             if (WARN_ON(rc))
 *                     goto out_abort;
 *     }
 *
 *     if (immediate_attach) {
 *             rc = iommufd_hw_pagetable_attach(hwpt, idev, pasid);
 *             if (rc)
 *                     goto out_abort;
 *     }
 *
 *     rc = iopt_table_add_domain(&ioas->iopt, hwpt->domain);
 *     if (rc)
 *             goto out_detach;
 *     list_add_tail(&hwpt_paging->hwpt_item, &ioas->hwpt_list);
 *     return hwpt_paging;
 *
 * THE FAULT: the coherency switch is moved to the end, once the domain is
 * attached and complete (enforce_cache_coherency also rewrites the PASID /
 * context entries of the devices already attached, so "do it after the
 * attach" reads natural):
 *
 *     rc = iopt_table_add_domain(&ioas->iopt, hwpt->domain);
 *     if (rc)
 *             goto out_detach;
 *     if (idev->enforce_cache_coherency) {
 *             rc = iommufd_hwpt_paging_enforce_cc(hwpt_paging);
 *             if (WARN_ON(rc))
 *                     goto out_remove_domain;
 *     }
 *     list_add_tail(&hwpt_paging->hwpt_item, &ioas->hwpt_list);
 *
 * iopt_table_add_domain has by then filled the domain with every area of the
 * IOAS. With an empty IOAS nothing changes; with an IOAS that already maps
 * memory the driver refuses the switch, the allocation WARNs and fails.
 *
 * Consequence (two commands, two objects): a VMM that maps guest memory into
 * its IOAS first and attaches its devices afterwards (QEMU's order for a
 * hot-plugged device, or any device attached after boot) cannot attach a
 * device whose IOMMU enforces coherency: VFIO_DEVICE_ATTACH_IOMMUFD_PT by IOAS
 * id fails with EINVAL when no automatic HWPT of the IOAS can be reused (the
 * first such device, or one behind a unit the existing domains do not fit),
 * the same for a replace onto such an IOAS, and IOMMU_HWPT_ALLOC for such a
 * device on a populated IOAS fails with EINVAL too. Only a non-coherent path
 * (a device without the capability) still works, so the only way forward for
 * userspace is a domain that does not enforce snooping.
 *
 * Applied as: the reference's iommufd_hwpt_paging_alloc restated with the
 * coherency switch after iopt_table_add_domain, used by IOMMU_HWPT_ALLOC (the
 * shared copy, _hwpt_alloc.ts, for pt an IOAS) and by VFIO_DEVICE_ATTACH_IOMMUFD_PT's automatic domains (attach:
 * immediate attach; replace: attached afterwards). The selftest mock devices
 * never enforce coherency, so their commands are the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import {
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HWPT_FAULT_ID_VALID,
} from '../../../spec/uapi/constants.ts';
import type { HwptAllocData } from '../../../impl/platform/iommu.ts';
import {
  iommufdObjectAbortAndDestroy,
  iommufdObjectAlloc,
  refcount_inc,
  type Result,
} from '../../../impl/iommufd/object.ts';
import {
  type IommufdCtx,
  type IommufdDevice,
  type IommufdHwptPaging,
  type IommufdIoas,
} from '../../../impl/iommufd/iommufd_private.ts';
import {
  iommufdHwPagetableAttach,
  iommufdHwPagetableDetach,
  iommufdHwptPagingEnforceCc,
} from '../../../impl/iommufd/hw_pagetable.ts';
import { ioptTableAddDomain, ioptTableRemoveDomain } from '../../../impl/iommufd/io_pagetable.ts';
import { mutantImplementation } from '../harness.ts';
import { attachPtIoctl, deviceAttachWith } from './_attach.ts';
import { deviceReplaceWith } from './_replace.ts';
import { hwptPagingDestroy } from './_hwpt_destroy.ts';
import { hwptAllocWith } from './_hwpt_alloc.ts';

/** iommufd_hwpt_paging_alloc with the coherency switch after iopt_table_add_domain (THE FAULT). */
function hwptPagingAllocCcLast(
  ictx: IommufdCtx,
  ioas: IommufdIoas,
  idev: IommufdDevice,
  flags: number,
  immediateAttach: boolean,
  userData: HwptAllocData | undefined,
): Result<IommufdHwptPaging> {
  const machine = idev.dev.machine;
  const validFlags =
    ictx.profile === '6.12'
      ? IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING
      : IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID;
  if (flags & ~validFlags) return { errno: -EOPNOTSUPP };
  if (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING && !machine.capable(idev.dev, 'DIRTY_TRACKING')) return { errno: -EOPNOTSUPP };
  if (flags & IOMMU_HWPT_FAULT_ID_VALID && flags & IOMMU_HWPT_ALLOC_NEST_PARENT) return { errno: -EOPNOTSUPP };

  const hwpt: IommufdHwptPaging = {
    type: 'HWPT_PAGING',
    id: 0,
    users: 0,
    ictx,
    ioas,
    domain: null,
    autoDomain: false,
    nestParent: false,
    enforceCacheCoherency: false,
    pasidCompat: false,
    msiCookie: false,
    fault: null,
    inList: false,
    destroy: () => hwptPagingDestroy(hwpt),
  };
  const rc0 = iommufdObjectAlloc(ictx, hwpt);
  if (rc0) return { errno: rc0 };
  const unwind = new Unwind();
  unwind.onError('out_abort', () => iommufdObjectAbortAndDestroy(ictx, hwpt));
  hwpt.pasidCompat = (flags & IOMMU_HWPT_ALLOC_PASID) !== 0;
  refcount_inc(ioas);
  hwpt.nestParent = (flags & IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0;

  const alloc = idev.dev.iommu.driver.domainAllocPaging(idev.dev, flags & ~IOMMU_HWPT_FAULT_ID_VALID, userData);
  if (!('domain' in alloc)) return unwind.exit({ errno: alloc.errno });
  hwpt.domain = alloc.domain;

  if (immediateAttach) {
    const rc = iommufdHwPagetableAttach(hwpt, idev);
    if (rc) return unwind.exit({ errno: rc });
    unwind.onError('out_detach', () => iommufdHwPagetableDetach(idev));
  }

  const rc = ioptTableAddDomain(ioas.iopt, hwpt.domain);
  if (rc) return unwind.exit({ errno: rc });
  const domain = hwpt.domain;
  unwind.onError('out_remove_domain', () => ioptTableRemoveDomain(ioas.iopt, domain));

  // THE FAULT: the coherency mode is decided only now, on a domain that
  // iopt_table_add_domain has already filled.
  if (idev.enforceCacheCoherency) {
    const rcCc = iommufdHwptPagingEnforceCc(hwpt);
    if (rcCc) {
      ictx.warnings.push(`iommufd_hwpt_paging_alloc: WARN_ON(enforce_cc) for device ${idev.id}`);
      return unwind.exit({ errno: rcCc });
    }
  }
  ioas.hwptList.push(hwpt);
  hwpt.inList = true;
  return unwind.exit({ errno: 0, value: hwpt });
}

export function createAdapter(profile: Profile): Implementation {
  const deviceAttach = deviceAttachWith({
    attach: iommufdHwPagetableAttach,
    allocAttached: (ictx, ioas, idev) => hwptPagingAllocCcLast(ictx, ioas, idev, 0, true, undefined),
  });
  return mutantImplementation('hwpt-enforce-cc-after-fill', profile, {
    handlers: {
      IOMMU_HWPT_ALLOC: hwptAllocWith({ pagingAlloc: hwptPagingAllocCcLast }),
    },
    vfioIoctl: attachPtIoctl({ attach: deviceAttach, replace: deviceReplaceWith({ allocAuto: (ictx, ioas, idev) => hwptPagingAllocCcLast(ictx, ioas, idev, 0, false, undefined) }) }),
  });
}
