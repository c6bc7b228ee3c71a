/**
 * add-domain-aperture-start-inclusive (drivers/iommu/iommufd/io_pagetable.c
 * iopt_table_add_domain; 6.12 and 7.3 alike).
 *
 * A domain joining an IOAS makes the IOVA space outside its aperture
 * reserved, so no area can exist or be made there:
 *
 *     (comment: No area exists that is outside the allowed domain aperture)
 *     if (geometry->aperture_start != 0) {
 *             rc = iopt_reserve_iova(iopt, 0, geometry->aperture_start - 1,
 *                                    domain);
 *             if (rc)
 *                     goto out_reserved;
 *     }
 *     if (geometry->aperture_end != ULONG_MAX) {
 *             rc = iopt_reserve_iova(iopt, geometry->aperture_end + 1,
 *                                    ULONG_MAX, domain);
 *             ...
 *
 * THE FAULT: the low reservation is written with the aperture's own first
 * IOVA as its inclusive last (`iopt_reserve_iova(iopt, 0,
 * geometry->aperture_start, domain)`), one byte too many. The first byte
 * of the aperture becomes reserved too.
 *
 * What a user sees (only a domain whose aperture does not start at 0 — the
 * selftest mock domain, MOCK_APERTURE_START): attaching it to an IOAS that
 * holds an area (or an allowed range) starting exactly at aperture_start
 * fails with EADDRINUSE instead of succeeding; after the attach,
 * IOMMU_IOAS_IOVA_RANGES reports the first usable range starting at
 * aperture_start + 1 (not aperture_start), and IOMMU_IOAS_MAP with
 * FIXED_IOVA at aperture_start answers EINVAL where the kernel maps it.
 *
 * Applied as: while a paging domain is being added to an IOAS (from
 * iopt_table_add_domain's first step until it is stored in iopt->domains),
 * its apertureStart reads one more when nonzero, which is what the faulty
 * reservation uses; everywhere else (the domain's own map range checks,
 * translation) it is the true value.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IoptDomain } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';
import { watchDomainAdds } from './_domain_add.ts';

export function createAdapter(profile: Profile): Implementation {
  const { adding, object } = watchDomainAdds(() => true);
  return mutantImplementation('add-domain-aperture-start-inclusive', profile, {
    object,
    domain: (d) => {
      const proto = Object.getPrototypeOf(d) as object;
      let desc: PropertyDescriptor | undefined;
      for (let p: object | null = proto; p && !desc; p = Object.getPrototypeOf(p) as object | null) desc = Object.getOwnPropertyDescriptor(p, 'apertureStart');
      const read = (): bigint => (desc?.get ? (desc.get.call(d) as bigint) : (desc?.value as bigint));
      Object.defineProperty(d, 'apertureStart', {
        configurable: true,
        enumerable: false,
        get: () => {
          const start = read();
          // THE FAULT: iopt_reserve_iova(iopt, 0, geometry->aperture_start, domain)
          return adding.has(d as unknown as IoptDomain) && start !== 0n ? start + 1n : start;
        },
      });
    },
    request: (req, next) => {
      try {
        return next(req);
      } finally {
        adding.clear(); // an add that failed before its domain was stored
      }
    },
  });
}
