#!/usr/bin/env node
// Entry point of the `iommufd-spec` command: runs the TypeScript CLI through tsx,
// so it works from a fresh clone after `npm install` with no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv);
