/**
 * Round 7b fault (drivers/iommu/intel/iommu.c paging_domain_compatible →
 * paging_domain_compatible_second_stage; before it prepare_domain_attach_device).
 *
 * A paging domain may be attached to a device behind another DMAR unit only
 * if that unit can walk its table: the domain's address width must fit the
 * unit's (cap_mgaw(iommu->cap) < vasz_lg2 → -EINVAL) and the unit must
 * support the table's level count (SAGAW). The fault checks what the domain
 * has mapped so far instead of what it can map, the pre-6.3 shape:
 *     addr_width = agaw_to_width(iommu->agaw);
 *     if (dmar_domain->max_addr > (1LL << addr_width))
 *             return -EINVAL;
 * A 4-level, 48-bit domain made for a device of a 48-bit unit (here one that
 * does not enforce coherency, so the domain is not snooping-only) is accepted
 * by a device behind a 39-bit, 3-level unit while it maps nothing above 2^39.
 *
 * Consequence: the narrow unit is given a table it cannot walk (its context
 * entry's AGAW is 3-level while the root is a 4-level PML4: the hardware
 * indexes the PML4 with IOVA bits 38:30 and reaches the mappings of other
 * 512 GiB slices), and iommufd keeps offering the domain's whole 48-bit
 * aperture to the IOAS: later maps above 2^39 succeed for a device that
 * cannot reach them. Attaching should have failed -EINVAL (so that iommufd
 * allocates a compatible domain).
 *
 * Applied as: the VT-d driver's attach_dev compares the highest IOVA the
 * domain's table has mapped (tracked on its maps) with the unit's width,
 * instead of the domain's aperture.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EINVAL } from '../../../impl/lib/errno.ts';
import type { IommuDomain } from '../../../impl/platform/iommu.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  /** dmar_domain->max_addr: the end of the highest mapping ever made in the domain. */
  const maxAddr = new WeakMap<object, bigint>();
  const note = (key: object, end: bigint): void => {
    if (end > (maxAddr.get(key) ?? 0n)) maxAddr.set(key, end);
  };
  return mutantImplementation('vtd-attach-width-from-max-addr', profile, {
    domain: (d) => {
      if (d.owner.name !== 'intel' || !d.hw) return;
      const hw = d.hw;
      patchOwn(hw, 'map', (map) => (iova: number, pa: number, len: number, prot: number) => {
        const rc = map(iova, pa, len, prot);
        if (rc === 0) note(d, BigInt(iova) + BigInt(len));
        return rc;
      });
      patchOwn(hw, 'mapWide', (map) => (iova: bigint, pa: number, len: number, prot: number) => {
        const rc = map(iova, pa, len, prot);
        if (rc === 0) note(d, iova + BigInt(len));
        return rc;
      });
    },
    machine: (m) => {
      const intel = [...m.instances.values()].find((i) => i.driver.name === 'intel')?.driver;
      if (!intel) return;
      patchOwn(intel, 'attachDev', () => (domain: IommuDomain, dev) => {
        if (domain.enforceCacheCoherency && !dev.caps.enforceCacheCoherency) return -EINVAL;
        if (domain.dirtyOps && !dev.caps.dirtyTracking) return -EINVAL;
        // THE FAULT: dmar_domain->max_addr > (1LL << addr_width) instead of the domain's width.
        if ((maxAddr.get(domain) ?? 0n) > dev.iommu.config.apertureLast + 1n) return -EINVAL;
        return 0;
      });
    },
  });
}
