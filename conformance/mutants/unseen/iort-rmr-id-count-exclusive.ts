/**
 * iort-rmr-id-count-exclusive — drivers/acpi/arm64/iort.c, iort_rmr_has_dev()
 * (reached from arm_smmu_get_resv_regions -> iommu_dma_get_resv_regions ->
 * iort_iommu_get_resv_regions -> iort_find_rmrs -> iort_node_get_rmr_info;
 * 6.12 and 7.3).
 *
 * An SMMUv3 master's own reserved regions are the IORT RMR nodes whose ID
 * mapping covers one of its StreamIDs. IORT's "Number of IDs" field
 * (id_count) is the number of IDs in the range minus one, so a node for a
 * single StreamID has id_count 0 and the range test is inclusive:
 *
 *     for (i = 0; i < fwspec->num_ids; i++) {
 *             if (fwspec->ids[i] >= id_start &&
 *                 fwspec->ids[i] <= id_start + id_count)
 *                     return true;
 *     }
 *
 * (iort_node_get_rmr_info, the caller, says it again: "Please note, id_count
 * is equal to the number of IDs in the range minus one", and allocates
 * map->id_count + 1 SIDs.) The fault reads the field as a count, the classic
 * IORT misreading (iort_id_map had it until "ACPI/IORT: Fix 'Number of IDs'
 * handling in iort_id_map()"):
 *
 *             if (fwspec->ids[i] >= id_start &&
 *                 fwspec->ids[i] < id_start + id_count)
 *
 * The last StreamID of every mapping no longer matches; a node describing
 * one device (id_count 0) matches none. That master's RMR is dropped from
 * iommu_get_resv_regions(dev), so iommufd never reserves it: attaching the
 * device to an IOAS that already maps the firmware's range succeeds instead
 * of failing with EADDRINUSE, IOVA_RANGES keeps offering the range, and a
 * later IOAS_MAP at a fixed IOVA inside it succeeds, so user pages (and the
 * device's DMA) land where the firmware requires its own mapping. The unit's
 * own SW_MSI window (arm_smmu_get_resv_regions) is not affected.
 *
 * The simulated IORT has one RMR node per device-specific region of an SMMU
 * master (DeviceSpec.reservedRegions), mapping exactly that master's StreamID
 * (its device handle), so id_count is 0.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { ResvRegion, SimDevice } from '../../../impl/platform/iommu.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** An IORT RMR node: its ID mapping (output_base, id_count) and its range. */
interface RmrNode {
  readonly outputBase: number;
  readonly idCount: number;
  readonly region: ResvRegion;
}

/** iort_rmr_has_dev with the fault: the range end taken as exclusive. */
function iortRmrHasDev(dev: SimDevice, idStart: number, idCount: number): boolean {
  const ids = [dev.handle]; // fwspec->ids: the master's StreamID
  for (const id of ids) {
    if (id >= idStart && id < idStart + idCount) return true; // THE FAULT: `<=` in the kernel
  }
  return false;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('iort-rmr-id-count-exclusive', profile, {
    machine: (m) => {
      const rmrs: RmrNode[] = [];
      /** arm_smmu_get_resv_regions: the SW_MSI window, then iommu_dma_get_resv_regions (the RMRs). */
      const smmuResvRegions = (dev: SimDevice): ResvRegion[] => {
        const head: ResvRegion[] = [...dev.iommu.config.resvRegions];
        for (const node of rmrs) if (iortRmrHasDev(dev, node.outputBase, node.idCount)) head.push(node.region);
        return head;
      };
      patchOwn(m, 'deviceCreate', (orig) => (spec) => {
        const r = orig(spec);
        if (!r.ok) return r;
        const dev = m.device(r.device);
        if (dev && dev.iommu.driver.name === 'smmuv3') {
          for (const region of dev.ownResv) rmrs.push({ outputBase: dev.handle, idCount: 0, region });
          patchOwn(dev, 'resvRegions', () => () => smmuResvRegions(dev));
        }
        return r;
      });
    },
  });
}
