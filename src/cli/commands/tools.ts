// Commands around the registry rather than in it: `hatoba auth
// configure-docker` (docker, podman and skopeo sign in through
// docker-credential-hatoba), `hatoba k8s pull-secret` (a Secret exactly as
// kubectl makes it), and `hatoba s3 ls|get` (the seed workflow's bucket).
import { Command, Option } from 'commander';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { S3Error, S3Source, defaultFiles, parseS3Url, resolveS3Settings, type S3Flags } from '../../client/s3.js';
import { checkHelperRunnable, configureDocker, ConfigureDockerError, HELPER_INSTALL_HINT, moveAuthsToHelper } from '../../credentials/configure-docker.js';
import { dockerConfigPath } from '../../credentials/docker-config.js';
import { formatPullSecret, PullSecretError } from '../../formats/k8s-pull-secret.js';
import { expiryDays, expiryOptions, type ExpiryOptions } from '../duration-flags.js';
import { CliError } from '../errors.js';
import { readStdinSecret } from '../prompt.js';
import { openSession } from '../session.js';

/** A pull secret's token lives a year unless asked otherwise. */
const DEFAULT_PULL_TOKEN_DAYS = 365;

export function registerToolCommands(program: Command): void {
  const auth = program.command('auth').description('set up other tools to sign in with Hatoba credentials');
  auth
    .command('configure-docker')
    .description('make docker, podman and skopeo use docker-credential-hatoba for the given registries (credHelpers in the Docker config)')
    .argument('<servers...>', 'registries as host[:port]')
    .action(async (servers: string[]) => {
      try {
        // Checked first: credHelpers naming a helper docker cannot run breaks docker login and pull.
        const check = await checkHelperRunnable();
        if (!check.ok) throw new CliError(`${check.reason}; docker, skopeo and podman would not be able to sign in, so ${dockerConfigPath()} was left as it is`, HELPER_INSTALL_HINT);
        const file = dockerConfigPath();
        const result = await configureDocker(file, servers);
        for (const r of result.replaced) process.stderr.write(`hatoba: ${r.server} used docker-credential-${r.previous}; it now uses docker-credential-hatoba\n`);
        process.stdout.write(result.changed ? `updated ${result.path}: ${result.servers.join(', ')} -> docker-credential-hatoba\n` : `${result.path} already sends ${result.servers.join(', ')} to docker-credential-hatoba\n`);
        // docker looks only in the helper now: what hatoba login left in "auths" goes there.
        const moved = await moveAuthsToHelper(file, result.servers);
        if (moved.length > 0) process.stdout.write(`moved the stored credentials of ${moved.join(', ')} from "auths" into docker-credential-hatoba\n`);
        const missing = result.servers.filter((s) => !moved.includes(s));
        for (const s of missing) process.stderr.write(`hatoba: no credentials stored for ${s} yet; sign in with: hatoba login ${s} (or docker login ${s})\n`);
      } catch (err) {
        if (err instanceof ConfigureDockerError) throw new CliError(err.message);
        throw err;
      }
    });

  const k8s = program.command('k8s').description('Kubernetes helpers');
  expiryOptions(k8s.command('pull-secret'), `with --new-token: the token expires after this long (default ${DEFAULT_PULL_TOKEN_DAYS}d)`)
    .description('print a kubernetes.io/dockerconfigjson Secret exactly as `kubectl create secret docker-registry --dry-run=client` does')
    .argument('<name>', 'name of the Secret')
    .option('--docker-server <server>', 'registry address (kubectl default: https://index.docker.io/v1/)')
    .option('--docker-username <user>', 'user name, e.g. <tenancy-namespace>/<user>')
    .option('--docker-password <password>', 'password or auth token (any characters; quote it for the shell)')
    .option('--docker-password-stdin', 'read the password from stdin')
    .option('--docker-email <email>', 'email (left out when not given, as kubectl does)')
    .option('--from-login', 'with --new-token: sign in with the credentials stored for --docker-server (hatoba login or docker login)')
    .option('--new-token', 'with --from-login: create a personal auth token for the Secret (scope pull only, expiring), named k8s-pull-secret-NAME')
    .option('-n, --namespace <namespace>', 'Kubernetes namespace of the Secret')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['yaml', 'json']).default('yaml'))
    .action(async (name: string, opts: PullSecretOpts) => {
      const { username, password } = await pullSecretCredentials(name, opts);
      try {
        process.stdout.write(
          formatPullSecret({ name, namespace: opts.namespace, server: opts.dockerServer, username, password, email: opts.dockerEmail, output: opts.output }),
        );
      } catch (err) {
        if (err instanceof PullSecretError) throw new CliError(err.message);
        throw err;
      }
    });

  const s3 = program.command('s3').description('read from S3-compatible buckets (AWS S3, Ceph RGW, MinIO, StorageGRID)');
  const s3Options = (cmd: Command) =>
    cmd
      .option('--endpoint <url>', 'S3 endpoint URL (else AWS_ENDPOINT_URL, ~/.aws/config endpoint_url, or host_base in ~/.s3cfg)')
      .option('--region <region>', 'region (else AWS_REGION, the AWS config, or us-east-1)')
      .option('--access-key <id>', 'access key id (else AWS_ACCESS_KEY_ID, ~/.aws/credentials, or ~/.s3cfg)')
      .option('--secret-key <secret>', 'secret access key (prefer AWS_SECRET_ACCESS_KEY or the credentials files)')
      .option('--profile <name>', 'profile of the AWS files (else AWS_PROFILE or default)');
  s3Options(s3.command('ls').description('list objects under s3://BUCKET[/PREFIX]').argument('<url>', 's3://BUCKET[/PREFIX]')).action(
    async (url: string, opts: S3Flags) =>
      withS3(opts, async (source) => {
        const location = parseS3Url(url);
        for await (const o of source.list(location)) {
          process.stdout.write(`${(o.modified?.toISOString() ?? '').slice(0, 19).replace('T', ' ')}  ${String(o.size).padStart(12)}  s3://${location.bucket}/${o.key}\n`);
        }
      }),
  );
  s3Options(
    s3
      .command('get')
      .description('download s3://BUCKET/KEY to a file (streamed; `-` writes to stdout)')
      .argument('<url>', 's3://BUCKET/KEY')
      .argument('[file]', 'destination (default: the key\'s file name in the current directory)'),
  ).action(async (url: string, file: string | undefined, opts: S3Flags) =>
    withS3(opts, async (source) => {
      const location = parseS3Url(url);
      if (!location.key || location.key.endsWith('/')) throw new CliError(`${url} names no object`, `list it with: hatoba s3 ls ${url}`);
      const target = file ?? basename(location.key);
      const { body, size } = await source.open(location);
      if (target === '-') {
        await pipeline(body, process.stdout);
        return;
      }
      try {
        await pipeline(body, createWriteStream(target, { flags: 'wx' }));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') throw new CliError(`${target} already exists`, 'name another file, or remove it first');
        await rm(target, { force: true });
        // The local file system's refusals are the user's to fix, not bugs.
        if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR' || code === 'ENOSPC' || code === 'EROFS') {
          throw new CliError(`cannot write ${target}: ${(err as Error).message}`, code === 'ENOSPC' ? 'free some space, or write elsewhere' : 'check that its directory exists and is writable');
        }
        throw err;
      }
      process.stderr.write(`hatoba: wrote ${size} bytes to ${target}\n`);
    }),
  );
}

interface PullSecretOpts extends ExpiryOptions {
  dockerServer?: string;
  dockerUsername?: string;
  dockerPassword?: string;
  dockerPasswordStdin?: boolean;
  dockerEmail?: string;
  fromLogin?: boolean;
  newToken?: boolean;
  namespace?: string;
  output: 'yaml' | 'json';
}

async function pullSecretCredentials(name: string, opts: PullSecretOpts): Promise<{ username: string; password: string }> {
  if (!opts.fromLogin) {
    if (opts.newToken) throw new CliError('--new-token goes with --from-login');
    const password = opts.dockerPasswordStdin ? await readStdinSecret() : opts.dockerPassword;
    if (!opts.dockerUsername || password === undefined) {
      throw new CliError('--docker-username and --docker-password (or --docker-password-stdin) are required', 'or use --from-login after: hatoba login SERVER');
    }
    return { username: opts.dockerUsername, password };
  }
  if (!opts.dockerServer) throw new CliError('--from-login needs --docker-server (the registry you logged in to)');
  if (!opts.newToken) {
    // The stored secret is the account's password (or a token that can do
    // everything it can): a Secret is readable by anyone who can read the
    // namespace, so it gets a pull-only token of its own instead.
    throw new CliError(
      '--from-login does not put the stored password (or auth token) into a Secret: anyone who can read the Secret could then sign in as you',
      `add --new-token: it creates a pull-only auth token for the Secret, expiring in ${DEFAULT_PULL_TOKEN_DAYS} days (--expires-in 30d to choose), that you can revoke alone`,
    );
  }
  const days = expiryDays(opts) ?? DEFAULT_PULL_TOKEN_DAYS;
  const session = await openSession({ server: opts.dockerServer });
  const tokenName = `k8s-pull-secret-${name}`;
  const token = await session.run((c) => c.createToken(session.username, { name: tokenName, scopes: ['pull'], expiresInDays: days }));
  process.stderr.write(
    `hatoba: created auth token ${token.id} (${tokenName}, scope pull, expires ${token.expires_at ?? `in ${days} days`}) for ${session.username}; revoke it with: hatoba token revoke ${token.id}\n`,
  );
  return { username: opts.dockerUsername ?? session.username, password: token.secret };
}

async function withS3(flags: S3Flags, work: (source: S3Source) => Promise<void>): Promise<void> {
  const source = new S3Source(resolveS3Settings(flags, process.env, defaultFiles()));
  try {
    await work(source);
  } catch (err) {
    if (err instanceof S3Error) throw new CliError(err.message);
    throw err;
  } finally {
    source.destroy();
  }
}
