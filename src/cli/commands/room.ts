import type { Command } from 'commander';
import { buildRestSchemas, parseRest } from '../../protocol/rest.js';
import { toWireRoom } from '../../protocol/events.js';
import { CliError, printJson, type CliIO } from '../io.js';
import { configFromFlags, withStoreFlags, type StoreFlags } from '../options.js';
import { withStore } from '../store.js';

interface CreateFlags extends StoreFlags {
  name: string;
  description?: string;
  public?: boolean;
  owner: string;
}

export function registerRoom(program: Command, io: CliIO): void {
  const room = program.command('room').description('manage rooms');
  withStoreFlags(
    room
      .command('create')
      .description('create a room owned by --owner (who becomes its first member); prints the room as JSON')
      .requiredOption('--name <name>', 'room name')
      // Required: a room's owner is its first member, and the schema has no owner-less rooms.
      .requiredOption('--owner <username>', 'the owning user')
      .option('--description <text>', 'room description')
      .option('--public', 'anyone may see and join it (private by default)'),
  ).action(async (flags: CreateFlags) => {
    const config = configFromFlags(flags, io);
    const body = parseRest(buildRestSchemas(config).createRoom, {
      name: flags.name,
      is_public: flags.public ?? false,
      ...(flags.description === undefined ? {} : { description: flags.description }),
    });
    const created = await withStore(config, async ({ store }) => {
      const owner = await store.getUserByUsername(flags.owner);
      if (!owner) throw new CliError(`no user named ${JSON.stringify(flags.owner)}`);
      return store.createRoom({
        name: body.name,
        description: body.description ?? null,
        isPublic: body.is_public ?? false,
        ownerId: owner.id,
      });
    }, { mustExist: true });
    printJson(io, toWireRoom(created));
  });
}
