/**
 * amd-detach-unref-before-flush (drivers/iommu/amd/iommu.c detach_device,
 * pdom_detach_iommu, amd_iommu_domain_flush_all / domain_flush_pages_v1).
 *
 * An AMD protection domain sends its invalidations only to the IOMMUs it is
 * attached to: amd_iommu_domain_flush_pages() walks pdom->iommu_array, whose
 * entries pdom_attach_iommu()/pdom_detach_iommu() reference-count per
 * device. When a device leaves a domain (a replace, or the blocked domain
 * on detach), detach_device() clears the DTE and then flushes everything the
 * domain may have left in that IOMMU's IOTLB and page-directory cache:
 *
 *     dev_update_dte(dev_data, false);
 *     spin_lock_irqsave(&domain->lock, flags);
 *     amd_iommu_domain_flush_all(domain);
 *     list_del(&dev_data->list);
 *     spin_unlock_irqrestore(&domain->lock, flags);
 *     ...
 *     dev_data->domain = NULL;
 *     // decrease reference counters - needs to happen after the flushes
 *     pdom_detach_iommu(iommu, domain);
 *
 * The fault moves pdom_detach_iommu() up, next to the list_del() (a "tidy
 * the data structures first" cleanup of the unlock path): when the leaving
 * device was the domain's last one on that IOMMU, its pdom_iommu_info is
 * already erased from iommu_array when amd_iommu_domain_flush_all() runs,
 * so the flush finds no IOMMU and sends nothing. With another device of the
 * domain still on the IOMMU the count stays above zero and the flush goes
 * out as before.
 *
 * Consequence: translations the device used stay cached under the domain's
 * domid after the domain has no device left. Nothing flushes them later:
 * unmaps of a detached domain issue no command (its iommu_array is empty),
 * and amd_iommu_domain_free() frees the page table and the domid without a
 * flush (the detach flushes were supposed to have done it). So
 *   - a device attached back to the same HWPT after the IOAS unmapped (and
 *     unpinned, possibly re-mapped elsewhere) an IOVA it had used reads and
 *     writes the old, freed pages through the stale IOTLB entry;
 *   - once the HWPT is destroyed, the next AMD domain allocated gets the
 *     same domid (ida_alloc_range, lowest free) and its devices hit the dead
 *     domain's entries: DMA lands in another IOAS's (another context's)
 *     memory.
 *
 * Applied as: on the AMD unit the hardware tag (domid) is allocated at
 * domain allocation (lowest free, as pdom_id_alloc) and released at domain
 * free without a flush (amd_iommu_domain_free); per domain the devices on
 * the unit are counted (pdom_attach_iommu/pdom_detach_iommu); a domain with
 * none gets no invalidation; and a device leaving a domain flushes it only
 * if the domain still has a device there after the decrement (the fault).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { HwDomain, HwIommu } from '../../../impl/platform/hw.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

/** The parts of the hardware model's private state a domain free touches. */
interface InstancePrivate {
  devices: Map<number, { domain: HwDomain }>;
  domains: Set<HwDomain>;
  lastKey: number;
}

/** Per AMD unit: domids in use, and the devices each domain has on the unit. */
interface AmdState {
  readonly ids: Map<HwDomain, number>;
  readonly refcnt: Map<HwDomain, number>;
  readonly ctxOf: Map<number, HwDomain>;
}

const states = new WeakMap<HwIommu, AmdState>();

function stateOf(hw: HwIommu): AmdState {
  let s = states.get(hw);
  if (!s) {
    s = { ids: new Map(), refcnt: new Map(), ctxOf: new Map() };
    states.set(hw, s);
  }
  return s;
}

function setTag(d: HwDomain, tag: number): void {
  (d as unknown as { tag: number }).tag = tag;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amd-detach-unref-before-flush', profile, {
    machine: (m) => {
      const hw = hwUnits(m).find((h) => h.vendor === 'amd');
      if (!hw) return;
      const st = stateOf(hw);

      // pdom_attach_iommu / detach_device on the unit, per device context.
      patchOwn(hw, 'attach', (attach) => (sid: number, domain: HwDomain | null, pasid = 0) => {
        const key = sid * 1048576 + pasid;
        const prev = st.ctxOf.get(key);
        const rc = attach(sid, domain, pasid);
        if (domain !== null) {
          st.ctxOf.set(key, domain);
          if (prev !== domain) st.refcnt.set(domain, (st.refcnt.get(domain) ?? 0) + 1);
        } else {
          st.ctxOf.delete(key);
        }
        if (prev !== undefined && prev !== domain) {
          // detach_device(prev): THE FAULT — pdom_detach_iommu() before amd_iommu_domain_flush_all().
          const n = (st.refcnt.get(prev) ?? 1) - 1;
          st.refcnt.set(prev, n);
          // domain_flush_pages_v1 walks pdom->iommu_array: the unit is still in it only if n > 0.
          if (n > 0) hw.amdInvalidatePages(prev.tag, 0, 1, 1, true);
        }
        return rc;
      });

      // domain_flush_pages_v1: no IOMMU in pdom->iommu_array, no command.
      patchOwn(hw, 'flushGather', (flush) => (d, g) => {
        if (st.ids.has(d) && (st.refcnt.get(d) ?? 0) === 0) return;
        flush(d, g);
      });

      // amd_iommu_domain_free: pt_iommu_deinit + pdom_id_free, no flush.
      patchOwn(hw, 'forgetDomain', (forget) => (d: HwDomain) => {
        if (!st.ids.has(d)) {
          forget(d);
          return;
        }
        const priv = hw as unknown as InstancePrivate;
        for (const [k, ctx] of priv.devices) if (ctx.domain === d) priv.devices.delete(k);
        for (const [k, dom] of st.ctxOf) if (dom === d) st.ctxOf.delete(k);
        priv.lastKey = -1;
        priv.domains.delete(d);
        st.ids.delete(d);
        st.refcnt.delete(d);
      });
    },
    // protection_domain_alloc: pdom_id_alloc() hands out the lowest free domid.
    domain: (d) => {
      const hd = d.hw;
      if (!hd || d.owner.name !== 'amd') return;
      const st = stateOf(hd.inst);
      const used = new Set(st.ids.values());
      let id = 1;
      while (used.has(id)) id++;
      st.ids.set(hd, id);
      setTag(hd, id);
    },
  });
}
