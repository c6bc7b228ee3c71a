// Placeholder so the CLI assembles while the owner writes the real `bench` command; replace freely.
import type { RegisterCommand } from './index.ts';

export const register: RegisterCommand = () => {};
