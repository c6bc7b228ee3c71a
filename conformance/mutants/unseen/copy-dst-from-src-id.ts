/**
 * C9 — copy-dst-from-src-id (drivers/iommu/iommufd/ioas.c iommufd_ioas_copy).
 *
 * After the source pages are gathered, the destination IOAS is looked up by
 * the destination id:
 *     dst_ioas = iommufd_get_ioas(ucmd->ictx, cmd->dst_ioas_id);
 *     if (IS_ERR(dst_ioas)) {
 *             rc = PTR_ERR(dst_ioas);
 *             goto out_pages;
 *     }
 * The fault is a copy-paste of the source lookup two statements above:
 *     dst_ioas = iommufd_get_ioas(ucmd->ictx, cmd->src_ioas_id);
 * A COPY between two IOASes is answered with success, but the pages are
 * mapped again into the SOURCE IOAS at dst_iova (fixed or allocated there),
 * never into the destination. Every device attached to the source IOAS can
 * now DMA the copied pages through an IOVA the user never mapped in that
 * IOAS (e.g. writable, where the user made the source mapping read-only, or
 * at an IOVA the user believes belongs to another device's address space),
 * and the devices of the destination IOAS fault on an IOVA the user was told
 * was mapped. A copy within one IOAS behaves as before.
 *
 * Applied as: IOMMU_IOAS_COPY is the reference's iommufd_ioas_copy with that
 * one lookup changed (_copy.ts: the reference's steps, the destination's id
 * a parameter).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { copyHandler } from './_copy.ts';

// THE FAULT: the destination is looked up by the source id.
const ioasCopy = copyHandler({ dstIoasId: (cmd) => cmd.num('src_ioas_id') });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('copy-dst-from-src-id', profile, {
    handlers: { IOMMU_IOAS_COPY: (ucmd) => ioasCopy(ucmd) },
  });
}
