/**
 * The public face of model/: the lifecycle oracle (what conformance/ feeds
 * executed steps into), the machines' shapes and coverage, and the replay of
 * recorded kernel answers. Everything else is internal to model/.
 */
export { createLifecycleOracle, type LifecycleOracle, type OracleOptions, type Verdict } from './oracle.ts';
export { coverageOf, machineShapes, type MachineCoverage, type MachineShape } from './coverage.ts';
