/**
 * vtd-detach-iommu-did-freed-in-use — drivers/iommu/intel/iommu.c
 * domain_detach_iommu() (with domain_attach_iommu(), device_block_translation()).
 *
 * A VT-d paging domain gets one domain id (DID) per DMAR unit, from that
 * unit's IDA, when its first device behind the unit attaches; every further
 * device of the unit only takes a reference, and the DID goes back to the
 * IDA when the last of them leaves:
 *
 *     void domain_detach_iommu(struct dmar_domain *domain, struct intel_iommu *iommu)
 *     {
 *             struct iommu_domain_info *info;
 *             ...
 *             guard(mutex)(&iommu->did_lock);
 *             info = xa_load(&domain->iommu_array, iommu->seq_id);
 *             if (--info->refcnt == 0) {
 *                     ida_free(&iommu->domain_ida, info->did);
 *                     xa_erase(&domain->iommu_array, iommu->seq_id);
 *                     kfree(info);
 *             }
 *     }
 *
 * (6.12: clear_bit(info->did, iommu->domain_ids) in the same block.)
 *
 * THE FAULT: the DID is released before the reference count is looked at —
 * ida_free() hoisted above the `if` (as when the free was made unconditional
 * "because the last user frees the info anyway"):
 *
 *             info = xa_load(&domain->iommu_array, iommu->seq_id);
 *             ida_free(&iommu->domain_ida, info->did);
 *             if (--info->refcnt == 0) {
 *                     xa_erase(&domain->iommu_array, iommu->seq_id);
 *                     kfree(info);
 *             }
 *
 * With one device per domain nothing changes. With two devices of the same
 * unit on one domain (two groups attached to one IOAS share its automatic
 * HWPT), detaching or replacing the first one returns the DID to the IDA
 * while the second device's context entry still carries it; the next domain
 * that gets a DID on that unit — the lowest free one, so this one — runs
 * under the same DID as the live first domain.
 *
 * Consequence: two live domains — two IOASes, possibly two iommufd contexts —
 * share a DID on the unit; the IOTLB cannot tell their translations apart. A
 * translation cached by a device of one domain is a hit for a device of the
 * other at the same IOVA, so that device reads and writes the first IOAS's
 * pages (isolation), and each domain's flushes hit the other's entries.
 *
 * Applied as: on the VT-d units the hardware tag of a context follows the
 * kernel's per-unit DIDs (lowest free from 2 per unit; domain_id_iommu() for
 * the context entry and the cache tags; device_block_translation() flushes
 * the old DID domain-selectively before domain_detach_iommu(), and runs
 * before the new domain is attached, as intel_iommu_attach_device does:
 * _vtd_did.ts).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { vtdPerUnitDids } from './_vtd_did.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtd-detach-iommu-did-freed-in-use', profile, {
    // THE FAULT: ida_free() before the refcount test.
    machine: (m) => vtdPerUnitDids(m, { freesBeforeRefcount: true, blocksFirst: true }),
  });
}
