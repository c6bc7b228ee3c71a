// SPDX-License-Identifier: GPL-2.0-only
/* 7.3 generic_pt x86-64 (VT-d first stage, AMD v2): the kernel's fmt/iommu_x86_64.c, unmodified, plus the harness glue. */
#include "drivers/iommu/generic_pt/fmt/iommu_x86_64.c"
#define GLUE_NAME "x86_64"
#define GLUE_INIT pt_iommu_x86_64_init
#define GLUE_ADDR_MASK X86_64_FMT_OA
#define GLUE_CFG_SETUP(cfg, p) ((cfg).top_level = (p)->top)
#include "gpt_glue.h"
