/**
 * Shared by the faults in IOMMU_TEST_OP_MD_CHECK_MAP: a copy of
 * iommufd_test_md_check_pa (selftest.c) whose domain lookup (get_md_pagetable)
 * and expected in-page offset are steps. With the reference's steps it
 * answers as the reference does.
 */
import { IOMMU_TEST_OP_MD_CHECK_MAP } from '../../../spec/uapi/constants.ts';
import { EFAULT, EINVAL, ENOENT } from '../../../impl/lib/errno.ts';
import { MOCK_IO_PAGE_SIZE, type IommuDomain } from '../../../impl/platform/iommu.ts';
import { iommufdGetHwptPaging, type IommufdCtx, type Ucmd, ULONG_MAX } from '../../../impl/iommufd/iommufd_private.ts';

export interface MdCheckPaSteps {
  /** get_md_pagetable's test of the domain: a paging domain of the mock driver (EINVAL otherwise). */
  readonly isMockDomain?: (domain: IommuDomain) => boolean;
  /** The in-page offset the physical address is expected at: the user pointer's. */
  readonly offset?: (iova: bigint, uptr: bigint) => bigint;
  /** check_add_overflow(uptr, length) among the argument tests (EINVAL); without it the walk's uptr wraps as a uintptr_t. */
  readonly checksOverflow?: boolean;
}

/** iommufd_test_md_check_pa over the given steps. */
export function mdCheckPaWith({ isMockDomain = (d) => d.type === 'paging' && d.owner.name === 'mock', offset = (_iova, uptr) => uptr % 4096n, checksOverflow = true }: MdCheckPaSteps): (ictx: IommufdCtx, id: number, iova: bigint, length: bigint, uptr: bigint) => number {
  return (ictx, id, iova, length, uptr) => {
    let page = BigInt(MOCK_IO_PAGE_SIZE);
    const misaligned = (): boolean => iova % page !== 0n || length % page !== 0n || uptr % page !== 0n || (checksOverflow && uptr + length > ULONG_MAX);
    if (ictx.profile === '6.12' && misaligned()) return -EINVAL;
    const r = iommufdGetHwptPaging(ictx, id);
    if (r.errno || !r.value) return r.errno || -ENOENT;
    const domain = r.value.domain;
    if (!domain || !isMockDomain(domain)) return -EINVAL;
    if (ictx.profile !== '6.12') {
      page = BigInt(domain.minPageSize);
      if (misaligned()) return -EINVAL;
    }
    for (; length > 0n; length -= page, iova += page, uptr = BigInt.asUintN(64, uptr + page)) {
      const t = ictx.proc.translateVa(uptr - (uptr % 4096n));
      if (!t || !t.prot.read) return -EFAULT;
      const pa = domain.iovaToPhys(Number(iova));
      if (pa < 0 || pa !== t.pfn * 4096 + Number(offset(iova, uptr))) return -EINVAL;
    }
    return 0;
  };
}

/** The IOMMU_TEST_CMD handler that sends MD_CHECK_MAP to `check` and every other op to the reference. */
export function mdCheckMapOps(check: ReturnType<typeof mdCheckPaWith>): (ucmd: Ucmd, original: (u: Ucmd) => number) => number {
  return (ucmd, original) => {
    const c = ucmd.cmd;
    if (c.num('op') !== IOMMU_TEST_OP_MD_CHECK_MAP) return original(ucmd);
    return check(ucmd.ctx, c.num('id'), c.big('check_map.iova'), c.big('check_map.length'), c.big('check_map.uptr'));
  };
}
