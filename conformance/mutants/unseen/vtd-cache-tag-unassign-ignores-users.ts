/**
 * vtd-cache-tag-unassign-ignores-users — drivers/iommu/intel/cache.c
 * cache_tag_unassign() (with cache_tag_assign(), cache_tag_flush_range()).
 *
 * A VT-d domain keeps a list of cache tags: one CACHE_TAG_IOTLB tag per
 * (DMAR unit, DID, PASID) its devices use, shared by every device behind that
 * unit through a user count. Every IOTLB invalidation of the domain
 * (intel_iommu_tlb_sync → cache_tag_flush_range) walks that list and flushes
 * each tag's DID on its unit — a unit with no tag gets no command:
 *
 *     static void cache_tag_unassign(struct dmar_domain *domain, u16 did,
 *                                    struct device *dev, ioasid_t pasid,
 *                                    enum cache_tag_type type)
 *     {
 *             ...
 *             list_for_each_entry(tag, &domain->cache_tags, node) {
 *                     if (cache_tage_match(tag, did, iommu, dev, pasid, type)) {
 *                             trace_cache_tag_unassign(tag);
 *                             if (--tag->users == 0) {
 *                                     list_del(&tag->node);
 *                                     kfree(tag);
 *                             }
 *                             break;
 *                     }
 *             }
 *
 * THE FAULT: the tag is unlinked and freed on every unassign, whatever its
 * user count (the decrement kept only for the trace):
 *
 *                             tag->users--;
 *                             list_del(&tag->node);
 *                             kfree(tag);
 *
 * With one device per domain and unit nothing changes. When two devices
 * behind the same unit share a domain (two groups attached to one IOAS share
 * its automatic HWPT) and one of them detaches or is replaced, the domain
 * loses the unit's IOTLB tag although the other device still translates
 * through it. The detach itself is flushed (device_block_translation tears
 * the context down with a domain-selective flush of the DID), so nothing is
 * stale yet; but from then on the domain's unmaps send no invalidation to
 * that unit — until some device of the unit attaches to the domain again and
 * assigns a fresh tag.
 *
 * Consequence: after IOMMU_IOAS_UNMAP of an IOVA the remaining device has
 * used since, its IOTLB entry survives: its DMA still reaches the old page,
 * which iommufd has unpinned (and the process may have freed or reused),
 * instead of faulting — DMA outside what the IOAS maps.
 *
 * Applied as: on the VT-d units each domain keeps per-unit IOTLB tags with a
 * user count (the devices behind the unit); a domain's flush goes out only if
 * it has a tag (cache_tag_flush_range over an empty list issues nothing),
 * and device_block_translation flushes the old domain's DID when a device
 * leaves it. Tags, DIDs and the IOTLB model are otherwise the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { HwDomain } from '../../../impl/platform/hw.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

const PASID_STRIDE = 1048576;

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtd-cache-tag-unassign-ignores-users', profile, {
    machine: (m) => {
      const hw = hwUnits(m).find((h) => h.vendor === 'vtd');
      if (!hw) return;
      const units = new Set([...m.instances.values()].filter((i) => i.hw === hw).map((i) => i.name));
      /** domain->cache_tags: the IOTLB tag of each unit, with its user count. */
      const cacheTags = new Map<HwDomain, Map<string, number>>();
      /** What each stream id is attached to, and behind which unit. */
      const attached = new Map<number, { domain: HwDomain; unit: string }>();

      /** cache_tag_assign(..., CACHE_TAG_IOTLB): reuse the unit's tag (users++) or add one. */
      const assign = (d: HwDomain, unit: string): void => {
        let tags = cacheTags.get(d);
        if (!tags) cacheTags.set(d, (tags = new Map()));
        tags.set(unit, (tags.get(unit) ?? 0) + 1);
      };

      /** cache_tag_unassign, with the fault. */
      const unassign = (d: HwDomain, unit: string): void => {
        const tags = cacheTags.get(d);
        if (!tags || !tags.has(unit)) return;
        // THE FAULT: `if (--tag->users == 0)` lost: the tag goes whatever its users.
        tags.delete(unit);
      };

      patchOwn(hw, 'attach', (attach) => (sid: number, domain: HwDomain | null, pasid = 0) => {
        const key = sid * PASID_STRIDE + pasid;
        const prev = attached.get(key);
        if (prev !== undefined) {
          // device_block_translation: context teardown with a DSI flush of the old DID, then the tags go.
          hw.vtdDsi(prev.domain.tag);
          unassign(prev.domain, prev.unit);
          attached.delete(key);
        }
        const rc = attach(sid, domain, pasid);
        if (domain !== null) {
          const unit = m.device(sid)?.iommu.name ?? prev?.unit;
          if (unit !== undefined && units.has(unit)) {
            // dmar_domain_attach_device → cache_tag_assign_domain
            assign(domain, unit);
            attached.set(key, { domain, unit });
          }
        }
        return rc;
      });

      // intel_iommu_tlb_sync → cache_tag_flush_range: one command per tag; no tag, no command.
      patchOwn(hw, 'flushGather', (flush) => (d: HwDomain, g: IotlbGather) => {
        const tags = cacheTags.get(d);
        if (!tags || tags.size === 0) return;
        flush(d, g);
      });

      patchOwn(hw, 'forgetDomain', (forget) => (d: HwDomain) => {
        forget(d);
        cacheTags.delete(d);
      });
    },
  });
}
