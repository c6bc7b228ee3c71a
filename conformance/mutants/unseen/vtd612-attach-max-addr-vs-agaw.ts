/**
 * vtd612-attach-max-addr-vs-agaw — drivers/iommu/intel/iommu.c (6.12)
 * prepare_domain_attach_device(), called by intel_iommu_attach_device() for
 * every attach and replace of a VT-d paging domain; its state comes from
 * intel_iommu_map() / intel_iommu_unmap().
 *
 * A 6.12 VT-d domain remembers the end of the highest IOVA it has mapped
 * (intel_iommu_map: `if (dmar_domain->max_addr < iova + size)
 * dmar_domain->max_addr = iova + size;`, lowered again by intel_iommu_unmap
 * when the top mapping goes), and an attach through a unit checks that
 * what is mapped fits that unit's address width:
 *
 *     addr_width = agaw_to_width(iommu->agaw);
 *     if (addr_width > cap_mgaw(iommu->cap))
 *             addr_width = cap_mgaw(iommu->cap);
 *
 *     if (dmar_domain->max_addr > (1LL << addr_width))
 *             return -EINVAL;
 *     dmar_domain->gaw = addr_width;
 *
 * THE FAULT: the comparison shifts by the AGAW *index* instead of the width
 * it encodes (agaw_to_width() = 30 + 9 * agaw forgotten):
 *
 *     if (dmar_domain->max_addr > (1LL << iommu->agaw))
 *             return -EINVAL;
 *
 * iommu->agaw is 2 on a 4-level unit (1 on a 3-level one), so the limit is
 * 4 bytes: any domain that has mapped anything at all is refused.
 *
 * Why it needs two objects and several commands: the first device attached
 * to a new domain (iommufd attaches an automatic domain, or the first user
 * of an IOMMU_HWPT_ALLOC'd one, before anything is mapped in it) passes, and
 * that device keeps working. Once the IOAS has mapped something into the
 * domain (IOMMU_IOAS_MAP, or the fill of the domain joining an IOAS that has
 * areas), every later attach of that domain fails with -EINVAL: a second
 * device (another group on the same or a compatible DMAR unit) attached to
 * the HWPT by id, a replace of a group onto it, the first device coming back
 * to its own HWPT after a detach. max_addr only drops when the highest
 * mapping is unmapped (to that mapping's IOVA), so the domain is unusable
 * for new attachments for the rest of its life. Attaching by IOAS id hides it
 * as iommufd's automatic-domain search takes -EINVAL as "incompatible" and
 * allocates a new domain: the out pt_id names a new HWPT instead of the
 * existing one, and the IOAS now keeps (and pins into) two VT-d domains for
 * devices that could share one.
 *
 * Applied as (6.12 only, every VT-d paging domain): the driver tracks
 * max_addr as intel_iommu_map / intel_iommu_unmap do (per map_pages /
 * unmap_pages call of the iommu core, with the unmap size grown to the leaf),
 * and its attach_dev refuses with -EINVAL when max_addr > 1 << agaw of the
 * attaching device's unit, after the reference's own checks.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EINVAL } from '../../../impl/lib/errno.ts';
import type { IommuDomain, IommuDriver, SimDevice } from '../../../impl/platform/iommu.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** The 6.12 VT-d table's map_pages / unmap_pages (impl/pagetable/intel612.ts IntelLegacyTable). */
interface IntelPages {
  mapPages(iova: number, paddr: number, pgLg2: number, pgcount: number, prot: number): number;
  unmapPages(iova: number, pgLg2: number, pgcount: number): number;
}

/** iommu->agaw: the widest AGAW (<= width_to_agaw(57) = 3) whose bit is set in CAP.SAGAW. */
function unitAgaw(dev: SimDevice): number {
  const cap = dev.iommu.config.regs[0] ?? 0n;
  const sagaw = Number((cap >> 8n) & 0x1fn);
  for (let agaw = 3; agaw >= 0; agaw--) if (sagaw & (1 << agaw)) return agaw;
  return -1;
}

export function createAdapter(profile: Profile): Implementation {
  /** dmar_domain->max_addr per paging domain. */
  const maxAddr = new WeakMap<IommuDomain, number>();
  return mutantImplementation('vtd612-attach-max-addr-vs-agaw', profile, {
    domain: (d) => {
      if (profile !== '6.12' || d.owner.name !== 'intel') return;
      const pt = d.hw?.pt;
      if (!pt || pt.g.driver !== 'intel-612') return;
      const t = pt as unknown as IntelPages;
      maxAddr.set(d, 0);
      // intel_iommu_map: max_addr grows with every map that passed the width check.
      patchOwn(t, 'mapPages', (mapPages) => (iova, paddr, pgLg2, pgcount, prot) => {
        const rc = mapPages(iova, paddr, pgLg2, pgcount, prot);
        const end = iova + pgcount * 2 ** pgLg2;
        if (rc === 0 && end > (maxAddr.get(d) ?? 0)) maxAddr.set(d, end);
        return rc;
      });
      // intel_iommu_unmap: `if (dmar_domain->max_addr == iova + size) dmar_domain->max_addr = iova;`
      patchOwn(t, 'unmapPages', (unmapPages) => (iova, pgLg2, pgcount) => {
        const size = unmapPages(iova, pgLg2, pgcount);
        if (size > 0 && maxAddr.get(d) === iova + size) maxAddr.set(d, iova);
        return size;
      });
    },
    machine: (m) => {
      if (profile !== '6.12') return;
      const intel = [...m.instances.values()].map((i) => i.driver).find((drv) => drv.name === 'intel');
      if (!intel) return;
      patchOwn(intel as IommuDriver, 'attachDev', (attachDev) => (domain: IommuDomain, dev: SimDevice) => {
        const rc = attachDev(domain, dev);
        if (rc) return rc;
        // THE FAULT: `1LL << iommu->agaw` where `1LL << agaw_to_width(iommu->agaw)` was meant.
        const agaw = unitAgaw(dev);
        if ((maxAddr.get(domain) ?? 0) > 2 ** agaw) return -EINVAL;
        return 0;
      });
    },
  });
}
