/**
 * alloc-iova-half-range-inclusive — iopt_alloc_iova (drivers/iommu/iommufd/io_pagetable.c).
 *
 * The kernel:
 *
 *     /* Protect roundup_pow-of_two() from overflow *\/
 *     if (length == 0 || length >= ULONG_MAX / 2)
 *             return -EOVERFLOW;
 *
 * The fault makes the bound exclusive (`length > ULONG_MAX / 2`): a length of
 * exactly ULONG_MAX / 2 (0x7fffffffffffffff) is no longer refused. Its
 * roundup_pow_of_two is 2^63 (no overflow on 64-bit, so nothing breaks), and
 * with no domain attached (nothing pinned at MAP time) the automatic IOVA is
 * found at the bottom of the window: IOMMU_IOAS_MAP / IOMMU_IOAS_COPY without
 * FIXED_IOVA of that length succeed (a 2^63-byte area) where the kernel answers
 * EOVERFLOW.
 *
 * User-visible: EOVERFLOW becomes success for one length. Both profiles.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EINVAL, ENOSPC, EOVERFLOW } from '../../../impl/lib/errno.ts';
import { err, ok, type Result } from '../../../impl/iommufd/object.ts';
import { allocIovaCheckRange, holes, usedSpans } from '../../../impl/iommufd/io_pagetable.ts';
import { PAGE_SIZE, ULONG_MAX, type IoPagetable } from '../../../impl/iommufd/iommufd_private.ts';
import { ioasMapHandler, mapPagesWith } from './_map.ts';
import { copyHandler } from './_copy.ts';

const P = BigInt(PAGE_SIZE);
const HPAGE_SIZE = 2n * 1024n * 1024n;

function roundupPowOfTwo(n: bigint): bigint {
  let p = 1n;
  while (p < n) p <<= 1n;
  return p;
}

/** iopt_alloc_iova with the fault. */
function allocIova(iopt: IoPagetable, uptr: bigint, length: bigint): Result<bigint> {
  const pageOffset = uptr % P;
  // THE FAULT: `length > ULONG_MAX / 2` (the kernel: >=).
  if (length === 0n || length > ULONG_MAX / 2n) return err(-EOVERFLOW);
  const lowest = uptr & -uptr;
  let alignment = uptr === 0n ? roundupPowOfTwo(length) : roundupPowOfTwo(length) < lowest ? roundupPowOfTwo(length) : lowest;
  if (alignment >= HPAGE_SIZE) alignment = HPAGE_SIZE;
  if (alignment < BigInt(iopt.iovaAlignment)) return err(-EINVAL);
  const windowStart = P;
  const windowLast = ULONG_MAX - P;
  const allowedSpans =
    iopt.allowed.length === 0
      ? [{ start: windowStart, last: windowLast }]
      : usedSpans([iopt.allowed])
          .filter((s) => s.start <= windowLast && s.last >= windowStart)
          .map((s) => ({ start: s.start < windowStart ? windowStart : s.start, last: s.last > windowLast ? windowLast : s.last }));
  const used = usedSpans([iopt.reserved, iopt.areas]);
  for (const span of allowedSpans) {
    const start = allocIovaCheckRange(span.start, span.last, length, alignment, pageOffset);
    if (start === undefined) continue;
    for (const hole of holes(used, start, span.last)) {
      const iova = allocIovaCheckRange(hole.start, hole.last, length, alignment, pageOffset);
      if (iova !== undefined) return ok(iova);
    }
  }
  return err(-ENOSPC);
}

export function createAdapter(profile: Profile): Implementation {
  const mapPages = mapPagesWith({ allocIova });
  return mutantImplementation('alloc-iova-half-range-inclusive', profile, {
    handlers: {
      IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }),
      IOMMU_IOAS_COPY: copyHandler({ mapPages }),
    },
  });
}
