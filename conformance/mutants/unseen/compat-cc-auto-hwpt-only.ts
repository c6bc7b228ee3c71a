/**
 * compat-cc-auto-hwpt-only (drivers/iommu/iommufd/vfio_compat.c
 * iommufd_vfio_cc_iommu, behind VFIO_CHECK_EXTENSION(VFIO_DMA_CC_IOMMU)).
 *
 * A VFIO type1 container reports VFIO_DMA_CC_IOMMU = 1 only when every
 * domain behind it enforces cache coherency (no-snoop TLPs are forced to
 * snoop), so userspace may skip the cache maintenance it otherwise needs for
 * non-coherent DMA. iommufd answers it from every paging HWPT linked to the
 * compat IOAS:
 *
 *     list_for_each_entry(hwpt_paging, &ioas->hwpt_list, hwpt_item) {
 *             if (!hwpt_paging->enforce_cache_coherency) {
 *                     rc = 0;
 *                     break;
 *             }
 *     }
 *
 * The fault copies the head of the loop from iommufd_device_auto_get_domain,
 * which walks the same list:
 *
 *             if (!hwpt_paging->auto_domain)
 *                     continue;
 *
 * so HWPTs the user allocated with IOMMU_HWPT_ALLOC on the compat IOAS are
 * ignored. Devices attached to such a HWPT translate through a domain that
 * does not enforce coherency (a device whose IOMMU cannot, or a HWPT
 * allocated for one), yet the container says it is coherent — and with no
 * automatic domain at all the empty walk answers 1.
 *
 * Consequence for a user: a context that mixes the VFIO container API with
 * iommufd HWPTs (an IOAS chosen with IOMMU_VFIO_IOAS, a HWPT allocated on it
 * for a device without enforce-cache-coherency, the device attached to that
 * HWPT) is told VFIO_DMA_CC_IOMMU = 1: coherency is wrongly reported and a
 * VMM relying on it does no cache maintenance (WBINVD emulation) for the
 * non-coherent device's DMA. Only visible with a user-allocated,
 * non-coherent HWPT on the compat IOAS.
 *
 * Applied as: the answer of VFIO_CHECK_EXTENSION(VFIO_DMA_CC_IOMMU) on an
 * iommufd file is recomputed with the faulty walk whenever the reference
 * answered it (every other command is the reference's).
 */
import type { Implementation, Profile, Response, SingleRequest } from '../../../spec/contract/types.ts';
import { VFIO_DMA_CC_IOMMU } from '../../../spec/uapi/constants.ts';
import { commandByRequest } from '../../../spec/uapi/lookup.ts';
import type { IommufdCtx, IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation, type MutantEnv } from '../harness.ts';

/** iommufd_vfio_cc_iommu with the auto_domain filter (THE FAULT); undefined when there is no compat IOAS. */
function ccIommuAutoOnly(ctx: IommufdCtx): number | undefined {
  const ioas = ctx.vfioIoas;
  if (!ioas || ioas.type !== 'IOAS' || ctx.objects.load(ioas.id) !== ioas) return undefined; // get_compat_ioas: ENODEV
  for (const hwpt of (ioas as IommufdIoas).hwptList) {
    if (!hwpt.autoDomain) continue; // THE FAULT
    if (!hwpt.enforceCacheCoherency) return 0;
  }
  return 1;
}

/** The iommufd ctx an ioctl request for VFIO_CHECK_EXTENSION(VFIO_DMA_CC_IOMMU) targets, if it is one. */
function ccIommuTarget(req: SingleRequest, env: MutantEnv): IommufdCtx | undefined {
  if (req.op !== 'ioctl' || req.arg.kind !== 'int') return undefined;
  const name = typeof req.cmd === 'string' ? req.cmd : commandByRequest(env.profile, req.cmd, 'iommufd')?.name;
  if (name !== 'VFIO_CHECK_EXTENSION') return undefined;
  const value = req.arg.value;
  if (BigInt(value) !== BigInt(VFIO_DMA_CC_IOMMU)) return undefined;
  const file = env.proc.fds.lookup(req.fd);
  if (!file || file.kind !== 'iommufd') return undefined;
  return file.private_data as IommufdCtx;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('compat-cc-auto-hwpt-only', profile, {
    request: (req, next, env) => {
      const ctx = ccIommuTarget(req, env);
      const res = next(req);
      if (!ctx || !res.ok) return res;
      const r = res.result as { ret: number; errno: number };
      if (r.errno !== 0 || r.ret < 0) return res;
      const faulty = ccIommuAutoOnly(ctx);
      if (faulty === undefined) return res;
      return { ok: true, result: { ...r, ret: faulty } } as Response;
    },
  });
}
