/**
 * reserve-iova-allowed-point-query (drivers/iommu/iommufd/io_pagetable.c
 * iopt_reserve_iova, reached from iopt_table_add_domain (the space outside a
 * new domain's aperture), iopt_table_enforce_dev_resv_regions (a device's
 * reserved regions at attach) and IOMMU_TEST_OP_ADD_RESERVED).
 *
 * A reservation must not cover an area nor any IOVA userspace was promised by
 * IOMMU_IOAS_ALLOW_IOVAS ("If this call succeeds then IOMMU_IOAS_IOVA_RANGES
 * will never return a list of IOVA ranges that are narrower than the ranges
 * provided here ... device attachment can fail if the device requires
 * limiting within the allowed range"):
 *
 *     if (iopt_area_iter_first(iopt, start, last) ||
 *         iopt_allowed_iter_first(iopt, start, last))
 *             return -EADDRINUSE;
 *
 * The fault queries the allowed tree at one IOVA instead of over the range,
 * a copy-paste of the point lookups iopt_cut_iova makes
 * (`iopt_area_iter_first(iopt, iovas[i], iovas[i])`):
 *
 *             iopt_allowed_iter_first(iopt, start, start))
 *
 * A reservation that begins outside every allowed range but runs into one is
 * accepted. The other direction is intact — iopt_set_allow_iova still refuses
 * allowed ranges that touch an existing reservation — so the answer depends
 * on the order of two commands on two objects: ALLOW_IOVAS then attach is
 * accepted where attach then ALLOW_IOVAS is refused.
 *
 * Consequence: an IOAS whose allowed ranges lie above a domain's aperture
 * (allowed 2^50.. and a 48-bit VT-d unit), or start inside a device's MSI
 * window, or inside a test reservation, takes the domain / device / test
 * range anyway: the attach succeeds, IOMMU_IOAS_IOVA_RANGES then reports
 * ranges narrower than the allowed ones (the allowed IOVAs are reserved:
 * FIXED maps there fail EINVAL, automatic allocation in the allowed range
 * finds nothing, ENOSPC), and repeating the same ALLOW_IOVAS now fails
 * EADDRINUSE. Userspace that set its allowed window to keep a guaranteed IOVA
 * space (a VMM's guest RAM layout) loses it silently.
 *
 * Applied to every IOAS a context publishes: its allowed-range list (as
 * iopt_set_allow_iova installs it, swap and all) answers the lookup
 * iopt_reserve_iova makes (allowedIterFirst, the list's only `find`) at the
 * reservation's first IOVA only; the first IOVA is recovered from the
 * lookup's own range test (the smallest `last` of a range [0, last] it
 * accepts).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { ULONG_MAX, type IommufdIoas, type IoPagetable, type Range } from '../../../impl/iommufd/iommufd_private.ts';

type Intersects = (r: Range) => boolean;

/** The `start` of the range test `r.start <= last && r.last >= start` (the smallest Y it accepts for [0, Y]). */
function queryStart(test: Intersects): bigint | undefined {
  if (!test({ start: 0n, last: ULONG_MAX })) return undefined;
  let lo = 0n;
  let hi = ULONG_MAX;
  while (lo < hi) {
    const mid = (lo + hi) >> 1n;
    if (test({ start: 0n, last: mid })) hi = mid;
    else lo = mid + 1n;
  }
  return lo;
}

/** An allowed-range list whose interval lookup is THE FAULT's point query. */
function withPointQuery(list: Range[]): Range[] {
  const find = list.find.bind(list);
  Object.defineProperty(list, 'find', {
    configurable: true,
    enumerable: false,
    writable: true,
    value: (test: Intersects): Range | undefined => {
      // iopt_allowed_iter_first(iopt, start, start)
      const start = queryStart(test);
      if (start === undefined) return undefined;
      return find((r) => r.start <= start && r.last >= start);
    },
  });
  return list;
}

function patchIopt(iopt: IoPagetable): void {
  let allowed = withPointQuery(iopt.allowed);
  Object.defineProperty(iopt, 'allowed', {
    configurable: true,
    enumerable: true,
    get: () => allowed,
    set: (v: Range[]) => {
      allowed = withPointQuery(v);
    },
  });
}

export function createAdapter(profile: Profile): Implementation {
  const patched = new WeakSet<IoPagetable>();
  return mutantImplementation('reserve-iova-allowed-point-query', profile, {
    object: (obj) => {
      if (obj?.type !== 'IOAS') return;
      const iopt = (obj as IommufdIoas).iopt;
      if (patched.has(iopt)) return;
      patched.add(iopt);
      patchIopt(iopt);
    },
  });
}
