/**
 * vtd-iommu-array-shared-did — drivers/iommu/intel/iommu.c
 * domain_attach_iommu() / domain_detach_iommu() / domain_id_iommu().
 *
 * A VT-d domain has one domain id (DID) per DMAR unit it is attached to,
 * allocated from that unit's IDA on the domain's first attach there; the
 * per-unit info lives in domain->iommu_array, indexed by the unit's
 * system-unique sequence number:
 *
 *     curr = xa_load(&domain->iommu_array, iommu->seq_id);
 *     if (curr) {
 *             curr->refcnt++;
 *             return 0;
 *     }
 *     num = ida_alloc_range(&iommu->domain_ida, IDA_START_DID,
 *                           cap_ndoms(iommu->cap) - 1, GFP_KERNEL);
 *     ...
 *     curr = xa_cmpxchg(&domain->iommu_array, iommu->seq_id, NULL, info, GFP_ATOMIC);
 *
 * and domain_id_iommu() / domain_detach_iommu() look the info up the same
 * way (the DID programmed in the context / PASID entry, the DID of the cache
 * tags every flush uses, the DID freed when the unit's last device leaves).
 *
 * THE FAULT: the array is indexed by a per-unit value that is not unique
 * across units (iommu->segment, the PCI segment — the same for every DMAR
 * unit of one segment) in all three places. Attaching a domain to a second
 * unit finds the first unit's info: the refcount is raised and the domain
 * runs on the second unit with the DID the *first* unit's IDA handed out —
 * a DID the second unit's IDA never reserved and gives to its own next new
 * domain (the lowest free one, so typically the very same number). When the
 * last device leaves, the DID is freed into the IDA of whichever unit
 * detaches last.
 *
 * Consequence: two live domains — of different IOASes, possibly of
 * different iommufd contexts — share one DID on the second unit (vtd0 and
 * vtd2 are two compatible DMAR units here: an IOAS whose auto domain serves
 * devices behind both is what triggers it). The unit's IOTLB and
 * paging-structure caches cannot tell their entries apart: a translation one
 * device cached is a hit for the other device at the same IOVA, so it reads
 * and writes the other IOAS's pages (or stale pages the other IOAS already
 * unmapped and unpinned), and each domain's unmaps flush the other's entries.
 *
 * Applied as: on the VT-d units the hardware tag of a context follows the
 * kernel's per-unit DIDs (lowest free from 2 per unit, freed with a
 * domain-selective flush when the domain's last device on the unit leaves,
 * flushes sent with the DID of every unit the domain has devices on) — and
 * the per-domain info is found by a key every unit shares (_vtd_did.ts).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { vtdPerUnitDids } from './_vtd_did.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtd-iommu-array-shared-did', profile, {
    // THE FAULT: the iommu_array index every unit maps to (iommu->segment instead of iommu->seq_id).
    machine: (m) => vtdPerUnitDids(m, { arrayKey: () => 'segment0' }),
  });
}
