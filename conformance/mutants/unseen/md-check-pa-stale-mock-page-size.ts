/**
 * md-check-pa-stale-mock-page-size (iommufd_test_md_check_pa,
 * drivers/iommu/iommufd/selftest.c; reached by IOMMU_TEST_OP_MD_CHECK_MAP on
 * a mock HWPT whose smallest page is larger than the 2 KiB mock page, i.e.
 * one allocated with IOMMU_HWPT_DATA_SELFTEST pagetable_type
 * MOCK_IOMMUPT_HUGE; 7.3 only).
 *
 * The kernel's code (7.3):
 *
 *     hwpt = get_md_pagetable(ucmd, mockpt_id, &mock);
 *     if (IS_ERR(hwpt))
 *             return PTR_ERR(hwpt);
 *
 *     page_size = 1 << __ffs(mock->domain.pgsize_bitmap);
 *     if (iova % page_size || length % page_size ||
 *         (uintptr_t)uptr % page_size ||
 *         check_add_overflow((uintptr_t)uptr, (uintptr_t)length, &end)) {
 *             rc = -EINVAL;
 *             goto out_put;
 *     }
 *
 *     for (; length; length -= page_size) {
 *             ...
 *             io_phys = mock->domain.ops->iova_to_phys(&mock->domain, iova);
 *             if (io_phys != pfn * PAGE_SIZE + ((uintptr_t)uptr % PAGE_SIZE)) {
 *                     rc = -EINVAL;
 *                     goto out_put;
 *             }
 *             iova += page_size;
 *             uptr += page_size;
 *     }
 *
 * 7.3's mock domains are generic_pt AMDv1 tables; the default one keeps the
 * 2 KiB mock page, but the MOCK_IOMMUPT_HUGE one advertises only
 * MOCK_HUGE_PAGE_SIZE | PAGE_SIZE, so its check works in 4 KiB steps and
 * refuses (EINVAL) an iova, length or uptr that is only 2 KiB aligned.
 *
 * The fault: the conversion from the 6.12 xarray mock (where the check was
 * `iova % MOCK_IO_PAGE_SIZE || ...` and the loop stepped by
 * MOCK_IO_PAGE_SIZE) moved the check after get_md_pagetable but kept the
 * constant, so page_size is MOCK_IO_PAGE_SIZE whatever the domain's
 * pgsize_bitmap. On a HUGE mock HWPT a 2 KiB-aligned MD_CHECK_MAP is then
 * walked in 2 KiB steps and answers 0 where the mapping matches (or EINVAL
 * only on a mismatch), where the kernel answers EINVAL for the alignment.
 * On default mock HWPTs (2 KiB smallest page) it answers as the kernel.
 *
 * Applied as (7.3): IOMMU_TEST_OP_MD_CHECK_MAP runs a copy of
 * iommufd_test_md_check_pa with the 2 KiB page size; every other op, and the
 * 6.12 profile, are the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EFAULT, EINVAL, ENOENT } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_MD_CHECK_MAP } from '../../../spec/uapi/constants.ts';
import { iommufdGetHwptPaging, ULONG_MAX, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { MOCK_IO_PAGE_SIZE, type IommuDomain } from '../../../impl/platform/iommu.ts';
import { mutantImplementation } from '../harness.ts';

/** iommufd_test_md_check_pa (7.3) with THE FAULT: page_size = MOCK_IO_PAGE_SIZE, not the domain's smallest page. */
function mdCheckPa(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  let iova = cmd.big('check_map.iova');
  let length = cmd.big('check_map.length');
  let uptr = cmd.big('check_map.uptr');
  // get_md_pagetable
  const r = iommufdGetHwptPaging(ctx, cmd.num('id'));
  if (r.errno || !r.value) return r.errno || -ENOENT;
  const domain = r.value.domain as IommuDomain | null;
  if (!domain || domain.type !== 'paging' || domain.owner.name !== 'mock') return -EINVAL;
  const page = BigInt(MOCK_IO_PAGE_SIZE); // the kernel's: 1 << __ffs(mock->domain.pgsize_bitmap)
  if (iova % page !== 0n || length % page !== 0n || uptr % page !== 0n || uptr + length > ULONG_MAX) return -EINVAL;
  for (; length > 0n; length -= page, iova += page, uptr += page) {
    const t = ctx.proc.translateVa(uptr - (uptr % 4096n));
    if (!t || !t.prot.read) return -EFAULT;
    const pa = domain.iovaToPhys(Number(iova));
    if (pa < 0 || pa !== t.pfn * 4096 + Number(uptr % 4096n)) return -EINVAL;
  }
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('md-check-pa-stale-mock-page-size', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.ctx.profile === '7.3' && ucmd.cmd.num('op') === IOMMU_TEST_OP_MD_CHECK_MAP ? mdCheckPa(ucmd) : original(ucmd)),
    },
  });
}
