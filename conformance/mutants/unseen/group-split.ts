/**
 * C9 — group-split — a VMM device model that places every hot-added device in
 * an iommu group of its own, whatever the topology says (the effect of a
 * wrong ACS evaluation, or of an "ACS override": devices that can DMA to one
 * another behind a PCIe switch without ACS are reported as isolated).
 *
 * What real code does: devices that the IOMMU cannot isolate from one another
 * share one struct iommu_group (drivers/iommu/iommu.c,
 * iommu_group_get_for_dev → ops->device_group, pci_device_group walks
 * pci_acs_path_enabled). Ownership and attachment are per group:
 * iommufd_device_bind → iommu_device_claim_dma_owner(dev, ictx) fails with
 * EBUSY when the group already has another owner
 * (__iommu_take_dma_ownership: `if (group->owner_cnt && group->owner != owner)
 * return -EBUSY`), and a device attached to a domain takes its whole group
 * with it (iommufd_group: every device of a group is attached to the same
 * HWPT; a sibling's DMA goes through that domain).
 *
 * The bug: `device_create` with `spec.group` reports the device as a member
 * of the requested group, but the emulation creates it in a new group of its
 * own (a new group underneath, in the reference). Nothing it does later knows
 * the two devices are siblings.
 *
 * Consequence: group isolation is gone. Two siblings can be bound by two
 * different iommufd contexts (two owners, e.g. two VMs) — a device of one VM
 * can then DMA peer-to-peer into the other's device; attaching one does not
 * take the other along, so the sibling's DMA is blocked (or reaches its own
 * domain) instead of going through the group's domain; and siblings can be
 * attached to different HWPTs.
 */
import type { Implementation, Profile, Response, SingleRequest } from '../../../spec/contract/types.ts';
import { createReferenceAdapter } from '../../../impl/adapter/adapter.ts';

interface ClientGroup {
  readonly iommu: string;
  readonly devices: Set<number>;
}

export function createAdapter(profile: Profile): Implementation {
  const ref = createReferenceAdapter(profile);
  const call = (r: SingleRequest): Response => ref.handle(r) as Response;
  /** Group handles as the client sees them (the group each device was reported in). */
  let groups = new Map<number, ClientGroup>();
  let groupOf = new Map<number, number>(); // device → client group

  return {
    name: 'group-split',
    version: '0.1.0',
    profile,
    handle(req: SingleRequest): Response {
      switch (req.op) {
        case 'reset':
          groups = new Map();
          groupOf = new Map();
          return call(req);
        case 'device_create': {
          const g = req.spec.group;
          if (g === undefined) {
            const r = call(req);
            if (r.ok) {
              const { device, group } = r.result as { device: number; group: number };
              groups.set(group, { iommu: req.spec.iommu, devices: new Set([device]) });
              groupOf.set(device, group);
            }
            return r;
          }
          const cg = groups.get(g);
          if (!cg || cg.devices.size === 0) return { ok: false, error: { code: 'bad-handle', message: `no group ${g}`, field: 'spec.group' } };
          if (cg.iommu !== req.spec.iommu) {
            return { ok: false, error: { code: 'bad-request', message: `group ${g} is behind ${cg.iommu}, not ${req.spec.iommu}`, field: 'spec.group' } };
          }
          // THE BUG: the topology's group is ignored; the device gets a fresh group of its own.
          const { group: _dropped, ...rest } = req.spec;
          const r = call({ op: 'device_create', spec: rest });
          if (!r.ok) return r;
          const { device } = r.result as { device: number; group: number };
          cg.devices.add(device);
          groupOf.set(device, g);
          return { ok: true, result: { device, group: g } };
        }
        case 'device_remove': {
          const r = call(req);
          if (r.ok) {
            const g = groupOf.get(req.device);
            if (g !== undefined) groups.get(g)?.devices.delete(req.device);
            groupOf.delete(req.device);
          }
          return r;
        }
        default:
          return call(req);
      }
    },
    close: () => ref.close?.(),
  };
}
