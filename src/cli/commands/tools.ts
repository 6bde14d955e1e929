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
import { dockerKey } from '../../client/server-address.js';
import { configureDocker, ConfigureDockerError } from '../../credentials/configure-docker.js';
import { dockerConfigPath, getAuth, readDockerConfig } from '../../credentials/docker-config.js';
import { formatPullSecret, PullSecretError } from '../../formats/k8s-pull-secret.js';
import { CliError } from '../errors.js';
import { readStdinSecret } from '../prompt.js';
import { openSession } from '../session.js';

export function registerToolCommands(program: Command): void {
  const auth = program.command('auth').description('set up other tools to sign in with Hatoba credentials');
  auth
    .command('configure-docker')
    .description('make docker, podman and skopeo use docker-credential-hatoba for the given registries (credHelpers in the Docker config)')
    .argument('<servers...>', 'registries as host[:port]')
    .action(async (servers: string[]) => {
      try {
        const result = await configureDocker(dockerConfigPath(), servers);
        for (const r of result.replaced) process.stderr.write(`hatoba: ${r.server} used docker-credential-${r.previous}; it now uses docker-credential-hatoba\n`);
        process.stdout.write(result.changed ? `updated ${result.path}: ${result.servers.join(', ')} -> docker-credential-hatoba\n` : `${result.path} already sends ${result.servers.join(', ')} to docker-credential-hatoba\n`);
        process.stderr.write('hatoba: docker-credential-hatoba must be on PATH (it is installed with hatoba); store credentials with: docker login SERVER\n');
      } catch (err) {
        if (err instanceof ConfigureDockerError) throw new CliError(err.message);
        throw err;
      }
    });

  const k8s = program.command('k8s').description('Kubernetes helpers');
  k8s
    .command('pull-secret')
    .description('print a kubernetes.io/dockerconfigjson Secret exactly as `kubectl create secret docker-registry --dry-run=client` does')
    .argument('<name>', 'name of the Secret')
    .option('--docker-server <server>', 'registry address (kubectl default: https://index.docker.io/v1/)')
    .option('--docker-username <user>', 'user name, e.g. <tenancy-namespace>/<user>')
    .option('--docker-password <password>', 'password or auth token (any characters; quote it for the shell)')
    .option('--docker-password-stdin', 'read the password from stdin')
    .option('--docker-email <email>', 'email (left out when not given, as kubectl does)')
    .option('--from-login', 'take the user and password stored by `hatoba login` for --docker-server')
    .option('--new-token', 'with --from-login: create a fresh personal auth token for the Secret instead of using the stored password')
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
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new CliError(`${target} already exists`, 'name another file, or remove it first');
        await rm(target, { force: true });
        throw err;
      }
      process.stderr.write(`hatoba: wrote ${size} bytes to ${target}\n`);
    }),
  );
}

interface PullSecretOpts {
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
  if (opts.newToken) {
    // A token of its own, so the cluster's credential can be revoked alone.
    const session = await openSession({ server: opts.dockerServer });
    const token = await session.run((c) => c.createToken(session.username, { name: `k8s-pull-secret-${name}` }));
    process.stderr.write(`hatoba: created auth token ${token.id} (k8s-pull-secret-${name}) for ${session.username}; revoke it with: hatoba token revoke ${token.id}\n`);
    return { username: opts.dockerUsername ?? session.username, password: token.secret };
  }
  const stored = getAuth(await readDockerConfig(), dockerKey(opts.dockerServer));
  if (!stored) throw new CliError(`not logged in to ${opts.dockerServer}`, `run: hatoba login ${dockerKey(opts.dockerServer)}`);
  return { username: opts.dockerUsername ?? stored.username, password: stored.password };
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
