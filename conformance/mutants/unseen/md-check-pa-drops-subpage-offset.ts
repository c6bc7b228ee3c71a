/**
 * md-check-pa-drops-subpage-offset (drivers/iommu/iommufd/selftest.c
 * iommufd_test_md_check_pa, IOMMU_TEST_OP_MD_CHECK_MAP; 6.12 and 7.3).
 * The mock domain's smallest IO page is MOCK_PAGE_SIZE (2 KiB) in both
 * (6.12's xarray table, 7.3's AMDv1-mock table), half a CPU page, so a
 * checked IO page can start in the middle of a user page.
 *
 * For each IO page the check pins the user page under uptr and compares the
 * domain's translation of the IOVA with the physical address of the byte
 * uptr points at — the frame plus uptr's offset inside it:
 *
 *     npages = get_user_pages_fast((uintptr_t)uptr & PAGE_MASK, 1, 0, pages);
 *     ...
 *     pfn = page_to_pfn(pages[0]);
 *     put_page(pages[0]);
 *
 *     io_phys = mock->domain.ops->iova_to_phys(&mock->domain, iova);
 *     if (io_phys != pfn * PAGE_SIZE + ((uintptr_t)uptr % PAGE_SIZE)) {
 *             rc = -EINVAL;
 *             goto out_put;
 *     }
 *
 * THE FAULT: the sub-page term is dropped (the check compares against the
 * frame's base only):
 *
 *     if (io_phys != pfn * PAGE_SIZE) {
 *
 * What a user sees: MD_CHECK_MAP over a range whose user address is 2 KiB
 * into a page — or any range of more than one 2 KiB IO page, whose second
 * half-page starts at offset 2048 — fails with EINVAL although the domain
 * maps exactly those bytes; a correct mapping reads as wrong. Conversely an
 * IOVA mapped to the first half of the page passes a check for the second
 * half (a wrong translation reads as right).
 *
 * Applied as: IOMMU_TEST_OP_MD_CHECK_MAP served by a copy of the
 * reference's iommufd_test_md_check_pa with the faulty comparison.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_MD_CHECK_MAP } from '../../../spec/uapi/constants.ts';
import { EFAULT, EINVAL, ENOENT } from '../../../impl/lib/errno.ts';
import { iommufdGetHwptPaging, ULONG_MAX, type IommufdCtx } from '../../../impl/iommufd/iommufd_private.ts';
import { MOCK_IO_PAGE_SIZE, type IommuDomain } from '../../../impl/platform/iommu.ts';
import { mutantImplementation } from '../harness.ts';

/**
 * iommufd_test_md_check_pa with THE FAULT; the rest is the reference's: 6.12
 * checks 2 KiB alignment before get_md_pagetable, 7.3 looks up first and
 * aligns to the domain's smallest page (1 << __ffs(pgsize_bitmap)).
 */
function mdCheckPa(ictx: IommufdCtx, mockptId: number, iova: bigint, length: bigint, uptr: bigint): number {
  let page = BigInt(MOCK_IO_PAGE_SIZE);
  const misaligned = () => iova % page !== 0n || length % page !== 0n || uptr % page !== 0n || uptr + length > ULONG_MAX;
  if (ictx.profile === '6.12' && misaligned()) return -EINVAL;
  // get_md_pagetable
  const r = iommufdGetHwptPaging(ictx, mockptId);
  if (r.errno || !r.value) return r.errno || -ENOENT;
  const domain = r.value.domain as IommuDomain | null;
  if (!domain || domain.type !== 'paging' || domain.owner.name !== 'mock') return -EINVAL;
  if (ictx.profile !== '6.12') {
    page = BigInt(domain.minPageSize);
    if (misaligned()) return -EINVAL;
  }
  for (; length > 0n; length -= page, iova += page, uptr += page) {
    const t = ictx.proc.translateVa(uptr - (uptr % 4096n));
    if (!t || !t.prot.read) return -EFAULT;
    const pa = domain.iovaToPhys(Number(iova));
    if (pa < 0 || pa !== t.pfn * 4096) return -EINVAL; // THE FAULT: + uptr % PAGE_SIZE dropped
  }
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('md-check-pa-drops-subpage-offset', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        if (ucmd.cmd.num('op') !== IOMMU_TEST_OP_MD_CHECK_MAP) return original(ucmd);
        const c = ucmd.cmd;
        return mdCheckPa(ucmd.ctx, c.num('id'), c.big('check_map.iova'), c.big('check_map.length'), c.big('check_map.uptr'));
      },
    },
  });
}
