#!/usr/bin/env node
// The `hatoba` command. Front end only: it parses arguments and prints;
// the work is done by the layers below.
import { Command, Option } from 'commander';
import { existsSync, rmSync } from 'node:fs';
import { INITIAL_ADMIN, initialAdminPasswordFile } from '../auth/initial-admin-password.js';
import { useCaFile } from '../client/trust.js';
import { ConfigError, loadConfig } from '../config/config.js';
import { explain, isExpected, report } from './errors.js';
import { silenceSdkNodeVersionWarning } from './sdk-warnings.js';

silenceSdkNodeVersionWarning();

const program = new Command();
program
  .name('hatoba')
  .description('Hatoba: a private OCI / Docker container registry')
  .version('0.1.0')
  .option('--ca-file <file>', "trust this PEM CA bundle for HTTPS registries, besides the system's (also SSL_CERT_FILE)")
  .hook('preAction', (command) => useCaFile(command.opts<{ caFile?: string }>().caFile));

program
  .command('serve')
  .description('run the registry server (OCI distribution API under /v2/)')
  .option('-c, --config <file>', 'YAML configuration file (also HATOBA_CONFIG)')
  .option('--listen <host:port>', 'address to listen on (default 127.0.0.1:5000; HATOBA_LISTEN)')
  .option('--data-dir <dir>', 'where metadata (SQLite) and blobs are kept (default ./data; HATOBA_DATA_DIR)')
  .addOption(new Option('--log-level <level>', 'log level (HATOBA_LOG_LEVEL)').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
  .option('--workers <n>', 'server processes sharing the port (default 1; HATOBA_WORKERS)')
  .option('--storage <url>', 'where blobs live: file:PATH (default file:DATA_DIR/blobs) or s3://BUCKET[/PREFIX]?endpoint=URL&region=R (HATOBA_STORAGE)')
  .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate chain (with --tls-key; HATOBA_TLS_CERT); reloaded on SIGHUP')
  .option('--tls-key <file>', 'the PEM private key of --tls-cert (HATOBA_TLS_KEY)')
  .option('--tls-client-ca <file>', 'mutual TLS: require client certificates from this CA bundle (HATOBA_TLS_CLIENT_CA)')
  .option('--shutdown-grace <duration>', 'on SIGTERM, how long requests in flight may take to finish, e.g. 90s or 2m (default 30s; HATOBA_SHUTDOWN_GRACE)')
  .addOption(new Option('--shutdown-grace-seconds <n>', 'the same in seconds (HATOBA_SHUTDOWN_GRACE_SECONDS)').hideHelp())
  .option('--metrics-listen <host:port>', 'serve Prometheus /metrics, without authentication, on this address (off by default; HATOBA_METRICS_LISTEN)')
  .option('--db <url>', 'metadata database: sqlite:PATH (default sqlite:DATA_DIR/hatoba.db) or postgres://USER:PASSWORD@HOST:PORT/DB (HATOBA_DB)')
  .option('--http2', 'with TLS, offer HTTP/2 beside HTTP/1.1 (HATOBA_HTTP2=true)')
  .option('--no-http2', 'with TLS, serve HTTP/1.1 only (the default)')
  .action(async (opts: { config?: string; listen?: string; dataDir?: string; logLevel?: string; workers?: string; tlsCert?: string; tlsKey?: string; tlsClientCa?: string; shutdownGrace?: string; shutdownGraceSeconds?: string; metricsListen?: string; db?: string; storage?: string; http2?: boolean }) => {
    let config;
    try {
      // With both --http2 and --no-http2 defined, commander leaves http2 undefined unless one is given.
      config = loadConfig({
        file: opts.config,
        flags: {
          listen: opts.listen,
          data_dir: opts.dataDir,
          log_level: opts.logLevel as never,
          workers: opts.workers as never,
          tls_cert: opts.tlsCert,
          tls_key: opts.tlsKey,
          tls_client_ca: opts.tlsClientCa,
          shutdown_grace: opts.shutdownGrace as never,
          shutdown_grace_seconds: opts.shutdownGraceSeconds as never,
          metrics_listen: opts.metricsListen,
          db: opts.db,
          storage: opts.storage,
          http2: opts.http2,
        },
      });
    } catch (err) {
      exitOnConfigError(err);
    }
    // A first start that fails takes back the data directory it made, so
    // that the next start is a first start again (and shows the password).
    const freshDataDir = !existsSync(config.dataDir);
    const discardFreshDataDir = () => freshDataDir && rmSync(config.dataDir, { recursive: true, force: true });
    // Loaded here so that the client commands start without the server's modules.
    const { isWorker, startWorkers } = await import('../server/workers.js');
    if (config.workers > 1 && !isWorker()) {
      const workers = await startWorkers(config, config.workers, (line) => process.stderr.write(`hatoba: ${line}\n`)).catch((err: unknown) => {
        if (err instanceof ConfigError) exitOnConfigError(err);
        process.stderr.write(`hatoba: the workers could not start: ${(err as Error).message}\n`);
        discardFreshDataDir();
        process.exit(1);
      });
      announceAdmin(workers.createdAdminPassword, workers.url, config.dataDir);
      if (workers.metricsUrl) announceMetrics(workers.metricsUrl);
      process.stderr.write(`hatoba: listening on ${workers.url} (data in ${config.dataDir}, ${config.workers} workers)\n`);
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        process.stderr.write(`hatoba: ${signal}, shutting down (requests in flight get ${config.shutdownGraceMs / 1000} s)\n`);
        await workers.stop();
        process.exit(0);
      };
      process.on('SIGTERM', () => void stop('SIGTERM'));
      process.on('SIGINT', () => void stop('SIGINT'));
      return;
    }
    const { createServer } = await import('../server/app.js');
    // A setting that does not fit the data or its files (a master key that
    // opens nothing, an unusable certificate) is found only here.
    const server = await createServer(config).catch(exitOnConfigError);
    let url: string;
    try {
      url = await server.listen();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const hint = code === 'EADDRINUSE' ? ' (another process uses that port; pick another with --listen HOST:PORT)' : '';
      process.stderr.write(`hatoba: cannot listen on ${config.host}:${config.port}: ${(err as Error).message}${hint}\n`);
      await server.close();
      if (!isWorker()) discardFreshDataDir();
      process.exit(1);
    }
    if (!isWorker()) announceAdmin(server.createdAdminPassword, url, config.dataDir);
    if (server.metricsUrl) announceMetrics(server.metricsUrl);
    // A worker's primary announces the address for all of them.
    if (!isWorker()) process.stderr.write(`hatoba: listening on ${url} (data in ${config.dataDir})\n`);
    let closing = false;
    const shutdown = async (signal: string) => {
      if (closing) return;
      closing = true;
      // A worker's primary says it once for all of them.
      if (!isWorker()) process.stderr.write(`hatoba: ${signal}, shutting down (requests in flight get ${config.shutdownGraceMs / 1000} s)\n`);
      await server.close();
      process.exit(0);
    };
    process.on('SIGTERM', () => void shutdown('SIGTERM'));
    process.on('SIGINT', () => void shutdown('SIGINT'));
  });

/** A configuration problem is a message and exit code 2, not a stack trace. */
function exitOnConfigError(err: unknown): never {
  if (err instanceof ConfigError) {
    process.stderr.write(`hatoba: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}

function announceMetrics(url: string): void {
  process.stderr.write(`hatoba: metrics on ${url} (no authentication: keep this address private)\n`);
}

/**
 * The generated first password is shown on the terminal only (never in the
 * JSON log), and kept in DATA_DIR/initial-admin-password until the admin
 * changes it; later starts say where it is while it is there.
 */
function announceAdmin(password: string | undefined, url: string, dataDir: string): void {
  const file = initialAdminPasswordFile(dataDir);
  const host = url.replace(/^https?:\/\//, '');
  // skopeo and podman refuse plain HTTP unless told; this line must work as printed.
  const login = `skopeo login${url.startsWith('http:') ? ' --tls-verify=false' : ''} -u ${INITIAL_ADMIN} ${host}`;
  if (password) {
    process.stderr.write(`hatoba: created the first user "${INITIAL_ADMIN}" with password: ${password}\n`);
    process.stderr.write(`hatoba: it is also in ${file ?? 'the data directory'} until the admin changes it; sign in with: ${login}\n`);
  } else if (file) {
    process.stderr.write(`hatoba: the first admin's generated password is still in ${file} (removed once it is changed); sign in with: ${login}\n`);
  }
}

// The client commands (and their dependencies, such as the S3 SDK) are not
// loaded for `serve`, so the server process carries only what it runs.
if (process.argv[2] !== 'serve') {
  (await import('./commands/login.js')).registerLoginCommands(program);
  (await import('./commands/admin.js')).registerAdminCommands(program);
  (await import('./commands/tools.js')).registerToolCommands(program);
  (await import('./commands/image.js')).registerImageCommands(program);
  (await import('./commands/catalog.js')).registerCatalogCommands(program);
  (await import('./commands/data-dir.js')).registerDataDirCommands(program);
}

program.parseAsync(process.argv).catch((err: unknown) => {
  if (isExpected(err)) {
    // A failure the user can act on: the message and what to do next.
    const known = explain(err);
    report(known);
    process.exit(known.exitCode);
  }
  process.stderr.write(`hatoba: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
