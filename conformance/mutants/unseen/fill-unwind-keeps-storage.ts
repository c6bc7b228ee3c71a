/**
 * Round 5b fault (drivers/iommu/iommufd/io_pagetable.c
 * iopt_fill_domain, its out_unfill path).
 *
 * When the first domain of an IOAS is filled, every area gets it as its
 * storage_domain and its pages_node goes into pages->domains_itree; that is
 * what keeps the area's pages pinned. If a later area fails (its pin faults,
 * RLIMIT_MEMLOCK refuses the charge, an allocation fails), out_unfill walks
 * the areas already done and, for the first domain, must take each one out
 * again (interval_tree_remove(&area->pages_node, &pages->domains_itree);
 * area->storage_domain = NULL) before iopt_area_unfill_domain(). The fault
 * drops that block: the unfill sees the area's own span as still used and
 * unmaps without unpinning. The attach (or HWPT_ALLOC / MOCK_DOMAIN) fails
 * and no domain is left in the IOAS, but the areas before the failing one
 * stay pinned and charged (pin_count, pinned_vm, locked_vm) with a dangling
 * storage_domain, until the area is unmapped.
 *
 * Applied through the domain's unmap: a whole-area unmap from a domain that
 * never made it into the IOAS, of an area already filled for it, is the
 * out_unfill of a failed first fill; the area gets one more hold there (so
 * the unfill's release leaves it pinned) and is marked filled again once the
 * ioctl returns. (The kernel's state after a later successful fill of the
 * same IOAS is a corrupted interval tree; the model drops the extra hold
 * then.)
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdIoas, IoptArea, IoptDomain } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptPagesHold, ioptPagesRelease } from '../../../impl/iommufd/pages.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  const ioases = new Set<IommufdIoas>();
  const added = new WeakSet<object>();
  /** Areas whose out_unfill left them pinned: the IOAS they are in. */
  const leaked = new Map<IoptArea, IommufdIoas>();
  return mutantImplementation('fill-unwind-keeps-storage', profile, {
    object: (obj) => {
      if (obj?.type !== 'IOAS') return;
      const ioas = obj as IommufdIoas;
      ioases.add(ioas);
      // iopt_table_add_domain publishes a domain only once it is filled.
      patchOwn(ioas.iopt.domains, 'push', (push) => (...d: IoptDomain[]) => {
        d.forEach((x) => added.add(x));
        return push(...d);
      });
    },
    domain: (dom) => {
      patchOwn(dom, 'unmap', (unmap) => (iova: bigint, size: number) => {
        if (!added.has(dom)) {
          for (const ioas of ioases) {
            const iopt = ioas.iopt;
            if (iopt.domains.length !== 0) continue;
            const area = iopt.areas.find((a) => a.start === iova && a.length === BigInt(size) && a.filled && a.pages && !leaked.has(a));
            if (!area) continue;
            // THE FAULT: the area stays in domains_itree with its storage_domain: the unfill keeps its pins.
            const held = ioptPagesHold(area.pages!, area.firstIndex, area.lastIndex);
            if (held.errno === 0) leaked.set(area, ioas);
            break;
          }
        }
        return unmap(iova, size);
      });
    },
    request: (req, next) => {
      const res = next(req);
      for (const [area, ioas] of leaked) {
        if (!area.pages || !ioas.iopt.areas.includes(area)) {
          leaked.delete(area); // unmapped: the unfill released the leaked pins
        } else if (ioas.iopt.domains.length === 0) {
          area.filled = true; // storage_domain still set
        } else {
          // A later first fill took its own hold; the model drops the leaked one here.
          if (area.filled) ioptPagesRelease(area.pages, area.firstIndex, area.lastIndex);
          leaked.delete(area);
        }
      }
      return res;
    },
  });
}
