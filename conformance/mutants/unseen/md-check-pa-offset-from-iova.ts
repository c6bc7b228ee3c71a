/**
 * Round 38 fault D4 (selftest, MD_CHECK_MAP): iommufd_test_md_check_pa
 * (drivers/iommu/iommufd/selftest.c) takes the in-page offset of the
 * expected physical address from the IOVA instead of the user pointer:
 *
 *     io_phys = mock->domain.ops->iova_to_phys(&mock->domain, iova);
 *     if (io_phys != pfn * PAGE_SIZE + ((uintptr_t)uptr % PAGE_SIZE)) {
 *
 * becomes `pfn * PAGE_SIZE + (iova % PAGE_SIZE)` (6.12: the same for the
 * xarray entry compare, `... * MOCK_IO_PAGE_SIZE != pfn * PAGE_SIZE + ...`).
 *
 * The two offsets agree whenever the IOVA and the user address share their
 * offset in a CPU page, which is how most maps are made. Where they do not
 * (mock domains have 2 KiB IO pages, so an IOVA may sit at a 2 KiB offset
 * from a page-aligned buffer): a correct mapping is reported as a mismatch
 * (EINVAL), and a mapping of the wrong half page is reported as correct (0).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_MD_CHECK_MAP } from '../../../spec/uapi/constants.ts';
import { EFAULT, EINVAL, ENOENT } from '../../../impl/lib/errno.ts';
import { iommufdGetHwptPaging, ULONG_MAX } from '../../../impl/iommufd/iommufd_private.ts';
import { MOCK_IO_PAGE_SIZE, type IommuDomain } from '../../../impl/platform/iommu.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('md-check-pa-offset-from-iova', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const { cmd, ctx: ictx } = ucmd;
        if (cmd.num('op') !== IOMMU_TEST_OP_MD_CHECK_MAP) return original(ucmd);
        let iova = cmd.big('check_map.iova');
        let length = cmd.big('check_map.length');
        let uptr = cmd.big('check_map.uptr');
        let page = BigInt(MOCK_IO_PAGE_SIZE);
        const misaligned = () => iova % page !== 0n || length % page !== 0n || uptr % page !== 0n || uptr + length > ULONG_MAX;
        if (ictx.profile === '6.12' && misaligned()) return -EINVAL;
        // get_md_pagetable
        const r = iommufdGetHwptPaging(ictx, cmd.num('id'));
        if (r.errno || !r.value) return r.errno || -ENOENT;
        if (!r.value.domain || r.value.domain.type !== 'paging' || r.value.domain.owner.name !== 'mock') return -EINVAL;
        const domain = r.value.domain as IommuDomain;
        if (ictx.profile !== '6.12') {
          page = BigInt(domain.minPageSize);
          if (misaligned()) return -EINVAL;
        }
        for (; length > 0n; length -= page, iova += page, uptr += page) {
          const t = ictx.proc.translateVa(uptr - (uptr % 4096n));
          if (!t || !t.prot.read) return -EFAULT;
          const pa = domain.iovaToPhys(Number(iova));
          if (pa < 0 || pa !== t.pfn * 4096 + Number(iova % 4096n)) return -EINVAL; // the offset of iova, not of uptr
        }
        return 0;
      },
    },
  });
}
