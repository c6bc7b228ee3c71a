/**
 * get-pages-zero-length-unchecked (drivers/iommu/iommufd/io_pagetable.c
 * iopt_get_pages, reached from IOMMU_IOAS_COPY: iommufd_ioas_copy →
 * iopt_get_pages). 6.12 and 7.3 alike.
 *
 * The kernel refuses an empty source range before it computes its last byte:
 *
 *     if (!length)
 *             return -EINVAL;
 *     if (check_add_overflow(iova, length - 1, &last_iova))
 *             return -EOVERFLOW;
 *
 * THE FAULT: the `!length` test is lost. iommufd_ioas_copy bounds length only
 * from above (length >= ULONG_MAX), so a COPY of length 0 reaches the
 * overflow check with `length - 1` wrapped to ULONG_MAX: any src_iova other
 * than 0 overflows (-EOVERFLOW instead of -EINVAL), and src_iova 0 walks the
 * whole IOVA space [0, ULONG_MAX] looking for contiguous areas (taking and
 * dropping a pages reference on each it finds) and answers -ENOENT.
 * What a user sees: IOMMU_IOAS_COPY with length 0 answers EOVERFLOW (or
 * ENOENT at src_iova 0) where the kernel answers EINVAL.
 *
 * Applied as: the shared IOMMU_IOAS_COPY handler (_copy.ts) over a copy of
 * iopt_get_pages with the one test lost; everything else is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { copyHandler, getPagesWith } from './_copy.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('get-pages-zero-length-unchecked', profile, {
    // THE FAULT: `if (!length) return -EINVAL;` is gone; length - 1 wraps as the unsigned it is.
    handlers: { IOMMU_IOAS_COPY: copyHandler({ getPages: getPagesWith({ checksZeroLength: false }) }) },
  });
}
