// Commands an operator runs on the server's machine, on its data directory
// rather than through the API: `hatoba admin backup`.
import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../../config/config.js';
import { backupDataDir, BackupError, type BackupStep } from '../../storage/data-dir-backup.js';
import { CliError } from '../errors.js';

const MiB = 1024 * 1024;

export function registerDataDirCommands(program: Command): void {
  const admin = program.command('admin').description("operate on the server's data directory, on the server's machine");
  admin
    .command('backup')
    .description('copy the data directory (database, master.key, blobs) consistently while the server runs; start `hatoba serve --data-dir DEST` to restore')
    .argument('<dest>', 'a new directory for the backup')
    .option('-c, --config <file>', 'the server\'s YAML configuration file (for its data_dir)')
    .option('--data-dir <dir>', 'the data directory to back up (default: as `hatoba serve` finds it: ./data or HATOBA_DATA_DIR)')
    .option('--json', 'print the report as JSON on stdout, no progress')
    .action(async (dest: string, opts: { config?: string; dataDir?: string; json?: boolean }) => {
      let dataDir: string;
      let masterKeyInEnvironment: boolean;
      try {
        const config = loadConfig({ file: opts.config, flags: { data_dir: opts.dataDir } });
        dataDir = config.dataDir;
        masterKeyInEnvironment = config.masterKey !== undefined;
      } catch (err) {
        if (err instanceof ConfigError) throw new CliError(err.message, undefined, 2);
        throw err;
      }
      const progress = opts.json ? undefined : stepPrinter(process.stderr);
      let report;
      try {
        report = await backupDataDir(dataDir, dest, { masterKeyInEnvironment, onStep: progress?.step });
      } catch (err) {
        if (err instanceof BackupError) throw new CliError(err.message, err.hint);
        throw err;
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
