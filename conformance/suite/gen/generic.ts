/**
 * Commands the capability report supports that no specific family covers:
 * fields from the struct's layout, ids from the pools.
 */
import fc from 'fast-check';
import { commandsFor } from '../../../spec/uapi/lookup.ts';
import { arbStruct } from '../../../spec/abi/arbitrary.ts';
import { requireLayout } from '../../../spec/uapi/layout.ts';
import { Ref, type Tmpl } from '../step.ts';
import type { AbiChoice } from './abi.ts';
import type { CtxEntry, ObjKind } from './model.ts';
import { type IdChoice, idChoice, idOf } from './values.ts';
import type { CommandSpec } from './command.ts';
import { ctxK, ctxOf, type GenEnv, ioctlStep, supported } from './shared.ts';

/** Commands the capability report supports that no specific generator covers: fields from the struct's layout, ids from the pools. */
export function genericSpecs(env: GenEnv, covered: ReadonlySet<string>): CommandSpec<never>[] {
  const specs: CommandSpec<never>[] = [];
  const add = <C,>(spec: CommandSpec<C>): void => {
    specs.push(spec as unknown as CommandSpec<never>);
  };
  for (const cmd of commandsFor(env.profile)) {
    if (covered.has(cmd.name) || !supported(env.caps, cmd.name) || !cmd.struct || cmd.testOnly) continue;
    if (cmd.fd !== 'iommufd') continue;
    const struct = cmd.struct;
    add({
      kind: cmd.name,
      weight: 1,
      arb: fc.record({ ctx: ctxK, values: arbStruct(env.profile, struct), ids: fc.array(idChoice, { minLength: 4, maxLength: 4 }), abi: env.abiFor(cmd.name) }),
      needs: ['ctx'], ready: () => true,
      build: (m, c) => {
        const ctx = ctxOf(m, c.ctx) as CtxEntry;
        const layout = requireLayout(env.profile, struct);
        const fields: { [k: string]: Tmpl } = {};
        let i = 0;
        for (const f of layout.root.fields) {
          const role = f.def?.role;
          if (role === 'size' || role === 'argsz') continue;
          if (role === 'reserved') continue;
          if (role === 'flags') {
            fields[f.name] = 0;
            continue;
          }
          if (/_id$/.test(f.name) && f.kind === 'scalar') {
            const kind: ObjKind = /ioas/.test(f.name) ? 'ioas' : /dev/.test(f.name) ? 'devid' : 'hwpt';
            fields[f.name] = idOf(c.ids[i++ % 4] as IdChoice, m, ctx.name, [kind]).id;
            continue;
          }
          if (f.kind === 'scalar' && f.scalar === 'ptr') {
            const dir = f.def?.pointee?.dir;
            fields[f.name] = dir === 'in' ? { data: new Uint8Array(16) } : { room: 64 };
            continue;
          }
          const val = c.values[f.name];
          if (val !== undefined) fields[f.name] = val as Tmpl;
        }
        return ioctlStep(env, cmd.name, new Ref(ctx.name), fields, c.abi);
      },
    } satisfies CommandSpec<{ ctx: number; values: { [k: string]: unknown }; ids: IdChoice[]; abi: AbiChoice }>);
  }
  return specs;
}
