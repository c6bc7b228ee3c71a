import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from './commands/index.ts';
import { commandsFor } from './main.ts';

describe('cli: lazily loaded subcommands', () => {
  it("the top-level listing's table matches what every command module registers", async () => {
    const program = new Command('iommufd-spec');
    for (const c of COMMANDS) (await c.load())(program, () => {});
    const help = program.createHelp();
    const registered = program.commands.map((cmd) => ({ name: cmd.name(), term: help.subcommandTerm(cmd), summary: cmd.description() }));
    expect(registered).toEqual(COMMANDS.map(({ name, term, summary }) => ({ name, term, summary })));
  }, 120_000);

  it('a command line that names a command registers that command only; the help listing registers them all', async () => {
    const named = await commandsFor(['node', 'iommufd-spec', 'merge', '--help']);
    const one = new Command('iommufd-spec');
    for (const r of named) r(one, () => {});
    expect(one.commands.map((c) => c.name())).toEqual(['merge']);
    const viaHelp = new Command('iommufd-spec');
    for (const r of await commandsFor(['node', 'iommufd-spec', 'help', 'replay'])) r(viaHelp, () => {});
    expect(viaHelp.commands.map((c) => c.name())).toEqual(['replay']);
    const all = new Command('iommufd-spec');
    for (const r of await commandsFor(['node', 'iommufd-spec', '--help'])) r(all, () => {});
    expect(all.commands.map((c) => c.name())).toEqual(COMMANDS.map((c) => c.name));
  }, 120_000);
});

describe('cli: named implementations', () => {
  it('every command that takes --impl imports the registrations of the kernel lanes and the mutants', () => {
    const dir = new URL('./commands/', import.meta.url);
    const missing = readdirSync(dir)
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
      .filter((f) => /'--impl /.test(readFileSync(new URL(f, dir), 'utf8')))
      .filter((f) => !/^import '\.\/implementations\.ts';$/m.test(readFileSync(new URL(f, dir), 'utf8')));
    expect(missing).toEqual([]);
  });

  it('a mutant name resolves in a command loaded on its own (exec)', () => {
    const r = spawnSync(process.execPath, ['bin/iommufd-spec.mjs', 'exec', '--impl', 'mutant:write-permission-ignored', 'conformance/programs/corpus/errnos/ioas_alloc.json'], { encoding: 'utf8', timeout: 120_000 });
    expect(r.stderr).not.toMatch(/unknown implementation/);
    expect(r.status).toBe(0);
  }, 150_000);
});
