/**
 * `iommufd-spec serve --impl <name> [--profile 6.12|7.3]`: serve an
 * implementation over stdio with the adapter contract's JSON-lines protocol
 * (spec/contract/ADAPTER.md), so a client in any language — or another
 * iommufd-spec process with `--impl cmd:"iommufd-spec serve --impl …"` — can
 * drive it. stdout carries only protocol messages; diagnostics go to stderr.
 * Exits 0 when the client says bye or closes stdin; 2 on bad options.
 */
import type { Command } from 'commander';
import type { RegisterCommand } from './register.ts';
import { UsageError } from '../usage.ts';
import { isProfile, PROFILES, type Profile } from '../../spec/uapi/profiles.ts';
import { openAdapter, isAdapterSpec, registeredImplementations } from '../../conformance/adapter/open.ts';
import { serveStdio } from '../../conformance/adapter/stdio-server.ts';
import './implementations.ts';

interface ServeOptions {
  impl?: string;
  profile?: string;
}

function parseOptions(opts: ServeOptions): { impl: string; profile: Profile | undefined } {
  const impl = opts.impl;
  if (impl === undefined || impl === '') throw new UsageError("serve: option '--impl <name>' is required");
  if (!isAdapterSpec(impl)) {
    const known = registeredImplementations().map((r) => r.name).join(', ');
    throw new UsageError(`serve: --impl: unknown implementation '${impl}' (known: ${known}; or cmd:<command line>, or a path to a module exporting createAdapter)`);
  }
  const p = opts.profile;
  if (p !== undefined && !isProfile(p)) throw new UsageError(`serve: --profile: unknown profile '${p}' (expected ${PROFILES.join(' or ')})`);
  return { impl, profile: p };
}

export const register: RegisterCommand = (program: Command, setExit) => {
  program
    .command('serve')
    .description('serve an implementation over stdio (JSON lines, adapter contract v1; see spec/contract/ADAPTER.md)')
    .option('--impl <name>', 'implementation: stub, ref, cmd:<command line>, or a path to a module exporting createAdapter')
    .option('--profile <profile>', `kernel profile to serve (${PROFILES.join(' or ')}); a client's hello may also choose`)
    .action(async (opts: ServeOptions) => {
      const { impl, profile } = parseOptions(opts);
      await serveStdio(async (asked) => {
        if (asked !== null && profile !== undefined && asked !== profile) {
          throw new Error(`this server was started for profile ${profile}`);
        }
        return openAdapter(impl, { profile: asked ?? profile, stderr: 'inherit' });
      });
      setExit(0);
    });
};
