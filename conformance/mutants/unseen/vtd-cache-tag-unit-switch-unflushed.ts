/**
 * vtd-cache-tag-unit-switch-unflushed (drivers/iommu/intel/cache.c
 * cache_tag_flush_range; 6.12 and 7.3).
 *
 * A VT-d domain keeps one cache tag per (unit, DID) it is attached through;
 * cache_tag_flush_range walks the tags and queues one IOTLB descriptor per
 * tag in the domain's qi_batch, a single batch shared by all the domain's
 * units. A queue belongs to one unit, so the batch is submitted each time the
 * walk moves to a tag of another unit, and once more at the end:
 *
 *     list_for_each_entry(tag, &domain->cache_tags, node) {
 *             if (iommu && iommu != tag->iommu)
 *                     qi_batch_flush_descs(iommu, domain->qi_batch);
 *             iommu = tag->iommu;
 *             ... cache_tag_flush_iotlb(domain, tag, addr, mask, ih) ...
 *     }
 *     qi_batch_flush_descs(iommu, domain->qi_batch);
 *
 * The fault drops the submission on the unit switch (the tail one stays): the
 * descriptors queued for every unit but the last in the list are submitted,
 * with their own DIDs, to the invalidation queue of the last one. With one
 * unit nothing changes. With a domain shared by two DMAR units (an automatic
 * domain of a vtd0 device reused for a vtd2 device) the other unit never sees
 * its invalidation: after IOMMU_IOAS_UNMAP (or any unmap, table free or
 * superpage switch that syncs) a device behind that unit keeps its IOTLB and
 * paging-structure entries and goes on reaching the unmapped, unpinned pages.
 * Which unit loses depends on the list order: 6.12's cache_tag_assign appends
 * (list_add_tail), so the batch goes to the unit attached last and the first
 * one goes stale; 7.3's puts a new unit's tag at the head, so the batch goes
 * to the first unit attached and later ones go stale.
 *
 * Applied with the per-unit DIDs of _vtd_did.ts (kernel steps): during one
 * flushGather (cache_tag_flush_range) the unit's PSI/DSI commands are queued
 * and, when they name more than one unit, all issued on the unit the list
 * ends with. (The batch's own flush at QI_MAX_BATCHED_DESC_COUNT descriptors
 * is never reached by two or three tags.)
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { HwDomain } from '../../../impl/platform/hw.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';
import { vtdPerUnitDids } from './_vtd_did.ts';

/** _vtd_did.ts tags a context of unit i with UNIT_TAG_BASE * (i + 1) + DID (tags below it are the reference's own). */
const UNIT_TAG_BASE = 1_000_000;

/** One queued descriptor: its tag (unit and DID) and how to issue it with another tag. */
interface Desc {
  readonly tag: number;
  readonly issue: (tag: number) => void;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtd-cache-tag-unit-switch-unflushed', profile, {
    machine: (m) => {
      vtdPerUnitDids(m, {});
      const hw = hwUnits(m).find((h) => h.vendor === 'vtd');
      if (!hw) return;
      /** domain->qi_batch while cache_tag_flush_range runs. */
      let batch: Desc[] | null = null;
      patchOwn(hw, 'vtdPsi', (psi) => (did: number, addr: number, am: number, ih: number) => {
        if (batch === null) return psi(did, addr, am, ih);
        batch.push({ tag: did, issue: (t) => psi(t, addr, am, ih) });
      });
      patchOwn(hw, 'vtdDsi', (dsi) => (did: number) => {
        if (batch === null) return dsi(did);
        batch.push({ tag: did, issue: (t) => dsi(t) });
      });
      patchOwn(hw, 'flushGather', (flush) => (d: HwDomain, g: IotlbGather) => {
        if (batch !== null) return flush(d, g);
        const queued: Desc[] = (batch = []);
        try {
          flush(d, g);
        } finally {
          batch = null;
        }
        const unitOf = (tag: number): number => Math.floor(tag / UNIT_TAG_BASE);
        const units = new Set(queued.map((q) => unitOf(q.tag)));
        if (units.size < 2 || units.has(0)) {
          for (const q of queued) q.issue(q.tag);
          return;
        }
        // THE FAULT: no qi_batch_flush_descs on the unit switch; the one at the end goes to the list's last unit
        // (6.12: the tag appended last; 7.3: new units go to the head, so the first unit attached).
        const last = queued[profile === '6.12' ? queued.length - 1 : 0] as Desc;
        const unit = unitOf(last.tag);
        for (const q of queued) q.issue(unit * UNIT_TAG_BASE + (q.tag % UNIT_TAG_BASE));
      });
    },
  });
}
