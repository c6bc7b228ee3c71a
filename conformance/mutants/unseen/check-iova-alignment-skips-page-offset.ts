/**
 * check-iova-alignment-skips-page-offset (drivers/iommu/iommufd/io_pagetable.c
 * iopt_check_iova_alignment, reached from iopt_table_add_domain (a device
 * attached to an IOAS, IOMMU_HWPT_ALLOC, MOCK_DOMAIN), from
 * iopt_calculate_iova_alignment when an access that pins pages joins the
 * IOAS (iopt_add_access) and when large pages are turned off
 * (IOMMU_OPTION HUGE_PAGES = 0, VFIO_SET_IOMMU(VFIO_TYPE1_IOMMU))).
 *
 * An IOAS with no domain and no pinning access has iova_alignment 1: a map
 * there may start anywhere in a user page. Each area remembers where its
 * first byte sits in its first page (area->page_offset). Before the IOAS
 * accepts a user that needs a larger alignment (a domain's smallest IO page,
 * PAGE_SIZE for a pinning access or with large pages off), every existing
 * area must already satisfy it, in IOVA, length and page offset alike,
 * because the domain maps each area from PFN_PHYS(pfn) + page_offset and
 * an access hands out whole struct pages:
 *
 *     for (area = iopt_area_iter_first(iopt, 0, ULONG_MAX); area;
 *          area = iopt_area_iter_next(area, 0, ULONG_MAX))
 *             if ((iopt_area_iova(area) & align_mask) ||
 *                 (iopt_area_length(area) & align_mask) ||
 *                 (area->page_offset & align_mask))
 *                     return -EADDRINUSE;
 *
 * The fault drops the page_offset term — the "iova alignment" check made to
 * look at the IOVA space only, on the grounds that iopt_insert_area already
 * refuses a page_offset the alignment does not allow:
 *
 *             if ((iopt_area_iova(area) & align_mask) ||
 *                 (iopt_area_length(area) & align_mask))
 *                     return -EADDRINUSE;
 *
 * but iopt_insert_area checked it against the alignment in force when the
 * area was made, which may have been 1.
 *
 * Why it takes several commands: an IOAS without a domain or pinning access
 * must first take a map whose user address is not aligned to the page
 * (IOMMU_IOAS_MAP / COPY of such a range at an aligned IOVA and length);
 * only a later command that raises the alignment goes wrong, on another
 * object: the access created on the IOAS, the device or HWPT attached to it,
 * the HUGE_PAGES option.
 *
 * Consequence for a user: IOMMU_TEST_OP_CREATE_ACCESS (a pinning access,
 * as every mdev driver is) and IOMMU_OPTION(HUGE_PAGES, 0) succeed where
 * they must fail with EADDRINUSE, and the IOAS now reports (IOVA_RANGES
 * out_iova_alignment) an alignment one of its areas breaks: the access's
 * pins of that area fail with EINVAL, and a later 4 KiB-page domain (VT-d,
 * AMD, SMMUv3), which asks for no larger alignment than the IOAS "already"
 * has, is not checked at all and fails to attach with the driver's map error
 * (the area's physical start is not page aligned). A domain attached
 * directly fails the same way (the driver's EINVAL / ENXIO) instead of with
 * EADDRINUSE: a user that retries on EADDRINUSE by unmapping the offending
 * areas gets an error it cannot act on.
 *
 * Applied as: on every IOAS's io_pagetable, just before each of the three
 * paths would run the check (the domain lookup that starts
 * iopt_table_add_domain, the access-list store of iopt_add_access, the
 * disable_large_pages store of iopt_disable_large_pages), the raised
 * alignment is committed when the areas pass the faulty check (so the
 * reference's own check is skipped); iopt_table_add_domain's error paths
 * keep the old alignment, as the kernel only commits it with the domain.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { PAGE_SIZE, type IoptAccess, type IoptDomain, type IommufdIoas, type IoPagetable } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

function minPgsize(bitmap: bigint): number {
  return Number(bitmap & -bitmap);
}

/** iopt_check_iova_alignment as the kernel has it: IOVA, length and page offset. */
function alignedAll(iopt: IoPagetable, alignment: number): boolean {
  const mask = BigInt(alignment - 1);
  return !iopt.areas.some((a) => a.start & mask || a.length & mask || BigInt(a.pageOffset) & mask);
}

/** THE FAULT: iopt_check_iova_alignment without the area->page_offset term. */
function alignedFaulty(iopt: IoPagetable, alignment: number): boolean {
  const mask = BigInt(alignment - 1);
  return !iopt.areas.some((a) => a.start & mask || a.length & mask);
}

/** iopt_calculate_iova_alignment's new value (before its check). */
function calculated(iopt: IoPagetable, disableLargePages: boolean): number {
  let align = disableLargePages ? PAGE_SIZE : 1;
  for (const d of iopt.domains) align = Math.max(align, minPgsize(d.pgsizeBitmap));
  for (const a of iopt.accessList.values()) align = Math.max(align, a.iovaAlignment);
  return align;
}

/**
 * Where the faulty check passes and the kernel's fails, the raise goes through:
 * commit it now, so the reference (which checks only a raise) checks nothing.
 */
function raiseIfFaultyPasses(iopt: IoPagetable, newAlignment: number): boolean {
  if (newAlignment <= iopt.iovaAlignment) return false;
  if (alignedAll(iopt, newAlignment) || !alignedFaulty(iopt, newAlignment)) return false;
  iopt.iovaAlignment = newAlignment;
  return true;
}

export function createAdapter(profile: Profile): Implementation {
  /** iopt_table_add_domain in progress with the raised alignment committed early: what to restore if it fails. */
  const pending = new Map<IoPagetable, { readonly old: number; readonly domain: IoptDomain }>();
  const restoreFailed = (): void => {
    const failed = [...pending];
    pending.clear();
    for (const [iopt, p] of failed) if (!Array.prototype.includes.call(iopt.domains, p.domain)) iopt.iovaAlignment = p.old;
  };
  const installed = new WeakSet<IoPagetable>();

  const install = (iopt: IoPagetable): void => {
    if (installed.has(iopt)) return;
    installed.add(iopt);
    const domains = iopt.domains;
    const includes = domains.includes.bind(domains);
    // iopt_table_add_domain starts with the duplicate test; only it asks the table whether it holds a domain.
    patchOwn(domains, 'includes', () => (domain: IoptDomain): boolean => {
      if (includes(domain)) return true;
      restoreFailed();
      const newAlignment = Math.max(minPgsize(domain.pgsizeBitmap), iopt.iovaAlignment);
      if (newAlignment > PAGE_SIZE) return false;
      const old = iopt.iovaAlignment;
      if (raiseIfFaultyPasses(iopt, newAlignment)) pending.set(iopt, { old, domain });
      return false;
    });
    patchOwn(domains, 'push', (push) => (...added: IoptDomain[]) => {
      pending.delete(iopt); // the domain made it in: its alignment stays
      return push(...added);
    });
    // iopt_add_access: xa_alloc, then iopt_calculate_iova_alignment.
    patchOwn(iopt.accessList, 'set', (set) => (id: number, access: IoptAccess) => {
      const r = set(id, access);
      raiseIfFaultyPasses(iopt, calculated(iopt, iopt.disableLargePages));
      return r;
    });
    // iopt_disable_large_pages: WRITE_ONCE(disable_large_pages, true), then iopt_calculate_iova_alignment.
    let disable = iopt.disableLargePages;
    Object.defineProperty(iopt, 'disableLargePages', {
      configurable: true,
      enumerable: true,
      get: () => disable,
      set: (v: boolean) => {
        const turningOff = v && !disable;
        disable = v;
        if (turningOff) raiseIfFaultyPasses(iopt, calculated(iopt, true));
      },
    });
  };

  return mutantImplementation('check-iova-alignment-skips-page-offset', profile, {
    object: (obj) => {
      if (obj?.type !== 'IOAS') return;
      install((obj as IommufdIoas).iopt);
    },
    request: (req, next) => {
      try {
        return next(req);
      } finally {
        restoreFailed();
      }
    },
  });
}
