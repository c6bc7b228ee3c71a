/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * <linux/iommu.h> for the harness: the prot bits, struct iommu_iotlb_gather,
 * struct iommu_dirty_bitmap and the gather/sync/dirty helpers are copied out
 * of the profile's own include/linux/iommu.h by build.ts (kshim_iommu_types.h,
 * kshim_iommu_fns.h). Only struct iommu_domain and its ops table are written
 * here, reduced to the members the page-table code and the iommu core's
 * map/unmap loops use.
 */
#ifndef KSHIM_IOMMU_H
#define KSHIM_IOMMU_H

#include "kshim.h"

struct iommu_domain;
struct iommu_iotlb_gather;
struct iommu_dirty_bitmap;

#include "kshim_iommu_types.h"

struct iommu_domain_ops {
	int (*map_pages)(struct iommu_domain *domain, unsigned long iova,
			 phys_addr_t paddr, size_t pgsize, size_t pgcount,
			 int prot, gfp_t gfp, size_t *mapped);
	size_t (*unmap_pages)(struct iommu_domain *domain, unsigned long iova,
			      size_t pgsize, size_t pgcount,
			      struct iommu_iotlb_gather *iotlb_gather);
	void (*flush_iotlb_all)(struct iommu_domain *domain);
	int (*iotlb_sync_map)(struct iommu_domain *domain, unsigned long iova,
			      size_t size);
	void (*iotlb_sync)(struct iommu_domain *domain,
			   struct iommu_iotlb_gather *iotlb_gather);
	phys_addr_t (*iova_to_phys)(struct iommu_domain *domain, dma_addr_t iova);
};

struct iommu_dirty_ops {
	int (*set_dirty_tracking)(struct iommu_domain *domain, bool enabled);
	int (*read_and_clear_dirty)(struct iommu_domain *domain,
				    unsigned long iova, size_t size,
				    unsigned long flags,
				    struct iommu_dirty_bitmap *dirty);
};

struct iommu_domain {
	unsigned type;
	bool is_iommupt;
	const struct iommu_domain_ops *ops;
	const struct iommu_dirty_ops *dirty_ops;
	unsigned long pgsize_bitmap;
	struct iommu_domain_geometry geometry;
};

/* The harness records dirty ranges (drivers/iommu/iommufd/iova_bitmap.c in the kernel). */
void iova_bitmap_set(struct iova_bitmap *bitmap, unsigned long iova, size_t length);

#include "kshim_iommu_fns.h"

#endif
