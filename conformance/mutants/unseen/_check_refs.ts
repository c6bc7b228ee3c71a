/**
 * Shared by the faults in iommufd_test_md_check_refs (selftest.c): a copy of
 * the reference's IOMMU_TEST_OP_MD_CHECK_REFS whose uptr alignment test and
 * step to the next page are steps. With the reference's steps it answers as
 * the reference does.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EFAULT, EINVAL, EIO } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_MD_CHECK_REFS } from '../../../spec/uapi/constants.ts';
import { PAGE_SIZE, ULONG_MAX, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

const P = BigInt(PAGE_SIZE);

/** The steps a fault may replace; each one not given is the kernel's. */
export interface CheckRefsSteps {
  /** `(uintptr_t)uptr % PAGE_SIZE` is part of the EINVAL test. */
  readonly checksUptrAlignment?: boolean;
  /** `uptr += PAGE_SIZE` ends each turn of the loop. */
  readonly advances?: boolean;
}

/** iommufd_test_md_check_refs over the given steps. */
function mdCheckRefs({ checksUptrAlignment = true, advances = true }: CheckRefsSteps, ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  let uptr = cmd.big('check_refs.uptr');
  let length = cmd.big('check_refs.length');
  const refs = cmd.num('check_refs.refs');
  if (length % P || (checksUptrAlignment && uptr % P) || uptr + length > ULONG_MAX) return -EINVAL;
  for (; length; length -= P) {
    const t = ctx.proc.translateVa(uptr);
    if (!t || !t.prot.read) return -EFAULT;
    if (ctx.proc.pinCountOfPfn(t.pfn) !== refs) return -EIO;
    if (advances) uptr += P;
  }
  return 0;
}

/** A mutant whose MD_CHECK_REFS takes the given steps; every other command is the reference's. */
export function checkRefsMutant(name: string, profile: Profile, steps: CheckRefsSteps): Implementation {
  return mutantImplementation(name, profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_MD_CHECK_REFS ? mdCheckRefs(steps, ucmd) : original(ucmd)),
    },
  });
}
