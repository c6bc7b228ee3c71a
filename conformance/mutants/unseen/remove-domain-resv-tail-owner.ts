/**
 * remove-domain-resv-tail-owner (drivers/iommu/iommufd/io_pagetable.c
 * iopt_table_remove_domain).
 *
 * When a paging domain leaves an IOAS (its HWPT is destroyed), the domains
 * xarray is kept dense by moving the tail entry into the freed slot, the
 * areas are unmapped from the domain, and the IOVA ranges the domain
 * reserved when it joined (everything outside its aperture, owner = the
 * domain) are released:
 *
 *     xa_for_each(&iopt->domains, index, iter_domain)
 *             if (iter_domain == domain)
 *                     break;
 *     ...
 *     iopt->next_domain_id--;
 *     iter_domain = xa_erase(&iopt->domains, iopt->next_domain_id);
 *     if (index != iopt->next_domain_id)
 *             xa_store(&iopt->domains, index, iter_domain, GFP_KERNEL);
 *
 *     iopt_unfill_domain(iopt, domain);
 *     __iopt_remove_reserved_iova(iopt, domain);
 *
 * The fault releases the reservations by `iter_domain` — which until the
 * compaction was the domain being removed, and after it is the tail domain
 * that was moved into the slot:
 *
 *     __iopt_remove_reserved_iova(iopt, iter_domain);
 *
 * With one domain, or when the removed domain is the tail, the two are the
 * same and nothing changes. With two or more domains in the IOAS, removing
 * any but the last-added one drops the aperture reservations of a domain
 * that stays attached, and leaves behind those of the domain that was freed
 * (owned by a dangling pointer: nothing will ever remove them; they go only
 * with the IOAS).
 *
 * Consequence for a user: the IOAS no longer keeps its IOVA allocations
 * inside the aperture of a domain still in use (IOMMU_IOAS_IOVA_RANGES
 * reports space that domain cannot translate; maps there are refused by the
 * domain instead of the IOAS, automatic IOVAs can land there and fail), and
 * the freed domain's out-of-aperture ranges stay reserved for good — after
 * every device is gone, fixed maps there fail with EINVAL, ALLOW_IOVAS over
 * them with EADDRINUSE, and IOVA_RANGES keeps reporting the holes.
 *
 * Applied as: on every IOAS's io_pagetable, the lookup that starts
 * iopt_table_remove_domain compacts as the xarray does (the tail moves into
 * the removed domain's slot), and the reservation release that follows
 * removes the tail domain's ranges instead of the removed domain's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IoptDomain, IommufdIoas, IoPagetable, ReservedRange } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

function install(iopt: IoPagetable): void {
  /** Set between the domain lookup of iopt_table_remove_domain and its reservation release: iter_domain. */
  let pendingOwner: IoptDomain | null = null;
  let reserved = iopt.reserved;
  Object.defineProperty(iopt, 'reserved', {
    configurable: true,
    enumerable: true,
    get: () => reserved,
    set: (next: ReservedRange[]) => {
      if (pendingOwner !== null) {
        const owner = pendingOwner;
        pendingOwner = null;
        // THE FAULT: __iopt_remove_reserved_iova(iopt, iter_domain) — the tail domain's ranges go, not the removed one's.
        reserved = reserved.filter((r) => r.owner !== owner);
        return;
      }
      reserved = next;
    },
  });
  const domains = iopt.domains;
  const indexOf = domains.indexOf.bind(domains);
  Object.defineProperty(domains, 'indexOf', {
    configurable: true,
    enumerable: false,
    writable: true,
    // Only iopt_table_remove_domain looks a domain up by index.
    value: (domain: IoptDomain): number => {
      const index = indexOf(domain);
      if (index < 0) return index;
      // Compress the xarray: the tail entry moves into the slot of the domain being removed.
      const tailIndex = domains.length - 1;
      const tail = domains[tailIndex]!;
      domains[tailIndex] = domain;
      domains[index] = tail;
      pendingOwner = tail;
      return tailIndex;
    },
  });
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('remove-domain-resv-tail-owner', profile, {
    object: (obj) => {
      if (obj?.type !== 'IOAS') return;
      install((obj as IommufdIoas).iopt);
    },
  });
}
