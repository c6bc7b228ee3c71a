/**
 * L2 — did-reuse-no-flush (VT-d/AMD/SMMU domain-id lifetime: domain_detach_iommu
 * / ida_free without a domain-selective flush).
 *
 * Hardware domain ids tag IOTLB and paging-structure cache entries. The driver
 * recycles ids with an IDA (lowest free id first) and must flush the id
 * (DSI / INVALIDATE_IOMMU_PAGES all / TLBI ASID) before it can be reused. The
 * fault frees the id at domain teardown without that flush: the next domain
 * to get the id inherits the dead domain's cached translations, so a device
 * attached to the new domain reaches pages the old IOAS mapped (and that were
 * since unpinned) at IOVAs the new domain never mapped.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('did-reuse-no-flush', profile, {
    machine: (m) =>
      hwUnits(m).forEach((hw) => {
        const free: number[] = [];
        let skipTag = -1;
        for (const cache of [hw.iotlb, hw.walkCache]) {
          if (cache === null) continue;
          patchOwn(cache, 'invalidateTag', (orig) => (tag: number) => {
            if (tag === skipTag) return; // THE FAULT: the id is released unflushed
            orig(tag);
          });
        }
        patchOwn(hw, 'forgetDomain', (orig) => (d) => {
          skipTag = d.tag;
          try {
            orig(d);
          } finally {
            skipTag = -1;
          }
          free.push(d.tag);
          free.sort((a, b) => a - b);
        });
        patchOwn(hw, 'createDomain', (orig) => (cfg) => {
          const d = orig(cfg);
          if (typeof d === 'number' || free.length === 0) return d;
          // ida_alloc: the lowest free id
          (d as { tag: number }).tag = free.shift() as number;
          return d;
        });
      }),
  });
}
