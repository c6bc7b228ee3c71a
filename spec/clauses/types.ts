/**
 * A spec clause: one normative rule of the iommufd uAPI, with a stable id, where
 * the kernel implements it, the profiles it holds for, and the checks that
 * verify it. Clause files (spec/clauses/<area>.ts) export `clauses: Clause[]`.
 *
 * Errno clauses of one command are listed in the kernel's check order: when
 * several checks fail, the first clause in file order names the errno returned.
 */
export type Profile = '6.12' | '7.3';

export type ClauseKind =
  | 'abi' // dispatch and struct-size rules
  | 'errno' // one failing check of one command
  | 'state' // a state change a successful command makes
  | 'lifecycle' // object creation, references, destruction
  | 'security' // an isolation / confinement / coherency invariant
  | 'accounting'; // pinning and locked-memory accounting

export interface ClauseSource {
  /** Kernel file, relative to the tree root, e.g. drivers/iommu/iommufd/ioas.c */
  readonly file: string;
  /** The function that implements the rule, e.g. iommufd_ioas_map */
  readonly function: string;
}

export interface Clause {
  /** Stable id: <COMMAND-OR-AREA>.<RULE>, upper case with dots, e.g. IOAS_MAP.OVERLAP */
  readonly id: string;
  /** One or two sentences, normative. */
  readonly statement: string;
  readonly kind: ClauseKind;
  readonly source: ClauseSource;
  readonly profiles: readonly Profile[];
  /** Names of checks (see spec/clauses/check.ts) that fail when the rule breaks. */
  readonly checks: readonly string[];
  /** The command the rule is about (spec data name, e.g. IOMMU_IOAS_MAP), if one. */
  readonly command?: string;
  /** For errno clauses: the errno name, e.g. EEXIST. */
  readonly errno?: string;
  /**
   * For rules the lifecycle machines (model/) implement: the errnos the rule
   * decides — a machine guard or transition names this clause and refuses
   * with one of these errnos exactly when the rule says so (empty for a rule
   * that only changes state). Every lifecycle clause lists them.
   */
  readonly decides?: readonly string[];
  /**
   * The events the rule is about when `command` alone does not say: IOMMU_TEST_CMD
   * test ops by name (IOMMU_TEST_OP_PASID_ATTACH), several commands, or
   * environment ops (close, kvm_vfio_add). model/ reads it to know which
   * refusals of which event a rule decides.
   */
  readonly events?: readonly string[];
}

export const BOTH: readonly Profile[] = ['6.12', '7.3'];
