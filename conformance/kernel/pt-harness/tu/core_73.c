// SPDX-License-Identifier: GPL-2.0-only
/*
 * The 7.3 iommu core's map/unmap paths: iommu_map / iommu_unmap and the page
 * size splitting of drivers/iommu/iommu.c, copied verbatim by build.ts into
 * kshim_iommu_core.h. generic_pt domains go straight to map_range/unmap_range;
 * io-pgtable drivers (Arm) are driven through iommu_pgsize + map_pages.
 */
#include "harness.h"
#include <linux/iommu.h>
#include <linux/generic_pt/iommu.h>
#include "drivers/iommu/iommu-pages.h"

/* Debug and tracing hooks of iommu.c: no-ops. */
#define iommu_debug_map(domain, paddr, size) do { } while (0)
#define iommu_debug_unmap_begin(domain, iova, size) do { } while (0)
#define iommu_debug_unmap_end(domain, iova, size, unmapped) do { } while (0)

#include "kshim_iommu_core.h"

void hiotlb_sync(struct iommu_domain *domain, struct iommu_iotlb_gather *gather)
{
	iommu_put_pages_list(&gather->freelist);
}
