/**
 * md-check-pa-skips-owner-check (drivers/iommu/iommufd/selftest.c
 * get_md_pagetable, called by iommufd_test_md_check_pa for
 * IOMMU_TEST_OP_MD_CHECK_MAP; 6.12 and 7.3).
 *
 * The kernel's code:
 *
 *     hwpt = __get_md_pagetable(ucmd, mockpt_id, IOMMUFD_OBJ_HWPT_PAGING);
 *     if (IS_ERR(hwpt))
 *             return hwpt;
 *     if (hwpt->domain->type != IOMMU_DOMAIN_UNMANAGED ||
 *         hwpt->domain->owner != &mock_ops) {
 *             iommufd_put_object(ucmd->ictx, &hwpt->obj);
 *             return ERR_PTR(-EINVAL);
 *     }
 *     *mock = to_mock_domain(hwpt->domain);
 *
 * THE FAULT: the `hwpt->domain->owner != &mock_ops` half of the test is
 * dropped, so a HWPT_PAGING whose domain belongs to a real driver (VT-d,
 * AMD, SMMUv3: a VFIO cdev device's auto domain) is taken for a mock domain
 * and walked with the domain's iova_to_phys.
 *
 * Observable: MD_CHECK_MAP naming a HWPT of a non-mock IOMMU answers 0 (or
 * EINVAL only on a mismatch) where the kernel always answers EINVAL; in the
 * kernel this is a type confusion (to_mock_domain on a foreign domain).
 *
 * Applied as: IOMMU_TEST_OP_MD_CHECK_MAP runs a copy of
 * iommufd_test_md_check_pa over the faulty lookup; every other test op is
 * the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_MD_CHECK_MAP } from '../../../spec/uapi/constants.ts';
import { EFAULT, EINVAL, ENOENT } from '../../../impl/lib/errno.ts';
import { MOCK_IO_PAGE_SIZE, type IommuDomain } from '../../../impl/platform/iommu.ts';
import { iommufdGetHwptPaging, type IommufdCtx, type IommufdHwptPaging, ULONG_MAX } from '../../../impl/iommufd/iommufd_private.ts';
import type { Result } from '../../../impl/iommufd/object.ts';
import { mutantImplementation } from '../harness.ts';

/** get_md_pagetable with THE FAULT: only the domain type is tested, not its owner. */
function getMdPagetable(ictx: IommufdCtx, id: number): Result<IommufdHwptPaging> {
  const r = iommufdGetHwptPaging(ictx, id);
  if (r.errno || !r.value) return { errno: r.errno || -ENOENT };
  if (!r.value.domain || r.value.domain.type !== 'paging') return { errno: -EINVAL };
  return r;
}

/** iommufd_test_md_check_pa, as the reference has it, over the faulty lookup. */
function mdCheckPa(ictx: IommufdCtx, mockptId: number, iova: bigint, length: bigint, uptr: bigint): number {
  let page = BigInt(MOCK_IO_PAGE_SIZE);
  const misaligned = () => iova % page !== 0n || length % page !== 0n || uptr % page !== 0n || uptr + length > ULONG_MAX;
  if (ictx.profile === '6.12' && misaligned()) return -EINVAL;
  const r = getMdPagetable(ictx, mockptId);
  if (r.errno || !r.value) return r.errno;
  const domain = r.value.domain as IommuDomain;
  if (ictx.profile !== '6.12') {
    page = BigInt(domain.minPageSize);
    if (misaligned()) return -EINVAL;
  }
  for (; length > 0n; length -= page, iova += page, uptr += page) {
    const t = ictx.proc.translateVa(uptr - (uptr % 4096n));
    if (!t || !t.prot.read) return -EFAULT;
    const pa = domain.iovaToPhys(Number(iova));
    if (pa < 0 || pa !== t.pfn * 4096 + Number(uptr % 4096n)) return -EINVAL;
  }
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('md-check-pa-skips-owner-check', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const c = ucmd.cmd;
        if (c.num('op') !== IOMMU_TEST_OP_MD_CHECK_MAP) return original(ucmd);
        return mdCheckPa(ucmd.ctx, c.num('id'), c.big('check_map.iova'), c.big('check_map.length'), c.big('check_map.uptr'));
      },
    },
  });
}
