// Commands an operator runs on the server's machine, on its data directory
// and database rather than through the API: `hatoba admin backup` and
// `hatoba admin reset-password` (for when nobody can sign in any more).
import type { Command } from 'commander';
import { ConfigError, loadConfig, type ServerConfig } from '../../config/config.js';
import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { Accounts } from '../../auth/accounts.js';
import { AuditLog } from '../../auth/audit.js';
import { INITIAL_ADMIN, removeInitialAdminPassword } from '../../auth/initial-admin-password.js';
import { generatePassword } from '../../auth/secrets.js';
import { openDatabase } from '../../db/connect.js';
import { describeDatabase } from '../../db/location.js';
import { IdentityStore } from '../../db/identity.js';
import { RegistryError } from '../../formats/error-codes.js';
import { backupDataDir, DATABASE_FILE, DataDirError, requireDataDirectory, type BackupStep } from '../../storage/data-dir-backup.js';
import { CliError } from '../errors.js';
import { newPassword, passwordOptions } from '../prompt.js';

const MiB = 1024 * 1024;

export function registerDataDirCommands(program: Command): void {
  const admin = program.command('admin').description("operate on the server's data directory, on the server's machine");
  admin
    .command('backup')
    .description('copy the data directory (database, master.key, blobs) consistently while the server runs; start `hatoba serve --data-dir DEST` to restore')
    .argument('<dest>', 'a new directory for the backup')
    .option('-c, --config <file>', 'the server\'s YAML configuration file (for its data_dir)')
    .option('--data-dir <dir>', 'the data directory to back up (default: as `hatoba serve` finds it: ./data or HATOBA_DATA_DIR)')
    .option('--db <url>', "the server's database, if not its default sqlite:DATA_DIR/hatoba.db (HATOBA_DB)")
    .option('--json', 'print the report as JSON on stdout, no progress')
    .action(async (dest: string, opts: { config?: string; dataDir?: string; db?: string; json?: boolean }) => {
      const { dataDir, db } = serverConfigOf(opts);
      // The online copy is SQLite's backup API over the data directory; a
      // PostgreSQL database has its own tools, and its blobs may be elsewhere.
      if (db.engine !== 'sqlite' || db.path !== join(dataDir, DATABASE_FILE)) {
        throw new CliError(
          `hatoba admin backup copies an embedded data directory (SQLite in DATA_DIR/${DATABASE_FILE}), and this server's database is ${describeDatabase(db)}`,
          db.engine === 'postgres'
            ? 'back up PostgreSQL with pg_dump (see docs/backup.md), and keep HATOBA_MASTER_KEY with it: nothing was written'
            : `back up ${db.path} with sqlite3's .backup and the data directory beside it (see docs/backup.md): nothing was written`,
        );
      }
      const masterKeyInEnvironment = Boolean(process.env.HATOBA_MASTER_KEY);
      const progress = opts.json ? undefined : stepPrinter(process.stderr);
      let report;
      try {
        report = await backupDataDir(dataDir, dest, { masterKeyInEnvironment, onStep: progress?.step });
      } catch (err) {
        asCliError(err);
      } finally {
        progress?.done();
      }
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        return;
      }
      const { blobs } = report;
      process.stdout.write(
        `backed up ${report.source} to ${report.dest} in ${report.seconds.toFixed(1)} s: database ${mib(report.database.bytes)}, ` +
          `${blobs.files} blobs ${mib(blobs.bytes)} (${blobs.linked} hard-linked, ${blobs.copied} copied)\n`,
      );
      if (report.masterKey === 'environment') process.stdout.write('the master key is in HATOBA_MASTER_KEY, not in the backup: keep it with the backup, a restore needs it\n');
      else process.stdout.write('the backup holds master.key: keep it as secret as the data directory\n');
    });

  passwordOptions(
    admin
      .command('reset-password')
      .description("set a user's password directly in the data directory (offline: no sign-in needed; run it on the server's machine)")
      .argument('<username>')
      .option('-c, --config <file>', "the server's YAML configuration file (for its data_dir)")
      .option('--data-dir <dir>', 'the data directory (default: as `hatoba serve` finds it: ./data or HATOBA_DATA_DIR)')
      .option('--db <url>', "the server's database: sqlite:PATH or postgres://... (default: as `hatoba serve` finds it: sqlite:DATA_DIR/hatoba.db or HATOBA_DB)")
      .option('--revoke-tokens', "also revoke all the user's personal auth tokens"),
  ).action(async (username: string, opts: { config?: string; dataDir?: string; db?: string; password?: string; passwordStdin?: boolean; revokeTokens?: boolean }) => {
    const { dataDir, db: location } = serverConfigOf(opts);
    // A SQLite file must be there already: opening would create an empty one.
    if (location.engine === 'sqlite') {
      if (location.path === join(dataDir, DATABASE_FILE)) await requireDataDirectory(dataDir).catch(asCliError);
      else if (!existsSync(location.path)) throw new CliError(`no database at ${location.path}`, "give the server's --db (or HATOBA_DB)");
    }
    // Without a password given or a terminal to ask on, one is generated and printed once.
    const given = await newPassword(opts, false);
    const password = given ?? generatePassword();
    const db = await openDatabase(location).catch((err: unknown) => {
      if (err instanceof ConfigError) throw new CliError(err.message);
      throw new CliError(`cannot open the database ${describeDatabase(location)}: ${(err as Error).message}`);
    });
    try {
      const accounts = new Accounts(new IdentityStore(db), (name) => name === INITIAL_ADMIN && removeInitialAdminPassword(dataDir));
      await accounts.updateUser(username, { password, revokeTokens: opts.revokeTokens });
      await new AuditLog(accounts.identity).record({ principal: `local:${userInfo().username}`, action: 'user.reset-password', resource: username, result: 'allowed', detail: { offline: true, revokeTokens: Boolean(opts.revokeTokens) } });
    } catch (err) {
      if (err instanceof RegistryError) throw new CliError(err.message, err.code === 'NOT_FOUND' ? `list the users with: hatoba user get (signed in), or check the name` : undefined);
      throw err;
    } finally {
      await db.destroy();
    }
    if (given === undefined) process.stdout.write(`${password}\n`);
    process.stderr.write(
      `hatoba: the password of ${username} is reset${opts.revokeTokens ? ' and their auth tokens revoked' : ''}; ` +
        'bearer tokens from the old password stop working at once, a running server may accept the old password for up to a minute\n',
    );
  });
}

function asCliError(err: unknown): never {
  if (err instanceof DataDirError) throw new CliError(err.message, err.hint);
  throw err;
}

/** The data directory and database as `hatoba serve` would find them: flags, HATOBA_*, the config file, defaults. */
function serverConfigOf(opts: { config?: string; dataDir?: string; db?: string }): ServerConfig {
  try {
    return loadConfig({ file: opts.config, flags: { data_dir: opts.dataDir, db: opts.db } });
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, undefined, 2);
    throw err;
  }
}

function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

/** One line per step; on a terminal the blob count is redrawn in place, at most 10 times a second. */
function stepPrinter(out: NodeJS.WriteStream): { step: (s: BackupStep) => void; done: () => void } {
  const tty = out.isTTY && process.env.TERM !== 'dumb';
  let last = 0;
  let blobLine: string | undefined;
  const finishBlobLine = () => {
    if (blobLine) out.write(tty ? `\r${blobLine}\x1b[K\n` : `${blobLine}\n`);
    blobLine = undefined;
  };
  return {
    step(s) {
      if (s.step === 'blob') {
        blobLine = `hatoba: blobs: ${s.files} files, ${mib(s.bytes)}`;
        const now = Date.now();
        if (tty && now - last > 100) {
          out.write(`\r${blobLine}\x1b[K`);
          last = now;
        }
        return;
      }
      finishBlobLine();
      out.write(s.step === 'database' ? `hatoba: database copied (${mib(s.bytes)})\n` : 'hatoba: master.key copied\n');
    },
    done: finishBlobLine,
  };
}
