/**
 * R16-B1 — vtd-qi-batch-tail-unsubmitted (drivers/iommu/intel/cache.c,
 * cache_tag_flush_range; both profiles: 6.12 and 7.3 batch the same way).
 *
 * VT-d queues its invalidation descriptors per domain in domain->qi_batch
 * (QI_MAX_BATCHED_DESC_COUNT = 16) and hands them to the queued-invalidation
 * hardware in three places: when the batch is full
 * (qi_batch_increment_index), when the tag walk moves on to another IOMMU
 * unit, and once more after the walk. The kernel:
 *
 *     void cache_tag_flush_range(struct dmar_domain *domain, unsigned long start,
 *                                unsigned long end, int ih)
 *     {
 *             ...
 *             spin_lock_irqsave(&domain->cache_lock, flags);
 *             list_for_each_entry(tag, &domain->cache_tags, node) {
 *                     if (iommu && iommu != tag->iommu)
 *                             qi_batch_flush_descs(iommu, domain->qi_batch);
 *                     iommu = tag->iommu;
 *                     switch (tag->type) {
 *                     case CACHE_TAG_IOTLB:
 *                     case CACHE_TAG_NESTING_IOTLB:
 *                             cache_tag_flush_iotlb(domain, tag, addr, mask, ih);
 *                             break;
 *                     ...
 *                     }
 *             }
 *             qi_batch_flush_descs(iommu, domain->qi_batch);
 *             spin_unlock_irqrestore(&domain->cache_lock, flags);
 *     }
 *
 * THE FAULT: the trailing qi_batch_flush_descs() is dropped (a refactor that
 * moved "submit on unit change" into the loop and believed it covered the
 * last unit too). The descriptors of the last unit — for a domain on one
 * unit, all of them — stay queued in the domain's batch. They are submitted
 * only when the batch fills up: the 16th range flush of the domain sends
 * the 16 queued PSI/DSI descriptors at once. The detach/replace path is
 * untouched: intel_pasid_tear_down_entry() / the PASID-replace flush issue
 * their domain-selective IOTLB flush directly through qi_submit_sync(), not
 * through the batch, and a freed domain takes its batch with it.
 *
 * Consequence: an unmap (IOMMU_IOAS_UNMAP, VFIO_IOMMU_UNMAP_DMA, an area
 * destroyed with its IOAS or context, a superpage replacing an empty table)
 * clears the PTEs and returns, but its IOTLB and paging-structure-cache
 * invalidation waits in the batch for up to fifteen later flushes of the
 * same domain. Meanwhile a device that used the range keeps reading and
 * writing the pages through its cached translations — pages iommufd has
 * already unpinned and handed back — and the unit's `iotlb` lists entries
 * for IOVAs nothing maps. Nothing is wrong at the moment of the unmap: the
 * harm is the state the unmap leaves behind for the next DMA, and a later
 * unrelated flush of the domain (the 16th) silently repairs it.
 *
 * Applied as: on the VT-d hardware model (vtd0/vtd1/vtd2 share it), the
 * PSI/DSI commands a domain's iotlb_sync (flushGather) issues are queued per
 * domain tag and sent together when sixteen are queued; a device leaving a
 * domain (attach of another domain or of none: detach, replace, unplug)
 * gets the direct domain-selective flush of the domain it leaves, as the
 * kernel's PASID tear-down/replace does; a domain's destruction drops its
 * queue (its tag is flushed by the reference as before).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { HwDomain } from '../../../impl/platform/hw.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

/** QI_MAX_BATCHED_DESC_COUNT (drivers/iommu/intel/iommu.h). */
const QI_MAX_BATCHED_DESC_COUNT = 16;

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtd-qi-batch-tail-unsubmitted', profile, {
    machine: (m) =>
      hwUnits(m).forEach((hw) => {
        if (hw.vendor !== 'vtd') return;
        /** domain->qi_batch, per domain tag: descriptors not yet submitted. */
        const batches = new Map<number, (() => void)[]>();
        /** The domain whose cache_tag_flush_range is running. */
        let flushing: HwDomain | null = null;
        /** Which domain each device context (sid/pasid key) points at, as the PASID entries say. */
        const contexts = new Map<number, HwDomain>();

        const queue = (did: number, desc: () => void): void => {
          let batch = batches.get(did);
          if (!batch) batches.set(did, (batch = []));
          batch.push(desc);
          // qi_batch_increment_index: a full batch is submitted.
          if (batch.length === QI_MAX_BATCHED_DESC_COUNT) {
            batches.delete(did);
            for (const d of batch) d();
          }
          // THE FAULT: no qi_batch_flush_descs() after the tag walk.
        };

        patchOwn(hw, 'flushGather', (orig) => (d: HwDomain, g) => {
          const outer = flushing;
          flushing = d;
          try {
            orig(d, g);
          } finally {
            flushing = outer;
          }
        });
        patchOwn(hw, 'vtdPsi', (orig) => (did: number, addr: number, am: number, ih: number) => {
          if (flushing !== null && flushing.tag === did) queue(did, () => orig(did, addr, am, ih));
          else orig(did, addr, am, ih);
        });
        patchOwn(hw, 'vtdDsi', (orig) => (did: number) => {
          if (flushing !== null && flushing.tag === did) queue(did, () => orig(did));
          else orig(did);
        });
        // intel_pasid_tear_down_entry / the replace flush: a direct DSI of the domain left.
        patchOwn(hw, 'attach', (orig) => (sid: number, domain: HwDomain | null, pasid = 0) => {
          const key = sid * 1048576 + pasid;
          const prev = contexts.get(key);
          const rc = orig(sid, domain, pasid);
          if (domain === null) contexts.delete(key);
          else contexts.set(key, domain);
          if (prev !== undefined && prev !== domain && !prev.destroyed) hw.vtdDsi(prev.tag);
          return rc;
        });
        patchOwn(hw, 'forgetDomain', (orig) => (d: HwDomain) => {
          batches.delete(d.tag); // the batch is freed with the domain
          for (const [k, c] of contexts) if (c === d) contexts.delete(k);
          orig(d);
        });
      }),
  });
}
