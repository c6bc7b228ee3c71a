/**
 * smmu-canwbs-latched-per-smmu (7.3 drivers/iommu/arm/arm-smmu-v3/
 * arm-smmu-v3.c arm_smmu_probe_device / arm_smmu_master_canwbs, as
 * arm_smmu_capable(IOMMU_CAP_ENFORCE_CACHE_COHERENCY) and arm_smmu_attach_prepare
 * use them).
 *
 * Whether an SMMUv3 master's DMA is guaranteed cache coherent (so that a
 * domain may enforce coherency and KVM may skip WBINVD emulation) is a
 * property of the root complex the master sits behind, which IORT records
 * per device in its fwspec (iort_iommu_configure_id:
 * `fwspec->flags |= IOMMU_FWSPEC_PCI_RC_CANWBS`). The driver reads it per
 * master:
 *
 *     static inline bool arm_smmu_master_canwbs(struct arm_smmu_master *master)
 *     {
 *             return dev_iommu_fwspec_get(master->dev)->flags &
 *                    IOMMU_FWSPEC_PCI_RC_CANWBS;
 *     }
 *
 * The fault caches it in the SMMU instead, the way the driver keeps its other
 * platform properties (COHACC, HTTU...): arm_smmu_probe_device does
 * `if (fwspec->flags & IOMMU_FWSPEC_PCI_RC_CANWBS) smmu->features |=
 * ARM_SMMU_FEAT_CANWBS;` and arm_smmu_master_canwbs() tests
 * `master->smmu->features & ARM_SMMU_FEAT_CANWBS` — on the assumption that
 * one SMMU fronts one root complex. The bit is set by the first CANWBS master
 * probed and never cleared (not even when that device goes away).
 *
 * What changes: the answer about a device depends on which other devices
 * behind the same SMMU were probed before it asks. Once a CANWBS master has
 * been probed, every master of that SMMU — earlier or later, CANWBS or not —
 * reports IOMMU_CAP_ENFORCE_CACHE_COHERENCY, so:
 *   - iommufd binds it with enforce_cache_coherency and makes its HWPTs
 *     enforce-coherent; KVM is told (vfio_file_enforced_coherent) that its
 *     VFIO file does not need WBINVD emulation: kvm_state noncoherentDma
 *     stays false with a non-coherent device registered;
 *   - arm_smmu_attach_prepare's guard
 *     `if (smmu_domain->enforce_cache_coherency && !arm_smmu_master_canwbs(master))`
 *     passes, so the non-coherent device joins (and auto-domain reuse puts it
 *     in) another device's coherency-enforcing domain instead of getting
 *     -EINVAL and a domain of its own.
 * Before any CANWBS master is probed every answer is the kernel's. 6.12 has
 * no CANWBS support (arm_smmu_capable never reports enforcement); the fault
 * applies to the 7.3 profile.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EINVAL } from '../../../impl/lib/errno.ts';
import type { Machine } from '../../../impl/platform/index.ts';
import type { IommuDriver, SimDevice } from '../../../impl/platform/iommu.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

function latchCanwbs(m: Machine): void {
  /** smmu->features & ARM_SMMU_FEAT_CANWBS, per SMMU instance. */
  const canwbs = new Set<string>();
  const drivers = new Set<IommuDriver>([...m.instances.values()].map((i) => i.driver).filter((d) => d.name === 'smmuv3'));
  if (drivers.size === 0) return;

  // arm_smmu_probe_device: latch the master's fwspec flag into the SMMU.
  patchOwn(m, 'deviceCreate', (create) => (spec) => {
    const r = create(spec);
    if (r.ok) {
      const dev = m.device(r.device);
      if (dev && dev.iommu.driver.name === 'smmuv3' && dev.caps.enforceCacheCoherency) canwbs.add(dev.iommu.name); // THE FAULT
    }
    return r;
  });

  /** arm_smmu_master_canwbs, reading the SMMU's latched bit. */
  const masterCanwbs = (dev: SimDevice): boolean => canwbs.has(dev.iommu.name);

  for (const drv of drivers) {
    // arm_smmu_capable(IOMMU_CAP_ENFORCE_CACHE_COHERENCY)
    patchOwn(drv, 'capable', (capable) => (dev, cap) => (cap === 'ENFORCE_CACHE_COHERENCY' ? masterCanwbs(dev) : capable(dev, cap)));
    // arm_smmu_attach_prepare: an enforcing domain only takes CANWBS masters
    patchOwn(drv, 'attachDev', () => (domain, dev) => {
      if (domain.enforceCacheCoherency && !masterCanwbs(dev)) return -EINVAL;
      if (domain.dirtyOps && !dev.caps.dirtyTracking) return -EINVAL;
      return 0;
    });
  }
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('smmu-canwbs-latched-per-smmu', profile, {
    machine: (m, env) => {
      if (env.profile === '7.3') latchCanwbs(m);
    },
  });
}
