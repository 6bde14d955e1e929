// What a registry holds: `hatoba repo ls [SERVER]` (the catalog) and
// `hatoba tag ls [SERVER/]REPOSITORY`. Without a server they ask the
// current one (the last `hatoba login`), as the admin commands do.
import { Command, Option } from 'commander';
import { RegistryApiError } from '../../client/registry-errors.js';
import { CliError } from '../errors.js';
import { NAMED_OUTPUT_FORMATS, printDocument, printList, type NamedOutputFormat } from '../output.js';
import { chosenServer } from '../session.js';
import { parseRemoteRef } from '../../formats/image-reference.js';
import { connect, guarded, registryOptions, type RegistryOptions } from './image-common.js';

type ListOptions = RegistryOptions & { output: NamedOutputFormat };

function outputOption(cmd: Command): Command {
  return cmd.addOption(new Option('-o, --output <format>', 'output format (name: repository/NAME or tag/REPOSITORY:TAG per line)').choices(NAMED_OUTPUT_FORMATS).default('table'));
}

export function registerCatalogCommands(program: Command): void {
  const repo = program.command('repo').description('repositories of a registry');
  registryOptions(
    outputOption(repo.command('ls').alias('list').description('list the repositories you may see (the registry catalog)').argument('[server]', 'HOST[:PORT] (default: $HATOBA_SERVER, else the last one logged in to)')),
  ).action((server: string | undefined, opts: ListOptions) => repoList(server, opts));

  const tag = program.command('tag').description('tags of a repository');
  registryOptions(
    outputOption(tag.command('ls').alias('list').description('list the tags of a repository').argument('<repository>', 'HOST[:PORT]/REPOSITORY, or REPOSITORY on the current server')),
  ).action((ref: string, opts: ListOptions) => tagList(ref, opts));
}

/** `host[:port]` of a server given as host, URL or nothing (the current server). */
async function serverKey(given: string | undefined, howToGive: string): Promise<string> {
  const server = await chosenServer(given, howToGive);
  return server.includes('://') ? server : server.replace(/\/.*$/, '');
}

async function repoList(given: string | undefined, opts: ListOptions): Promise<void> {
  const server = await serverKey(given, 'give it: hatoba repo ls HOST[:PORT]');
  await guarded(async (track) => {
    const conn = track(await connect(server, opts));
    const repos = await conn.client.listRepositories();
    if (opts.output === 'json' || opts.output === 'yaml') return printDocument({ repositories: repos }, opts.output);
    printList(repos, [{ header: 'repository', value: (r) => r }], opts.output, 'repositories', (r) => `repository/${r}`);
  });
}

async function tagList(ref: string, opts: ListOptions): Promise<void> {
  // Docker's rule: a first component without a dot or colon is not a host, so `system/oracle_db` is on the current server.
  const remote = parseRemoteRef(ref) ?? parseRemoteRef(`${await serverKey(undefined, `give it: hatoba tag ls HOST[:PORT]/${ref}`)}/${ref}`);
  if (!remote) throw new CliError(`"${ref}" is not a repository`, 'write it as HOST[:PORT]/REPOSITORY, e.g. registry.example/system/oracle_db');
  if (remote.tag !== undefined || remote.digest !== undefined) throw new CliError(`"${ref}" names an image, not a repository`, `list its repository's tags with: hatoba tag ls ${remote.registry}/${remote.repository}`);
  await guarded(async (track) => {
    const conn = track(await connect(remote.registry, opts));
    let tags: string[];
    try {
      tags = await conn.client.listTags(remote.repository);
    } catch (err) {
      if (err instanceof RegistryApiError && err.code === 'NAME_UNKNOWN') {
        throw new CliError(`not found: no repository ${remote.repository} on ${conn.registry} (or you may not pull from it)`, `list the repositories you may see with: hatoba repo ls ${conn.registry}`);
      }
      throw err;
    }
    if (opts.output === 'json' || opts.output === 'yaml') return printDocument({ name: remote.repository, tags }, opts.output);
    printList(tags, [{ header: 'tag', value: (t) => t }], opts.output, 'tags', (t) => `tag/${remote.repository}:${t}`);
  });
}
