/**
 * create-access-attach-fail-leaks-access (drivers/iommu/iommufd/selftest.c
 * iommufd_test_create_access, IOMMU_TEST_OP_CREATE_ACCESS; 6.12 and 7.3).
 *
 * The access object is created (published in the object table, holding a
 * driver reference and a reference on the iommufd context) before it is
 * attached; a failed attach must destroy it again:
 *
 *         access = iommufd_access_create(ucmd->ictx, ..., staccess, &id);
 *         if (IS_ERR(access)) {
 *                 rc = PTR_ERR(access);
 *                 goto out_put_fdno;
 *         }
 *         rc = iommufd_access_attach(access, ioas_id);
 *         if (rc)
 *                 goto out_destroy;
 *         ...
 *   out_destroy:
 *         iommufd_access_destroy(access);
 *   out_put_fdno:
 *         put_unused_fd(fdno);
 *
 * Fault: the attach failure jumps one label too far:
 *
 *         rc = iommufd_access_attach(access, ioas_id);
 *         if (rc)
 *                 goto out_put_fdno;
 *
 * What a user sees: CREATE_ACCESS on an id that is not an IOAS (or an IOAS
 * whose IOVA alignment refuses the access) still fails as before, but the
 * unattached ACCESS object stays in the table: its id is never handed out
 * again (the next IOAS_ALLOC / MOCK_DOMAIN ids shift), IOMMU_DESTROY of it is
 * EBUSY (the driver reference is never dropped), and the leaked
 * iommufd_ctx_get keeps the context alive after the iommufd fd is closed, so
 * everything it still maps stays pinned and charged.
 *
 * Applied as: when the reference's CREATE_ACCESS fails after publishing an
 * access that never got attached (its unmap op never ran), the access is
 * created again with the same ops (the lowest free id is the one just
 * released) and left behind, never attached and never destroyed.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { IOMMU_TEST_OP_CREATE_ACCESS } from '../../../spec/uapi/constants.ts';
import { IommufdAccess, iommufdAccessCreate, type IommufdAccessOps } from '../../../impl/iommufd/access.ts';

export function createAdapter(profile: Profile): Implementation {
  const st: { created?: { ops: IommufdAccessOps; attached: boolean }; capturing: boolean } = { capturing: false };
  return mutantImplementation('create-access-attach-fail-leaks-access', profile, {
    object: (obj) => {
      if (!st.capturing || !(obj instanceof IommufdAccess)) return;
      const rec = { ops: obj.ops, attached: false };
      st.created = rec;
      // iommufd_access_change_ioas(access, NULL) on out_destroy tells the driver to unmap only if it was attached.
      const ops = obj.ops as { unmap(iova: bigint, length: bigint): void };
      const unmap = ops.unmap;
      Object.defineProperty(ops, 'unmap', {
        value: (iova: bigint, length: bigint) => {
          rec.attached = true;
          unmap(iova, length);
        },
        writable: true,
        configurable: true,
      });
    },
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        if (ucmd.cmd.num('op') !== IOMMU_TEST_OP_CREATE_ACCESS) return original(ucmd);
        st.created = undefined;
        st.capturing = true;
        let rc: number;
        try {
          rc = original(ucmd);
        } finally {
          st.capturing = false;
        }
        const rec = st.created as { ops: IommufdAccessOps; attached: boolean } | undefined;
        st.created = undefined;
        if (rc < 0 && rec && !rec.attached) iommufdAccessCreate(ucmd.ctx, rec.ops); // the access out_destroy should have freed
        return rc;
      },
    },
  });
}
