/** Where a command writes, and the one error type a command throws for the operator to read. */
export interface CliIO {
  /** Results (JSON, tokens): what a script pipes on. */
  out(text: string): void;
  /** Messages for the operator. */
  err(text: string): void;
  env: NodeJS.ProcessEnv;
}

export const processIO = (): CliIO => ({
  out: (s) => void process.stdout.write(s),
  err: (s) => void process.stderr.write(s),
  env: process.env,
});

/** A failure the operator can act on: printed as `veza-chat: <message>`, no stack; exits non-zero. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1, opts?: { cause?: unknown }) {
    super(message, opts);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

export const printJson = (io: CliIO, value: unknown): void => io.out(JSON.stringify(value, null, 2) + '\n');
