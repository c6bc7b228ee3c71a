// SPDX-License-Identifier: GPL-2.0-only
/*
 * The 6.12 iommu core's map/unmap paths: iommu_map / iommu_unmap and the page
 * size splitting of drivers/iommu/iommu.c, copied verbatim by build.ts into
 * kshim_iommu_core.h. Every 6.12 driver is driven through iommu_pgsize +
 * map_pages / unmap_pages.
 */
#include "harness.h"
#include <linux/iommu.h>
#include "drivers/iommu/iommu-pages.h"

#include "kshim_iommu_core.h"

void hiotlb_sync(struct iommu_domain *domain, struct iommu_iotlb_gather *gather)
{
	iommu_put_pages_list(&gather->freelist);
}
