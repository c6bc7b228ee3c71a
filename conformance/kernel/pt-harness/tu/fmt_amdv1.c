// SPDX-License-Identifier: GPL-2.0-only
/* 7.3 generic_pt AMD v1: the kernel's fmt/iommu_amdv1.c, unmodified, plus the harness glue. */
#include "drivers/iommu/generic_pt/fmt/iommu_amdv1.c"
#define GLUE_NAME "amdv1"
#define GLUE_INIT pt_iommu_amdv1_init
#define GLUE_ADDR_MASK AMDV1PT_FMT_OA
#define GLUE_CFG_SETUP(cfg, p) ((cfg).starting_level = (p)->top)
#include "gpt_glue.h"
