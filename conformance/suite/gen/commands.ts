/**
 * The case arbitrary: fast-check commands for every ioctl the adapter reports
 * and every environment op it serves (fc.commands + fc.asyncModelRun), a
 * swarm subset and a case setting. A command is a *choice* generated before
 * anything runs; at run time it picks its operands from the model's pools
 * (gen/model.ts), builds a step template, runs it through the case session
 * (all oracles), and files what the implementation bound back into the pools
 * (gen/command.ts).
 *
 * The families: environment.ts, ioas.ts, vfio.ts, test-ops.ts, generic.ts;
 * their shared builders and pool queries in shared.ts; the constructors of
 * what a command needs in constructors.ts. The struct fields, flag bits, sizes
 * and reserved fields come from spec/uapi (gen/abi.ts applies the ABI defects
 * to every struct argument); the value strategies only say which pool or
 * which interesting value feeds which field. Commands the capability report
 * lacks are not generated.
 */
import fc from 'fast-check';
import type { Capabilities } from '../../../spec/contract/types.ts';
import type { Profile } from '../../../spec/uapi/profiles.ts';
import { type AbiChoice, abiChoiceFor } from './abi.ts';
import { type CaseSetting, DEFAULT_SETTING, GenModel } from './model.ts';
import { type CommandSpec, GenCommand, type SuiteCommand } from './command.ts';
import type { GenEnv } from './shared.ts';
import { envSpecs } from './environment.ts';
import { ioasSpecs } from './ioas.ts';
import { vfioSpecs } from './vfio.ts';
import { testSpecs } from './test-ops.ts';
import { genericSpecs } from './generic.ts';
import { makeEnsure } from './constructors.ts';

export interface GenerationOptions {
  /** Probability that a struct argument gets an ABI defect. Default 0.08. */
  readonly abiRate?: number;
  /** The session is not fresh between cases (a shared process without `reset`): no set_process,
   * whose changes would outlive the case while the oracles' reference starts from the defaults. */
  readonly sharedSession?: boolean;
  readonly maxCommands: number;
  /** Swarm testing: each case enables a random subset of command kinds. Default true. */
  readonly swarm?: boolean;
  /** fast-check's replayPath for the commands (with seed and path). */
  readonly replayPath?: string;
}

/** Command kinds every case keeps (without them nothing else can happen). */
const ESSENTIAL = new Set(['open', 'mem_alloc', 'IOMMU_IOAS_ALLOC', 'IOMMU_IOAS_MAP']);

export function commandSpecs(profile: Profile, caps: Capabilities, opts: Pick<GenerationOptions, 'abiRate'> = {}): CommandSpec<never>[] {
  const rate = opts.abiRate ?? 0.08;
  const abi = new Map<string, fc.Arbitrary<AbiChoice>>();
  const readOnlyArgs = caps.readOnlyArgs?.supported === true;
  const abiFor = (cmd: string, detaching = false, testOp?: string): fc.Arbitrary<AbiChoice> => {
    const key = `${cmd}${detaching ? '/detaching' : ''}${testOp ? `/${testOp}` : ''}`;
    return abi.get(key) ?? (abi.set(key, abiChoiceFor(profile, cmd, rate, readOnlyArgs, detaching, testOp)).get(key) as fc.Arbitrary<AbiChoice>);
  };
  const env: GenEnv = { profile, caps, abiFor };
  const specs = [...envSpecs(env), ...ioasSpecs(env), ...vfioSpecs(env), ...testSpecs(env)];
  const covered = new Set(specs.map((s) => s.kind.split('/')[0] as string));
  return [...specs, ...genericSpecs(env, covered)];
}

export interface GeneratedCase {
  readonly enabled: readonly string[] | undefined;
  /** How the process and contexts start (gen/model.ts CaseSetting); absent: the default. */
  readonly setting?: CaseSetting;
  readonly commands: Iterable<SuiteCommand>;
}

/** The arbitrary of one case: a swarm subset and the command sequence. */
export function caseArb(profile: Profile, caps: Capabilities, opts: GenerationOptions): fc.Arbitrary<GeneratedCase> {
  const specs = commandSpecs(profile, caps, opts).filter((s) => !(opts.sharedSession && s.kind.split('/')[0] === 'set_process'));
  const ensure = makeEnsure(profile, specs);
  const cmdArb = fc.oneof(...specs.map((s) => ({ weight: s.weight, arbitrary: s.arb.map((c) => new GenCommand(s, c, ensure) as SuiteCommand) })));
  const commands = fc.commands([cmdArb], { maxCommands: opts.maxCommands, size: 'max', ...(opts.replayPath && { replayPath: opts.replayPath }) });
  const kinds = specs.map((s) => s.kind).filter((k) => !ESSENTIAL.has(k));
  const swarm = opts.swarm === false ? fc.constant(undefined) : fc.oneof({ weight: 1, arbitrary: fc.constant(undefined) }, { weight: 3, arbitrary: fc.subarray(kinds, { minLength: Math.min(3, kinds.length) }).map((s) => [...ESSENTIAL, ...s]) });
  // The IOMMU unit of the first device a constructor makes varies per case
  // (each page-table format and IOTLB gets the common sequences), and one case
  // in three starts unprivileged and/or in MM accounting, mostly under a limit
  // of a few pages (where the accounting's error paths run: a pin refused
  // half-way); shrinks to the default. (One case in two took the large
  // leaves' scenarios out of too many cases: a small limit refuses 2 MiB.)
  const setting: fc.Arbitrary<CaseSetting> = fc
    .record({
      unit: fc.nat(Math.max(0, caps.iommus.length - 1)),
      process: fc.oneof(
        { weight: 2, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.record({ unprivileged: fc.boolean(), mmAccounting: fc.boolean(), rlimit: fc.constantFrom<bigint | undefined>(undefined, 32768n, 65536n, 32768n, 65536n, 1n << 20n, 8n << 20n) }, { requiredKeys: ['unprivileged', 'mmAccounting'] }) },
      ),
    })
    .map(({ unit, process }) => ({ ...DEFAULT_SETTING, ...process, unit }));
  return fc.record({ enabled: swarm, setting, commands }) as fc.Arbitrary<GeneratedCase>;
}

export function newModel(profile: Profile, caps: Capabilities, enabled: readonly string[] | undefined, setting?: CaseSetting): GenModel {
  return new GenModel(profile, caps, enabled ? new Set(enabled) : undefined, setting);
}

