// SPDX-License-Identifier: GPL-2.0-only
/*
 * 7.3 iommufd selftest mock (AMDv1, 2 KiB granule): the kernel's
 * fmt/iommu_mock.c, unmodified, plus the harness glue. Set up as
 * iommufd/selftest.c mock_domain_alloc_pgtable does (vasz 56, oasz 51,
 * starting level 2; MOCK_IOMMUPT_HUGE restricts pgsize_bitmap to 1 MiB | 4 KiB,
 * passed as pgmask).
 */
#include "drivers/iommu/generic_pt/fmt/iommu_mock.c"
#define GLUE_NAME "mock"
#define GLUE_INIT pt_iommu_amdv1_mock_init
#define GLUE_ADDR_MASK AMDV1PT_FMT_OA
#define GLUE_CFG_SETUP(cfg, p) ((cfg).starting_level = (p)->top)
/* mock_domain_alloc_pgtable: the default (not huge) table gets the MOCK aperture. */
#include "mock_defs.h"
#define GLUE_POST_INIT(domain, p)                                            \
	do {                                                                 \
		if (!(p)->huge) {                                            \
			(domain)->geometry.aperture_start = MOCK_APERTURE_START; \
			(domain)->geometry.aperture_end = MOCK_APERTURE_LAST;    \
		}                                                            \
	} while (0)
#include "gpt_glue.h"
