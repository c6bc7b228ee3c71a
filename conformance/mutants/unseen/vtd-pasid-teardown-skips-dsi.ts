/**
 * R41-B2 — vtd-pasid-teardown-skips-dsi (drivers/iommu/intel/pasid.c
 * intel_pasid_tear_down_entry(), reached when a VT-d device leaves a paging
 * domain: IOMMU_DEVICE_DETACH, a replace by another HWPT, the blocking domain
 * on unbind; both profiles).
 *
 * Clearing the device's PASID-table entry is followed by the invalidation of
 * everything the unit cached under the old domain ID, because the domain's
 * cache tag for this unit goes away with the device (cache_tag_unassign):
 * later unmaps of that domain no longer flush this unit at all.
 *
 *     did = pasid_get_domain_id(pte);
 *     pgtt = pasid_pte_get_pgtt(pte);
 *     pasid_clear_present(pte);
 *     ...
 *     pasid_cache_invalidation_with_pasid(iommu, did, pasid);
 *
 *     if (pgtt == PASID_ENTRY_PGTT_PT || pgtt == PASID_ENTRY_PGTT_FL_ONLY)
 *             qi_flush_piotlb_all(iommu, did, pasid);
 *     else
 *             iommu->flush.flush_iotlb(iommu, did, 0, 0, DMA_TLB_DSI_FLUSH);
 *
 * THE FAULT drops the domain-selective IOTLB flush of the second-stage case
 * (only the PASID cache is invalidated). The IOTLB keeps the old DID's
 * translations; since the domain has no cache tag on the unit any more, an
 * unmap done while no device of the unit is attached sends no invalidation
 * either. When a device is attached to the domain again (a replace back to
 * the HWPT, a new attach), it hits the stale entries: DMA reaches IOVAs
 * IOMMU_IOAS_UNMAP removed — pages already unpinned — with the old
 * permissions.
 *
 * Applied as: a VT-d unit's flushGather (the model's iotlb_sync through the
 * domain's cache tags; its detach sends no flush, standing for the correct
 * teardown flush plus tag removal) skips the flush when no device of the unit
 * is currently attached to the domain — exactly what the kernel does once the
 * teardown no longer flushes.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { HwDomain } from '../../../impl/platform/hw.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

/** The unit's device table (private in IommuInstance, plain at run time). */
interface WithDevices {
  readonly devices: Map<number, { readonly domain: HwDomain }>;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtd-pasid-teardown-skips-dsi', profile, {
    machine: (m) => {
      for (const hw of hwUnits(m)) {
        if (hw.vendor !== 'vtd') continue;
        const devices = (hw as unknown as WithDevices).devices;
        patchOwn(hw, 'flushGather', (flushGather) => (d, g) => {
          for (const ctx of devices.values()) if (ctx.domain === d) return flushGather(d, g);
          // THE FAULT: no cache tag left on this unit, and the teardown did not flush the DID.
        });
      }
    },
  });
}
