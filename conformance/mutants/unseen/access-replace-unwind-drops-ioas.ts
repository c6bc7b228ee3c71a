/**
 * M5 (access objects, error unwind): iommufd_access_change_ioas sets
 * access->ioas = NULL to block new pins while it changes IOAS, and when
 * iopt_add_access on the new IOAS fails (xa_alloc ENOMEM, or EADDRINUSE: the
 * access's PAGE_SIZE alignment against the new IOAS's byte-aligned areas)
 * returns the error without `access->ioas = cur_ioas`.
 *
 * Consequence: a failed ACCESS_REPLACE_IOAS leaves the access detached in
 * effect: it stays in the old IOAS's access list (still notified, its pins
 * still undone there through ioas_unpin), but every later ACCESS_PAGES /
 * ACCESS_RW answers ENOENT and a retried replace answers ENOENT.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_ACCESS_REPLACE_IOAS } from '../../../spec/uapi/constants.ts';
import { EADDRINUSE, ENOMEM } from '../../../impl/lib/errno.ts';
import { SelftestAccess } from '../../../impl/iommufd/selftest.ts';
import { mutantImplementation } from '../harness.ts';
export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-replace-unwind-drops-ioas', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        if (cmd.num('op') !== IOMMU_TEST_OP_ACCESS_REPLACE_IOAS) return original(ucmd);
        const st = ctx.proc.fds.lookup(cmd.num('id'))?.private_data;
        const access = st instanceof SelftestAccess ? st.access : null;
        const cur = access?.ioas ?? null;
        const rc = original(ucmd);
        // only iopt_add_access answers these here; the reference restored access->ioas
        if ((rc === -ENOMEM || rc === -EADDRINUSE) && access && cur && access.ioas === cur) { access.ioas = null; } // the fault
        return rc;
      },
    },
  });
}
