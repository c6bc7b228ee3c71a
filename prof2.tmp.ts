import { runSuite } from './conformance/suite/runner.ts';
for (const oracle of ['invariants', 'full'] as const) {
const t0 = performance.now();
const r = await runSuite({ impl: 'ref', profile: '7.3', seed: 3, runs: 8, maxCommands: Number(process.argv[2] ?? 300), oracle, blockSize: 8, stabilityEvery: 0 });
const ms = performance.now() - t0;
const cmds = r.blocks.reduce((n, b) => n + b.commands, 0);
console.log(oracle, 'ms', Math.round(ms), 'cmds', cmds, 'per s', Math.round(cmds / (ms / 1000)), r.verdict, r.failure?.objections[0]?.message.slice(0, 300) ?? '');
}
