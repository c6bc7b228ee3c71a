/** The command table of a profile as rows, for the CLI and docs (`iommufd-spec` can print it). */
import { commandMinSize, commandStructSize, commandsFor } from './lookup.ts';
import type { Profile } from './profiles.ts';
import type { ArgKind, FdKind } from './types.ts';

export interface CommandRow {
  readonly name: string;
  readonly nr: number;
  /** e.g. "0x3b80". */
  readonly request: string;
  readonly fd: FdKind;
  readonly arg: ArgKind;
  readonly struct: string | null;
  readonly size: number | null;
  readonly minSize: number | null;
  readonly handler: string;
  readonly testOnly: boolean;
}

export function commandTable(profile: Profile): CommandRow[] {
  return commandsFor(profile)
    .map((c) => ({
      name: c.name,
      nr: c.nr,
      request: `0x${c.request.toString(16)}`,
      fd: c.fd,
      arg: c.arg,
      struct: c.struct ?? null,
      size: commandStructSize(profile, c) ?? null,
      minSize: commandMinSize(profile, c) ?? null,
      handler: c.handler,
      testOnly: c.testOnly ?? false,
    }))
    .sort((a, b) => a.nr - b.nr);
}

/** The same as a Markdown table. */
export function commandTableMarkdown(profile: Profile): string {
  const head = '| nr | request | command | fd | argument | struct | sizeof | min |\n|---|---|---|---|---|---|---|---|';
  const rows = commandTable(profile).map(
    (r) => `| 0x${r.nr.toString(16)} | ${r.request} | ${r.name}${r.testOnly ? ' (CONFIG_IOMMUFD_TEST)' : ''} | ${r.fd} | ${r.arg} | ${r.struct ?? '—'} | ${r.size ?? '—'} | ${r.minSize ?? '—'} |`,
  );
  return [head, ...rows].join('\n');
}
