/**
 * vitest `setupFiles`: runs in every worker before its test files, so the
 * property budget of spec/testing/property-budget.ts (IOMMUFD_SPEC_BUDGET,
 * IOMMUFD_SPEC_SEED) holds for every fast-check property, whichever thread
 * runs it.
 */
import { budgetFromEnv, installBudget } from './property-budget.ts';

installBudget(budgetFromEnv());
