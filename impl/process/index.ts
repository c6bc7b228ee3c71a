/** The simulated process (see process.ts), its files (file.ts) and physical memory (physmem.ts). */
export * from './physmem.ts';
export * from './file.ts';
export * from './process.ts';
