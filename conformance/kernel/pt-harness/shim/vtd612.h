/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What 6.12's intel/iommu.c page-table functions need around them: the PTE
 * macros, struct dma_pte and the level/PTE inline helpers are the kernel's
 * (vtd612_defs.h, vtd612_fns.h, cut verbatim from intel/iommu.h and
 * intel/iommu.c by build.ts); struct dmar_domain is reduced to the members
 * those functions read.
 */
#ifndef KSHIM_VTD612_H
#define KSHIM_VTD612_H
#include <linux/iommu.h>
#include "drivers/iommu/iommu-pages.h"

#include "vtd612_defs.h"

struct dmar_domain {
	int nid;
	u8 iommu_coherency : 1;
	u8 force_snooping : 1;
	u8 set_pte_snp : 1;
	u8 use_first_level : 1;
	u8 dirty_tracking : 1;
	u8 nested_parent : 1;
	u8 has_mappings : 1;
	u8 iotlb_sync_map : 1;
	int iommu_superpage;
	struct dma_pte *pgd;
	int gaw;
	int agaw;
	u64 max_addr;
	struct iommu_domain domain;
};

/* No IOTLB, no DMA API debugging in the harness. */
#define cache_tag_flush_range(domain, start, end, ih) do { } while (0)
#define debug_dma_dump_mappings(dev) do { } while (0)
#endif
