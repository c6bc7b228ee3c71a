import { type Clause } from './types.ts';
export const clauses: Clause[] = [];
