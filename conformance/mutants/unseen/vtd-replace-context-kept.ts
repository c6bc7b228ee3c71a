/**
 * Round 7b fault (drivers/iommu/intel/iommu.c intel_iommu_attach_device →
 * domain_context_mapping_one, legacy-mode context entries; the scalable-mode
 * twin is a PASID-entry "replace" that returns early on a present entry).
 *
 * Replacing the domain of an attached device (iommu_group_replace_domain, as
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT does for an already attached device) calls the
 * driver's attach_dev for the new domain with the old one still programmed.
 * The driver must first tear the old translation down
 * (device_block_translation: clear the context entry, flush the context cache
 * and the old DID) and then program the new one. The fault skips the
 * teardown when the device "is already attached", and then
 *     if (context_present(context) && !context_copied(iommu, bus, devfn))
 *             goto out_unlock;
 * returns 0 without writing the new domain's DID and root: the iommu core and
 * iommufd record the new domain (group->domain, the new HWPT's users), while
 * the hardware keeps walking the old one.
 *
 * Consequence: after a replace to HWPT B the device still translates through
 * HWPT A. IOVAs that only A's IOAS maps stay reachable (another IOAS's memory,
 * a VM's old address space after the VMM switched it), B's mappings fault;
 * once A is destroyed its table pages are freed while no context names them
 * (here: the hardware context is dropped with the domain, so the device
 * faults from then on).
 *
 * Applied as: on the VT-d units, after a successful replace (iommuReplaceGroup)
 * the hardware context of every device of the group is set back to the
 * domain it had before.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtd-replace-context-kept', profile, {
    machine: (m) =>
      patchOwn(m, 'iommuReplaceGroup', (replace) => (g, domain) => {
        const old = g.domain;
        const rc = replace(g, domain);
        if (rc !== 0 || g.iommu.driver.name !== 'intel' || old === domain || !old.hw) return rc;
        // THE FAULT: context_present() → goto out_unlock; the old DID/root stay programmed.
        for (const dev of g.devices) g.iommu.hw.attach(dev.handle, old.hw);
        return rc;
      }),
  });
}
