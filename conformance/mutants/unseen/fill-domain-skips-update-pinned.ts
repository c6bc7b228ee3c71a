/**
 * fill-domain-skips-update-pinned (drivers/iommu/iommufd/pages.c
 * iopt_area_fill_domain).
 *
 * When the first domain is attached to an IOAS that already has mappings
 * (iopt_table_add_domain → iopt_fill_domain → iopt_area_fill_domain), the
 * area's pages are pinned there for the first time: until then a MAP without
 * a domain is only a lazy reference. The pfn reader pins batch by batch and
 * charges the new pins once they are in the domain ("Changes in the number
 * of pages pinned is done after the pages have been read and processed"):
 *
 *     while (!pfn_reader_done(&pfns)) {
 *             ...
 *             rc = batch_to_domain(&pfns.batch, domain, area,
 *                                  pfns.batch_start_index);
 *             ...
 *             rc = pfn_reader_next(&pfns);
 *             ...
 *     }
 *
 *     rc = pfn_reader_update_pinned(&pfns);
 *     if (rc)
 *             goto out_unmap;
 *     goto out_destroy;
 *
 * pfn_reader_update_pinned → do_update_pinned is what checks RLIMIT_MEMLOCK
 * (incr_user_locked_vm / __account_locked_vm, -ENOMEM over the limit), adds
 * the pages to user->locked_vm or mm->locked_vm and to mm->pinned_vm, and
 * sets pages->last_npinned.
 *
 * THE FAULT: iopt_area_fill_domain loses the pfn_reader_update_pinned() call
 * (iopt_area_fill_domains, the MAP-time path, keeps its own). The pins are
 * taken but never charged: npinned runs ahead of last_npinned, which only
 * WARN_ON(pages->last_npinned != pages->npinned) in pfn_reader_destroy tells
 * (a log line). The delta is computed lazily, so the charge is made up only
 * if the same iopt_pages is charged again later (an access pinning more of
 * it); unpinning never gives back what was never charged, so the books
 * balance at the end — the memory was simply pinned without limit meanwhile.
 *
 * Consequence for a user: map any amount of memory into an IOAS that has no
 * domain (nothing is pinned yet), then attach a device (or allocate a HWPT)
 * on it: everything is pinned and none of it is charged. RLIMIT_MEMLOCK is
 * bypassed (the attach succeeds where the kernel fails it with ENOMEM), the
 * per-user locked_vm a later map is checked against is missing those pages,
 * and VmPin (mm->pinned_vm; VmLck under MM accounting) understates what is
 * pinned for as long as the device stays attached.
 *
 * Applied as: around every request that can give an IOAS its first domain
 * (IOMMU_HWPT_ALLOC, the selftest's MOCK_DOMAIN / MOCK_DOMAIN_FLAGS /
 * MOCK_DOMAIN_REPLACE, and the VFIO device ioctls: ATTACH/REPLACE), the
 * charge iopt_area_fill_domain made is not made: RLIMIT_MEMLOCK does not
 * refuse it, and afterwards each iopt_pages' last_npinned and the process's
 * counters are put back where they were (net increases only: an old HWPT
 * released in the same request uncharges as the kernel does).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import {
  IOMMU_TEST_OP_MOCK_DOMAIN,
  IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS,
  IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
} from '../../../spec/uapi/constants.ts';
import type { IommufdCtx, IommufdIoas, IoptPages } from '../../../impl/iommufd/iommufd_private.ts';
import type { Process } from '../../../impl/process/process.ts';

const ATTACH_TEST_OPS = new Set<number>([IOMMU_TEST_OP_MOCK_DOMAIN, IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS, IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE]);

export function createAdapter(profile: Profile): Implementation {
  /** The iommufd contexts of the current process (a reset makes a new process). */
  let contexts = new Set<IommufdCtx>();
  /** Inside a request that fills a first domain: do_update_pinned is not reached. */
  let filling = 0;

  const allPages = (): Set<IoptPages> => {
    const out = new Set<IoptPages>();
    for (const ctx of contexts) {
      for (const [, obj] of ctx.objects.entries()) {
        if (obj.type !== 'IOAS') continue;
        for (const area of (obj as IommufdIoas).iopt.areas) if (area.pages) out.add(area.pages);
      }
    }
    return out;
  };

  /** Run `fn` as the faulty kernel would: iopt_area_fill_domain's pins stay uncharged. */
  const withoutFillCharge = (fn: () => number): number => {
    const before = new Map<IoptPages, number>();
    for (const p of allPages()) before.set(p, p.lastNpinned);
    filling++;
    let rc: number;
    try {
      rc = fn();
    } finally {
      filling--;
    }
    for (const [pages, last] of before) {
      const charged = pages.lastNpinned - last;
      if (charged <= 0) continue;
      // THE FAULT: pfn_reader_update_pinned() was never called for these pins.
      pages.lastNpinned = last;
      const proc = pages.proc;
      proc.pinnedVm -= charged;
      if (pages.accountMode === 'USER') proc.user.lockedVm -= charged;
      else if (pages.accountMode === 'MM') proc.lockedVm -= charged;
    }
    return rc;
  };

  return mutantImplementation('fill-domain-skips-update-pinned', profile, {
    process: (proc: Process) => {
      contexts = new Set();
      // incr_user_locked_vm / __account_locked_vm are not reached from the fill: no RLIMIT_MEMLOCK check.
      patchOwn(proc, 'rlimitMemlockPages', (orig) => () => (filling ? Infinity : orig()));
    },
    ctx: (ctx) => {
      contexts.add(ctx);
    },
    handlers: {
      IOMMU_HWPT_ALLOC: (ucmd, original) => withoutFillCharge(() => original(ucmd)),
      IOMMU_TEST_CMD: (ucmd, original) => (ATTACH_TEST_OPS.has(ucmd.cmd.num('op')) ? withoutFillCharge(() => original(ucmd)) : original(ucmd)),
    },
    vfioIoctl: (_df, _cmd, _arg, original) => withoutFillCharge(original),
  });
}
