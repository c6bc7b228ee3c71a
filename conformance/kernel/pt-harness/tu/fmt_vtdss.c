// SPDX-License-Identifier: GPL-2.0-only
/* 7.3 generic_pt VT-d second stage: the kernel's fmt/iommu_vtdss.c, unmodified, plus the harness glue. */
#include "drivers/iommu/generic_pt/fmt/iommu_vtdss.c"
#define GLUE_NAME "vtdss"
#define GLUE_INIT pt_iommu_vtdss_init
#define GLUE_ADDR_MASK VTDSS_FMT_OA
#define GLUE_CFG_SETUP(cfg, p) ((cfg).top_level = (p)->top)
#include "gpt_glue.h"
