/**
 * R16-B4 — vtd-snoop-compat-eopnotsupp (drivers/iommu/intel/iommu.c,
 * 6.12 prepare_domain_attach_device() / 7.3 paging_domain_compatible(), the
 * snoop-control check of intel_iommu_attach_device()).
 *
 * attach_dev must answer -EINVAL, and only -EINVAL, when the domain is
 * incompatible with the device ("iommu: Use EINVAL for incompatible
 * device/domain in ->attach_dev" made it the rule tree-wide, after a round
 * of -EMEDIUMTYPE; before that drivers used -EOPNOTSUPP, -EFAULT, ...).
 * iommufd relies on it: iommufd_device_auto_get_domain() walks the IOAS's
 * automatic HWPTs and
 *
 *             /*
 *              * -EINVAL means the domain is incompatible with the
 *              * device. Other error codes should propagate to
 *              * userspace as failure. Success means the domain is
 *              * attached.
 *              *\/
 *             if (PTR_ERR(destroy_hwpt) == -EINVAL)
 *                     continue;
 *             goto out_unlock;
 *
 * The kernel's check (identical in both profiles):
 *
 *     if (dmar_domain->force_snooping && !ecap_sc_support(iommu->ecap))
 *             return -EINVAL;
 *
 * THE FAULT: this one check answers as it did when it was added (5.19),
 * before the attach_dev errno rules existed (it became -EMEDIUMTYPE, then
 * -EINVAL):
 *
 *     if (dmar_domain->force_snooping && !ecap_sc_support(iommu->ecap))
 *             return -EOPNOTSUPP;
 *
 * (a backport or a rebased patch that resurrects the old line). Every other
 * incompatibility still says -EINVAL.
 *
 * Consequence: a device whose unit has no snoop control (vtd1, or a vtd0/vtd2
 * device created without enforceCacheCoherency) attaching to an IOAS
 * through which a snoop-capable VT-d device already got its automatic HWPT
 * — a HWPT that enforces coherency — is not given a HWPT of its own: the
 * auto-domain walk meets the enforcing domain first, takes EOPNOTSUPP as a
 * hard error and VFIO_DEVICE_ATTACH_IOMMUFD_PT (and the IOAS replace path)
 * fails with EOPNOTSUPP. The same attach succeeds when the two devices come
 * in the other order, or when the coherent device has gone. An explicit
 * attach to such a HWPT answers EOPNOTSUPP instead of EINVAL. 7.3 checks the
 * domain's dirty tracking, nesting parent, page sizes and address width
 * before snoop control; those still answer EINVAL first (so a vtd1 device meeting a
 * vtd0 domain gets EINVAL from the 1 GiB page size on 7.3, EOPNOTSUPP on
 * 6.12, where the snoop check comes first).
 *
 * Applied as: the intel driver's attach_dev returns -EOPNOTSUPP when the
 * domain enforces coherency and the device cannot, unless (7.3) one of the
 * checks the kernel runs before it fails: then -EINVAL, as the reference.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { ERRNO } from '../../../spec/uapi/errno.ts';
import type { IommuDomain, SimDevice } from '../../../impl/platform/iommu.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

const EINVAL = ERRNO.EINVAL;
const EOPNOTSUPP = ERRNO.EOPNOTSUPP;

/** 7.3 paging_domain_compatible_second_stage: what it refuses before the snoop check. */
function failsEarlier73(domain: IommuDomain, dev: SimDevice): boolean {
  if (domain.dirtyOps && !dev.caps.dirtyTracking) return true;
  if (domain.nestParent && !dev.iommu.config.nesting) return true;
  // Same page size support (sslps): the domain may not use sizes the unit lacks.
  if ((domain.pgsizeBitmap & ~dev.iommu.config.pgsizeBitmap) !== 0n) return true;
  // SAGAW / address width: the unit must walk the domain's table as it is.
  if (domain.apertureEnd !== dev.iommu.config.apertureLast) return true;
  return false;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtd-snoop-compat-eopnotsupp', profile, {
    machine: (m) => {
      const drivers = new Set([...m.instances.values()].map((i) => i.driver));
      for (const drv of drivers) {
        if (drv.name !== 'intel') continue;
        patchOwn(drv, 'attachDev', (orig) => (domain: IommuDomain, dev: SimDevice) => {
          if (domain.enforceCacheCoherency && !dev.caps.enforceCacheCoherency) {
            if (profile === '7.3' && failsEarlier73(domain, dev)) return -EINVAL;
            return -EOPNOTSUPP; // THE FAULT: the 5.19 errno
          }
          return orig(domain, dev);
        });
      }
    },
  });
}
