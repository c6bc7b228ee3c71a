/**
 * Round 5b fault (drivers/iommu/iommufd/io_pagetable.c
 * iopt_table_add_domain, its error labels).
 *
 * iopt_table_add_domain reserves the IOVA space outside the new domain's
 * aperture ([0, aperture_start) and (aperture_end, ULONG_MAX]) with the
 * domain as owner before it fills the domain; every failure after that
 * point (the second reservation meeting an area or allowed range, the
 * xa_reserve, iopt_fill_domain) must go through out_reserved
 * (__iopt_remove_reserved_iova(iopt, domain)). The fault jumps straight to
 * out_unlock instead: the attach / HWPT_ALLOC / MOCK_DOMAIN fails and its
 * domain is freed, but its aperture reservations stay in the IOAS with a
 * dangling owner that nothing will ever remove. IOMMU_IOAS_IOVA_RANGES
 * reports the holes of a domain the IOAS never had, fixed maps there fail
 * EINVAL, automatic IOVAs avoid them, and ALLOW_IOVAS over them fails
 * EADDRINUSE, for the life of the IOAS.
 *
 * Applied around each request: a reserved range made during the request for
 * a domain that did not make it into the IOAS's domain list, and removed
 * again before the request returned, is put back.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdIoas, IoPagetable, IoptDomain, ReservedRange } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  /** Reservations made for a domain during the current request. */
  const made: [IoPagetable, ReservedRange][] = [];
  const added = new WeakSet<object>();
  const domains = new WeakSet<object>();
  return mutantImplementation('add-domain-unwind-keeps-resv', profile, {
    object: (obj) => {
      if (obj?.type !== 'IOAS') return;
      const ioas = obj as IommufdIoas;
      const iopt = ioas.iopt;
      patchOwn(iopt.domains, 'push', (push) => (...d: IoptDomain[]) => {
        d.forEach((x) => added.add(x));
        return push(...d);
      });
      // iopt_reserve_iova pushes onto iopt->reserved (which iopt_remove_reserved_iova replaces): note a domain's.
      const watch = (list: ReservedRange[]): ReservedRange[] => {
        patchOwn(list, 'push', (push) => (...r: ReservedRange[]) => {
          for (const x of r) if (domains.has(x.owner as object)) made.push([iopt, x]);
          return push(...r);
        });
        return list;
      };
      let reserved = watch(iopt.reserved);
      Object.defineProperty(iopt, 'reserved', {
        get: () => reserved,
        set: (v: ReservedRange[]) => void (reserved = watch(v)),
        configurable: true,
        enumerable: true,
      });
    },
    domain: (d) => {
      domains.add(d);
    },
    request: (req, next) => {
      made.length = 0;
      const res = next(req);
      // THE FAULT: out_reserved skipped: a failed add keeps its domain's aperture reservations.
      for (const [iopt, r] of made) if (!added.has(r.owner as object) && !iopt.reserved.includes(r)) iopt.reserved.push(r);
      made.length = 0;
      return res;
    },
  });
}
