/**
 * The operator CLI: `buildProgram(io)` makes the command tree (testable in-process with captured
 * output), `run(argv, io)` runs it and turns every failure into a message and an exit code.
 *
 * Exit codes: 0 done (and --help); 1 failed (commander usage errors too); 2 invalid configuration;
 * 3 the data directory is owned by a running server.
 */
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/index.js';
import { isChatError } from '../errors.js';
import { StoreLockedError } from '../store/pglite/lock.js';
import { registerAudit } from './commands/audit.js';
import { registerBench } from './commands/bench.js';
import { registerMigrate } from './commands/migrate.js';
import { registerConfig } from './commands/config.js';
import { registerRoom } from './commands/room.js';
import { registerStart } from './commands/start.js';
import { registerStatus } from './commands/status.js';
import { registerToken } from './commands/token.js';
import { registerUser } from './commands/user.js';
import { CliError, processIO, type CliIO } from './io.js';
import { VERSION } from '../version.js';


function buildProgram(io: CliIO = processIO()): Command {
  const program = new Command('veza-chat')
    .description('veza-chat: real-time chat server')
    .version(VERSION)
    // Set before the sub-commands are made: they copy these settings from their parent.
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showHelpAfterError('(add --help for usage)')
    .allowExcessArguments(false);
  registerStart(program, io);
  registerMigrate(program, io);
  registerUser(program, io);
  registerToken(program, io);
  registerRoom(program, io);
  registerAudit(program, io);
  registerConfig(program, io);
  registerBench(program, io);
  registerStatus(program, io);
  return program;
}

/** Run the CLI on `argv` (the user's arguments, without `node` and the script); the exit code. */
export async function run(argv: readonly string[], io: CliIO = processIO()): Promise<number> {
  try {
    await buildProgram(io).parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (e) {
    return report(e, io);
  }
}

/**
 * A failure the operator fixes, not a bug: the port is taken, the data directory is a file or
 * unwritable, another process holds it. Its message says it all; a stack would only hide it.
 * `start` wraps these in its StartError (src/node/start.ts), named, as this module does not load
 * the server.
 */
function operatorError(e: unknown): { message: string; exitCode: number } | null {
  if (!(e instanceof Error)) return null;
  const cause = e.name === 'StartError' ? e.cause : e;
  // As withStore says it (src/cli/store.ts): exit 3.
  if (cause instanceof StoreLockedError) return { message: e.message, exitCode: 3 };
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  if (cause instanceof Error && typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return { message: e.message, exitCode: 1 };
  return null;
}

function report(e: unknown, io: CliIO): number {
  // Commander has already printed its own message (or the help).
  if (e instanceof CommanderError) return e.exitCode;
  if (e instanceof CliError) {
    io.err(`veza-chat: ${e.message}\n`);
    return e.exitCode;
  }
  if (e instanceof ConfigError) {
    io.err(`veza-chat: ${e.message}\n`);
    return 2;
  }
  if (isChatError(e) && e.code !== 'internal') {
    const details = e.details?.map((d) => `\n  ${d.path || '(input)'}: ${d.message}`).join('') ?? '';
    io.err(`veza-chat: ${e.code}: ${e.message}${details}\n`);
    return 1;
  }
  const operator = operatorError(e);
  if (operator !== null) {
    io.err(`veza-chat: ${operator.message}\n`);
    return operator.exitCode;
  }
  // A bug or an unexpected failure: the stack helps whoever reports it.
  const err = isChatError(e) && e.cause !== undefined ? e.cause : e;
  io.err(`veza-chat: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return 1;
}
