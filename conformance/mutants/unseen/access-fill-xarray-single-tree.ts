/**
 * access-fill-xarray-single-tree (drivers/iommu/iommufd/pages.c
 * iopt_pages_fill_xarray, reached from iopt_area_add_access for a new access
 * range: IOMMU_TEST_OP_ACCESS_PAGES → iommufd_access_pin_pages).
 *
 * An iopt_pages is pinned once, whoever needs it: a new access range walks
 * both holders' interval trees and takes the pages another access already
 * holds from the xarray, the pages a domain already holds from the domain,
 * and pins from user memory only the holes:
 *     interval_tree_for_each_double_span(&span, &pages->access_itree,
 *                                        &pages->domains_itree,
 *                                        start_index, last_index) {
 *             if (span.is_used == 1) { iopt_pages_fill_from_xarray(...); continue; }
 *             if (span.is_used == 2) { iopt_pages_fill_from_domain(...); ...; continue; }
 *             rc = pfn_reader_user_pin(&user, pages, span.start_hole, span.last_hole);
 *             ...
 *     }
 *     rc = pfn_reader_user_update_pinned(&user, pages);
 * The fault passes the access tree twice (`&pages->access_itree,
 * &pages->access_itree`, a copy-paste slip): the span a domain holds is seen
 * as a hole and pinned from user memory a second time (npinned and the
 * RLIMIT_MEMLOCK / pinned_vm charge grow with it). Every path that undoes it
 * walks the right trees: iopt_pages_unfill_xarray clears a domain-held span
 * from the xarray without unpinning, and __iopt_area_unfill_domain skips the
 * pages an access holds, so one pin per page — and its charge — is never
 * given back.
 *
 * Consequence: only when an IOAS has a domain (a HWPT: a mock domain, a
 * device attached) *before* an access pins a new range of its pages, those
 * pages show two pins, and after the access item, the HWPT, the IOAS and
 * every file are gone one pin per page stays, with mm->pinned_vm (and the
 * user's or mm's locked_vm) still charged for it: memory the process can
 * never unpin and, under a memlock limit, a budget that shrinks each time.
 * An access that pins first, or an IOAS without domains, is unaffected.
 *
 * Applied as: after the reference pins a new access range, the indices of
 * that range the domains alone held are pinned once more from user memory
 * and charged (with the kernel's outcome when that pin or charge fails:
 * the whole ACCESS_PAGES fails, EFAULT / ENOMEM, and is undone).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EFAULT, ENOMEM } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES, MOCK_FLAGS_ACCESS_SYZ } from '../../../spec/uapi/constants.ts';
import { ioptAreaContig, ioptAreaIovaToIndex } from '../../../impl/iommufd/io_pagetable.ts';
import { iommufdAccessUnpinPages } from '../../../impl/iommufd/access.ts';
import { PAGE_SIZE, ULONG_MAX, type IoptPages, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { SelftestAccess, syzConvIova } from '../../../impl/iommufd/selftest.ts';
import { mutantImplementation } from '../harness.ts';

const P = BigInt(PAGE_SIZE);

interface Repin {
  readonly pages: IoptPages;
  readonly indices: number[];
}

/** do_update_pinned for an increase (the reference's, which pages.ts keeps private). */
function charge(pages: IoptPages): number {
  const npages = pages.npinned - pages.lastNpinned;
  if (npages <= 0) return 0;
  const proc = pages.proc;
  if (pages.accountMode === 'USER') {
    if (proc.user.lockedVm + npages > proc.rlimitMemlockPages()) return -ENOMEM;
    proc.user.lockedVm += npages;
  } else if (pages.accountMode === 'MM') {
    if (proc.lockedVm + npages > proc.rlimitMemlockPages()) return -ENOMEM;
    proc.lockedVm += npages;
  }
  pages.lastNpinned = pages.npinned;
  proc.pinnedVm += npages;
  return 0;
}

/** update_unpinned (the reference's, private to pages.ts). */
function uncharge(pages: IoptPages): void {
  const npages = pages.lastNpinned - pages.npinned;
  if (npages <= 0) return;
  const proc = pages.proc;
  if (pages.accountMode === 'USER') proc.user.lockedVm -= Math.min(npages, proc.user.lockedVm);
  else if (pages.accountMode === 'MM') proc.lockedVm -= Math.min(npages, proc.lockedVm);
  pages.lastNpinned = pages.npinned;
  proc.pinnedVm -= npages;
}

function faultyAccessPages(ucmd: Ucmd, original: (u: Ucmd) => number): number {
  const { cmd, ctx } = ucmd;
  const file = ctx.proc.fds.lookup(cmd.num('id'));
  const staccess = file?.kind === 'selftest-access' && file.private_data instanceof SelftestAccess ? file.private_data : undefined;
  const access = staccess?.access;
  const ioas = access?.ioas;
  if (!staccess || !access || !ioas || !staccess.needsPin) return original(ucmd);
  const flags = cmd.num('access_pages.flags');
  let iova = cmd.big('access_pages.iova');
  const length = cmd.big('access_pages.length');
  if (flags & MOCK_FLAGS_ACCESS_SYZ) iova = syzConvIova(access, iova);
  if (!length || iova + length - 1n > ULONG_MAX) return original(ucmd);
  const last = iova + length - 1n;

  // What iopt_pages_fill_xarray will see as the domains' span of each new access range.
  const repins: Repin[] = [];
  for (const { area, cur } of ioptAreaContig(ioas.iopt, iova, last).pieces) {
    const pages = area.pages!;
    const first = ioptAreaIovaToIndex(area, cur);
    const lastIndex = ioptAreaIovaToIndex(area, last < area.last ? last : area.last);
    if (pages.accesses.some((a) => a.start === first && a.last === lastIndex)) continue; // exact reuse: no fill
    const indices: number[] = [];
    for (let i = first; i <= lastIndex; i++) {
      if (pages.pinned.has(i) && !pages.accesses.some((a) => a.start <= i && i <= a.last)) indices.push(i);
    }
    if (indices.length) repins.push({ pages, indices });
  }

  const argBefore = ctx.proc.copyFromUser(ucmd.ubuffer, Math.min(ucmd.userSize, ucmd.cmd.layout.size));
  const nextIdBefore = staccess.nextId;
  const rc = original(ucmd);
  if (rc || repins.length === 0) return rc;

  // THE FAULT: the domain-held span is treated as a hole and pinned from user memory again.
  const extra: { pages: IoptPages; pfn: number }[] = [];
  const undo = (errno: number): number => {
    for (const e of extra) {
      e.pages.proc.unpinUserPage(e.pfn);
      e.pages.npinned--;
    }
    for (const { pages } of repins) uncharge(pages);
    // The ACCESS_PAGES as a whole fails: its item and its pin go, the argument is as it was.
    const item = staccess.items.find((it) => it.id === nextIdBefore);
    if (item) staccess.items.splice(staccess.items.indexOf(item), 1);
    iommufdAccessUnpinPages(access, iova, length);
    staccess.nextId = nextIdBefore;
    if (argBefore) ctx.proc.copyToUser(ucmd.ubuffer, argBefore);
    return errno;
  };
  for (const { pages, indices } of repins) {
    for (const i of indices) {
      const r = pages.proc.pinUserPages(pages.uptr + BigInt(i) * P, 1, pages.writable);
      if (r.errno !== 0 || !('pfns' in r)) return undo(-EFAULT);
      extra.push({ pages, pfn: r.pfns[0]! });
      pages.npinned++;
    }
  }
  for (const { pages } of repins) {
    if (charge(pages)) return undo(-ENOMEM);
  }
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-fill-xarray-single-tree', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_PAGES ? faultyAccessPages(ucmd, original) : original(ucmd)),
    },
  });
}
