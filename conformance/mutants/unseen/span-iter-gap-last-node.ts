/**
 * span-iter-gap-last-node (lib/interval_tree.c
 * interval_tree_span_iter_next_gap, the span iterator behind iopt_alloc_iova
 * and iommufd_ioas_iova_ranges in drivers/iommu/iommufd/io_pagetable.c and
 * ioas.c).
 *
 * The span iterator walks an interval tree (the IOAS's reserved_itree, its
 * area_itree, the allowed_itree) as alternating "used" and "hole" spans.
 * Intervals may overlap — the reserved tree holds one node per owner: each
 * domain's space outside its aperture, each device's reserved regions (an
 * MSI window), the selftest's ADD_RESERVED ranges — so the end of a used
 * span is the largest `last` of the nodes that chain into it:
 *
 *     state->nodes[0] = cur;
 *     do {
 *             if (cur->last > state->nodes[0]->last)
 *                     state->nodes[0] = cur;
 *             cur = interval_tree_iter_next(cur, state->first_index,
 *                                           state->last_index);
 *     } while (cur && (state->nodes[0]->last >= cur->start ||
 *                      state->nodes[0]->last + 1 == cur->start));
 *
 * The fault drops the `cur->last > nodes[0]->last` test (nodes[0] = cur for
 * every node visited): the used span ends at the `last` of the last node
 * that starts inside it, not at the furthest one. Whenever a reserved range
 * lies inside a larger one and ends before it — an x86 device's MSI window
 * [0xfee00000, 0xfeefffff] inside the [aperture_end + 1, ULONG_MAX] a mock
 * (or any narrow-aperture) domain reserves on the same IOAS, a selftest
 * reservation inside another — the rest of the larger reserved range becomes
 * a "hole".
 *
 * Consequence: IOMMU_IOAS_IOVA_RANGES reports reserved IOVA as usable, and
 * IOMMU_IOAS_MAP / IOMMU_IOAS_COPY without FIXED_IOVA place new areas there
 * (iopt_alloc_iova's first fit reaches the false hole once the real holes
 * before it cannot take the length): the IOAS maps memory over a region a
 * device or domain reserved — outside a domain's aperture, over a reserved
 * region — which iopt_check_iova (iopt_reserved_iter_first, unaffected)
 * refuses for a fixed IOVA. A single non-overlapping reservation set is
 * unaffected.
 *
 * Applied where the reference walks spans of the reserved tree:
 * IOMMU_IOAS_IOVA_RANGES and automatic IOVA allocation in IOMMU_IOAS_MAP and
 * IOMMU_IOAS_COPY (through _map.ts, _copy.ts and a copy of
 * iopt_map_pages / iopt_alloc_area_pages / iopt_alloc_iova). The VFIO
 * compat VFIO_IOMMU_GET_INFO IOVA-range capability keeps the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { copyHandler } from './_copy.ts';
import { allocIovaWith, ioasMapHandler, mapPagesWith } from './_map.ts';
import { holes } from '../../../impl/iommufd/io_pagetable.ts';
import { iommufdGetIoas, iommufdUcmdRespond, ULONG_MAX, type Range, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { EFAULT, EMSGSIZE, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { requireLayout } from '../../../spec/uapi/layout.ts';
import { encodeStruct } from '../../../spec/abi/codec.ts';


/** interval_tree_span_iter's used spans with the faulty next_gap: a span ends at the last node visited. */
function spansLastNode(lists: readonly (readonly Range[])[]): Range[] {
  const all = lists.flat().slice().sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const out: { start: bigint; last: bigint }[] = [];
  for (const r of all) {
    const top = out[out.length - 1];
    if (top && r.start <= top.last + 1n) {
      top.last = r.last; // THE FAULT: no `if (cur->last > nodes[0]->last)`
    } else out.push({ start: r.start, last: r.last });
  }
  return out;
}

/** iopt_alloc_iova over the faulty span iterator. */
const allocIova = allocIovaWith({ spans: spansLastNode });

/** iommufd_ioas_iova_ranges over the faulty span iterator. */
function iovaRanges(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  if (cmd.num('__reserved')) return -EOPNOTSUPP;
  const r = iommufdGetIoas(ctx, cmd.num('ioas_id'));
  if (r.errno) return r.errno;
  const ioas = r.value!;
  const maxIovas = cmd.num('num_iovas');
  const ranges = cmd.big('allowed_iovas');
  let num = 0;
  cmd.set('out_iova_alignment', BigInt(ioas.iopt.iovaAlignment));
  const elmSize = requireLayout(ctx.profile, 'iommu_iova_range').size;
  for (const hole of holes(spansLastNode([ioas.iopt.reserved]), 0n, ULONG_MAX)) {
    if (num < maxIovas) {
      const elm = encodeStruct(ctx.profile, 'iommu_iova_range', { start: hole.start, last: hole.last });
      if (!ctx.proc.copyToUser(ranges + BigInt(num * elmSize), elm)) return -EFAULT;
    }
    num++;
  }
  cmd.set('num_iovas', num);
  const rc = iommufdUcmdRespond(ucmd);
  if (rc) return rc;
  return num > maxIovas ? -EMSGSIZE : 0;
}

/** iopt_map_pages over the faulty iopt_alloc_iova. */
const mapPages = mapPagesWith({ allocIova });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('span-iter-gap-last-node', profile, {
    handlers: {
      IOMMU_IOAS_IOVA_RANGES: iovaRanges,
      IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }),
      IOMMU_IOAS_COPY: copyHandler({ mapPages }),
    },
  });
}
