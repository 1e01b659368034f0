/** The package's version (package.json `version`; test/package.ts checks they agree). */
export const VERSION = '0.1.0';
