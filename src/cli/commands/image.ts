// `hatoba image load|save|tag|ls|inspect|rm|prune|push|pull|copy` (`repo
// ls` and `tag ls` are in catalog.ts): moving images between tarballs (docker
// save, skopeo), OCI layouts, S3, the local content store and registries,
// with no Docker engine. Front end only: it parses arguments, asks, and
// prints; the workflows are in src/client/ (image-source, image-push,
// image-export, image-copy, local-images), the formats in src/formats/.
import { stat } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { allBlobs, readManifestTree, registryContent, storeContent, type ImageContent, type ManifestNode } from '../../client/image-content.js';
import { copyImage, type TransferStats } from '../../client/image-copy.js';
import { ImageWorkflowError } from '../../client/image-errors.js';
import { exportDockerArchive, exportOciArchive, exportOciDir, exportToStore, type ExportStats } from '../../client/image-export.js';
import { inspectImage, type InspectedImage } from '../../client/image-inspect.js';
import { addStats, emptyStats, parseDestPrefix, pushTargets, selectTargets, storedItem } from '../../client/image-push.js';
import { loadSource, ownTag, parseSource, selectItem, SOURCE_FORMS, type LoadedItem, type SourceOptions } from '../../client/image-source.js';
import { describeLocal, openLocalStore, requireLocal, resolveLocal, withStagingStore } from '../../client/local-images.js';
import { isDigest } from '../../formats/digest.js';
import { isLocalName, manifestRef, normalizeLocalName, parseRemoteRef, refString, requireRemoteRef, splitTag, type RemoteRef } from '../../formats/image-reference.js';
import { IMAGE_LOCATION_SYNTAX, formatImageLocation, parseImageLocation, type ArchiveTransport, type ImageLocation } from '../../formats/image-transport.js';
import { CliError } from '../errors.js';
import { age, OUTPUT_FORMATS, printDocument, printList, table, type OutputFormat } from '../output.js';
import { ProgressReporter, humanBytes, progressMode } from '../progress.js';
import { canPrompt, promptLine } from '../prompt.js';
import { connect, guarded, registryOptions, s3Options, transferOptions, type Connection, type RegistryOptions } from './image-common.js';

interface TransferOpts extends RegistryOptions {
  quiet?: boolean;
  json?: boolean;
  concurrency: number;
}

function sourceOptions(opts: SourceOptions): SourceOptions {
  return { s3Endpoint: opts.s3Endpoint, s3Region: opts.s3Region, s3Profile: opts.s3Profile };
}

function outputOption(cmd: Command, def: OutputFormat = 'table'): Command {
  return cmd.addOption(new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default(def));
}

function statsLine(s: TransferStats): string {
  return `${s.blobsUploaded} blob(s) uploaded (${humanBytes(s.bytesUploaded)}), ${s.blobsExisting} already there, ${s.blobsMounted} mounted, ${s.manifests} manifest(s)`;
}

/** Progress events of reading a source, as the reporter shows them. */
function sourceEvents(progress: ProgressReporter) {
  return { onStored: (digest: string, size: number) => progress.stored(digest, size), onWarning: (w: string) => progress.note(`warning: ${w}`) };
}

export function registerImageCommands(program: Command): void {
  const image = program.command('image').description('load, save, tag, list, inspect, remove, push, pull and copy images (no Docker engine needed)');

  transferOptions(
    s3Options(
      image
        .command('load')
        .description('load images into the local store from a tarball (docker save, skopeo docker-archive/oci-archive; plain or gzip), an OCI layout directory, s3://BUCKET/KEY, or stdin')
        .argument('[source]', 'FILE, DIR, docker-archive:FILE, oci-archive:FILE, oci:DIR, s3://BUCKET/KEY or - (default: stdin)')
        .option('-i, --input <source>', 'read from this (docker load -i); - is stdin'),
    ),
  ).action((src: string | undefined, opts: TransferOpts & SourceOptions & { input?: string }) => load(src, opts));

  image
    .command('save')
    .description('write a loaded image to a tarball (docker save) or an OCI layout')
    .argument('<image>', 'a loaded image: name:tag or digest')
    .requiredOption('-o, --output <target>', 'FILE (with --format), or docker-archive:FILE, oci-archive:FILE, oci:DIR[:TAG]')
    .addOption(new Option('--format <format>', 'what FILE holds').choices(['docker-archive', 'oci-archive']).default('docker-archive'))
    .option('--platform <os/arch[/variant]>', 'from a multi-platform index: the image a docker-archive holds (default: this host\'s)')
    .option('-q, --quiet', 'print nothing but errors')
    .action((name: string, opts: { output: string; format: 'docker-archive' | 'oci-archive'; platform?: string; quiet?: boolean }) => save(name, opts));

  image
    .command('tag')
    .description('give a loaded image another name (e.g. the registry it will be pushed to)')
    .argument('<source>', 'a loaded image: name:tag or digest')
    .argument('<target>', 'new name, e.g. registry.example/system/oracle_db:19c')
    .action((src: string, dest: string) => tag(src, dest));

  outputOption(image.command('ls').alias('list').description('list the images in the local store (CREATED is when the image was built)')).action((opts: { output: OutputFormat }) => list(opts.output));

  registryOptions(
    outputOption(
      image
        .command('inspect')
        .description('show a manifest, its config and layers: of a loaded image, an image in a registry (HOST[:PORT]/REPO[:TAG|@DIGEST]) or an archive')
        .argument('<reference>', `loaded image, registry reference, or ${IMAGE_LOCATION_SYNTAX}`)
        .option('--remote', 'ask the registry even when an image of that name is loaded'),
      'json',
    ),
  ).action((ref: string, opts: RegistryOptions & { output: OutputFormat; remote?: boolean }) => inspect(ref, opts));

  registryOptions(
    image
      .command('rm')
      .alias('remove')
      .description('remove names from the local store (a digest removes every name of that image); a registry reference that is not loaded deletes its manifest in the registry')
      .argument('<references...>', 'loaded image names or digests, or HOST[:PORT]/REPO:TAG|@DIGEST')
      .option('--remote', 'delete in the registry even when an image of that name is loaded')
      .option('-y, --yes', 'delete in the registry without asking'),
  ).action((refs: string[], opts: RegistryOptions & { remote?: boolean; yes?: boolean }) => remove(refs, opts));

  image
    .command('prune')
    .description('delete blobs of the local store that no loaded image uses any more (blobs younger than --min-age are kept)')
    .option('--min-age <minutes>', 'keep blobs stored less than this long ago (a load may be running)', (v) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new CliError(`--min-age ${v}: give minutes (0 or more)`);
      return n;
    }, 10)
    .action((opts: { minAge: number }) => prune(opts.minAge));

  transferOptions(
    s3Options(
      registryOptions(
        image
          .command('push')
          .description('push a loaded image to the registry its name says (push NAME), or an image from a tarball, OCI layout, s3://BUCKET/KEY or the local store to DESTINATION')
          .argument('<source>', 'a loaded image (HOST/REPO:TAG pushes there), FILE, DIR, docker-archive:FILE[:NAME:TAG], oci-archive:FILE, oci:DIR[:TAG], s3://BUCKET/KEY or - (stdin)')
          .argument('[destination]', '[docker://]HOST[:PORT]/REPOSITORY[:TAG] (with --all: HOST[:PORT][/NAMESPACE]); default: the name of the loaded image')
          .option('--all', 'push every named image of the source, each under its own name below DESTINATION'),
      ),
    ),
  ).action((src: string, dest: string | undefined, opts: TransferOpts & SourceOptions & { all?: boolean }) => push(src, dest, opts));

  transferOptions(
    registryOptions(
      image
        .command('pull')
        .description('pull an image from a registry into the local store, or into a tarball or OCI layout')
        .argument('<reference>', '[docker://]HOST[:PORT]/REPOSITORY[:TAG|@DIGEST]')
        .option('-o, --output <target>', 'docker-archive:FILE[:NAME:TAG], oci-archive:FILE[:REF] or oci:DIR[:TAG] (default: the local store)')
        .option('--platform <os/arch[/variant]>', 'from a multi-platform index, only this platform'),
    ),
  ).action((ref: string, opts: TransferOpts & { output?: string; platform?: string }) => pull(ref, opts));

  transferOptions(
    registryOptions(
      image
        .command('copy')
        .alias('cp')
        .description('copy an image (or index) between registries, tarballs and OCI layouts, streaming, digests unchanged (skopeo copy)')
        .argument('<source>', `[docker://]HOST[:PORT]/REPOSITORY[:TAG|@DIGEST], or ${IMAGE_LOCATION_SYNTAX}`)
        .argument('<destination>', `[docker://]HOST[:PORT]/REPOSITORY[:TAG], or ${IMAGE_LOCATION_SYNTAX}`)
        .option('--all-tags', 'copy every tag of the source repository (registry to registry)')
        .option('--referrers', 'also copy what refers to the image (signatures, SBOMs; registry to registry)')
        .option('--platform <os/arch[/variant]>', 'from an index, only this platform')
        .option('--src-creds <user:password>', 'credentials for the source registry')
        .option('--dest-creds <user:password>', 'credentials for the destination registry'),
      '--creds <user:password>',
      'credentials for both registries (default: from hatoba login / the Docker config)',
    ),
  ).action((src: string, dest: string, opts: CopyOpts) => copy(src, dest, opts));
}

// --- load, save, tag, ls, inspect, rm ------------------------------------------------

async function load(src: string | undefined, opts: TransferOpts & SourceOptions & { input?: string }): Promise<void> {
  if (src !== undefined && opts.input !== undefined) throw new CliError('give the source once: as an argument or with -i', `e.g. hatoba image load -i ${opts.input}`);
  const from = src ?? opts.input ?? '-';
  if (from === '-' && process.stdin.isTTY) throw new CliError('no image to load: stdin is a terminal', 'give a file with -i FILE, or pipe a tarball in: hatoba image load < image.tar');
  await guarded(async () => {
    const store = await openLocalStore();
    const progress = new ProgressReporter(progressMode(opts), 'stored');
    const { spec, selection } = parseSource(from);
    let loaded;
    try {
      loaded = await loadSource(spec, store, sourceEvents(progress), sourceOptions(opts));
    } finally {
      progress.finish();
    }
    const items = selection.reference !== undefined || selection.index !== undefined ? [selectItem(loaded.items, selection, loaded.label)] : loaded.items;
    const out: { names: string[]; digest: string; mediaType: string; platform?: string }[] = [];
    for (const item of items) {
      const names = item.names.length ? item.names : [item.digest];
      for (const n of names) await store.tag(n, item.digest, item.mediaType);
      out.push({ names: item.names, digest: item.digest, mediaType: item.mediaType, ...(item.platform ? { platform: item.platform } : {}) });
      if (!opts.json) {
        if (item.names.length) for (const n of item.names) process.stdout.write(`Loaded image: ${n}\n`);
        else process.stdout.write(`Loaded image ID: ${item.digest}\n`);
      }
    }
    if (opts.json) printDocument({ source: loaded.label, layout: loaded.archive.layout, images: out, blobs: loaded.archive.blobs.size }, 'json');
  }, 'load');
}

/** A file destination: FILE with a format, or one written as a transport. */
function fileTarget(value: string, format: ArchiveTransport): Extract<ImageLocation, { path: string }> {
  const loc = parseImageLocation(value);
  if (!loc) return { transport: format, path: value };
  if (loc.transport === 'docker') throw new CliError(`${value} is a registry`, `to put a loaded image in a registry: hatoba image push IMAGE ${value.slice('docker://'.length)}`);
  return loc;
}

async function save(name: string, opts: { output: string; format: 'docker-archive' | 'oci-archive'; platform?: string; quiet?: boolean }): Promise<void> {
  await guarded(async () => {
    const store = await openLocalStore();
    const found = await requireLocal(store, name);
    const target = fileTarget(opts.output, opts.format);
    const content = storeContent(store);
    const top = await readManifestTree(content, found.digest, { mediaType: found.mediaType, what: found.reference });
    const ownName = isDigest(found.reference) ? undefined : found.reference;
    const written = await exportTo(content, top, target, { names: target.reference ? [target.reference] : ownName ? [ownName] : [], ...(opts.platform ? { platform: opts.platform } : {}), concurrency: 4, what: found.reference });
    if (!opts.quiet) process.stderr.write(`Saved ${found.reference} (${written.digest}) to ${formatImageLocation(target)}\n`);
  }, 'save');
}

async function tag(src: string, dest: string): Promise<void> {
  await guarded(async () => {
    const store = await openLocalStore();
    const found = await requireLocal(store, src);
    const name = normalizeLocalName(dest);
    if (isDigest(name) || name.includes('@')) throw new CliError(`"${dest}" is a digest; a name is NAME[:TAG]`);
    if (parseRemoteRef(name) === undefined && !isLocalName(name)) throw new CliError(`"${dest}" is not a valid image name`, 'use lower-case letters, digits, . _ - and /, then :TAG');
    await store.tag(name, found.digest, found.mediaType);
  });
}

async function list(format: OutputFormat): Promise<void> {
  await guarded(async () => {
    const store = await openLocalStore();
    const rows = [];
    for (const img of await store.list()) rows.push(await describeLocal(store, img));
    printList(
      rows,
      [
        { header: 'repository', value: (r) => r.repository },
        { header: 'tag', value: (r) => r.tag },
        { header: 'digest', value: (r) => r.digest.slice(0, 19) },
        { header: 'platform', value: (r) => (r.platforms.length ? r.platforms.join(',') : '<none>') },
        { header: 'size', value: (r) => humanBytes(r.size) },
        // docker's CREATED: when the image was built (its config says), not when it came here
        { header: 'created', value: (r) => (r.created ? `${age(r.created)} ago` : '<none>') },
      ],
      format,
      'images',
    );
  });
}

/** `inspect -o table`: the facts as `KEY  value` lines, then the layers (or platform images) as a table. */
function inspectTable(doc: InspectedImage): string {
  const facts: [string, string | undefined][] = [
    ['name', doc.name],
    ['digest', doc.digest],
    ['media type', doc.mediaType],
    ['kind', doc.kind],
    ['source', doc.source],
    ['platform', doc.platform],
    ['created', doc.created],
    ['size', doc.size !== undefined ? humanBytes(doc.size) : undefined],
    ['config', doc.configDigest],
  ];
  const shown = facts.filter((f): f is [string, string] => f[1] !== undefined && f[1] !== '');
  let out = table(shown, [
    { header: 'field', value: (f) => f[0] },
    { header: 'value', value: (f) => f[1] },
  ]);
  if (doc.layers) out += `\n${doc.layers.length ? table(doc.layers, [{ header: 'layer', value: (l) => l.digest }, { header: 'size', value: (l) => humanBytes(l.size) }, { header: 'media type', value: (l) => l.mediaType }]) : 'no layers\n'}`;
  if (doc.manifests) out += `\n${table(doc.manifests, [{ header: 'manifest', value: (m) => m.digest }, { header: 'platform', value: (m) => m.platform ?? '<none>' }, { header: 'size', value: (m) => humanBytes(m.size) }])}`;
  return out;
}

function printInspected(doc: InspectedImage, format: OutputFormat): void {
  if (format === 'table') process.stdout.write(inspectTable(doc));
  else printDocument(doc, format);
}

async function inspect(ref: string, opts: RegistryOptions & { output: OutputFormat; remote?: boolean }): Promise<void> {
  await guarded(async (track) => {
    const store = await openLocalStore();
    const loc = parseImageLocation(ref);
    if (loc && loc.transport !== 'docker') {
      // An archive or layout: read into a staging store, described from there.
      return withStagingStore(store, async (staging) => {
        const { spec, selection } = parseSource(ref);
        const loaded = await loadSource(spec, staging);
        const item = selectItem(loaded.items, selection, loaded.label);
        printInspected(await inspectImage(storeContent(staging, loaded.label), item.names[0] ?? item.digest, item.digest, formatImageLocation(loc), item.mediaType), opts.output);
      });
    }
    if (!opts.remote && !loc) {
      const found = await resolveLocal(store, ref);
      if (found) return printInspected(await inspectImage(storeContent(store), found.reference, found.digest, 'local', found.mediaType), opts.output);
    }
    const remote = loc?.transport === 'docker' ? loc.ref : parseRemoteRef(ref);
    if (!remote) throw new CliError(`no loaded image ${ref}`, 'see the loaded images with: hatoba image ls; or name an image in a registry as HOST[:PORT]/REPOSITORY[:TAG]');
    const conn = track(await connect(remote.registry, opts));
    printInspected(await inspectImage(registryContent(conn.client, conn.registry, remote.repository), refString(remote), manifestRef(remote), conn.registry), opts.output);
  });
}

async function remove(refs: string[], opts: RegistryOptions & { remote?: boolean; yes?: boolean }): Promise<void> {
  await guarded(async (track) => {
    const store = await openLocalStore();
    const failed: string[] = [];
    for (const ref of refs) {
      const loc = parseImageLocation(ref);
      if (loc && loc.transport !== 'docker') throw new CliError(`image rm removes loaded images or manifests in a registry, not ${loc.transport} files`, `delete the file itself: rm ${loc.path}`);
      // A loaded name is removed here, as docker rmi does; a registry reference that is not loaded (or --remote, or docker://) is deleted there.
      const found = opts.remote || loc ? undefined : await resolveLocal(store, ref);
      if (found) {
        const byDigest = isDigest(found.reference) || found.reference === found.digest || /^(sha256:)?[a-f0-9]{6,64}$/.test(ref.trim());
        const names = byDigest ? (await store.list()).filter((i) => i.digest === found.digest).map((i) => i.reference) : [found.reference];
        for (const n of names) {
          await store.untag(n);
          process.stdout.write(isDigest(n) ? `Deleted: ${n}\n` : `Untagged: ${n}\n`);
        }
        continue;
      }
      const remote = loc?.transport === 'docker' ? loc.ref : parseRemoteRef(ref);
      if (!remote) {
        failed.push(ref);
        continue;
      }
      await removeRemote(remote, track(await connect(remote.registry, opts)), Boolean(opts.yes));
    }
    if (failed.length) throw new CliError(`no loaded image ${failed.join(', ')}`, 'see the loaded images with: hatoba image ls');
  });
}

/** Deletes a manifest in a registry (by digest, as skopeo delete: every tag on it goes too), once confirmed. */
async function removeRemote(remote: RemoteRef, conn: Connection, yes: boolean): Promise<void> {
  const digest = remote.digest ?? (await conn.client.getManifest(remote.repository, manifestRef(remote))).digest;
  const what = `${conn.registry}/${remote.repository}@${digest}${remote.digest ? '' : ` (${refString(remote)})`}`;
  if (!yes) {
    if (!canPrompt()) throw new CliError(`not deleting ${what} in the registry without confirmation, and there is no terminal to ask on`, 'add -y to delete it');
    const answer = await promptLine(`Delete the manifest ${what} from the registry, with every tag on it? [y/N] `);
    if (!/^y(es)?$/i.test(answer.trim())) throw new CliError('nothing deleted');
  }
  await conn.client.deleteManifest(remote.repository, digest);
  process.stdout.write(`Deleted: ${conn.registry}/${remote.repository}@${digest}\n`);
}

async function prune(minAgeMinutes: number): Promise<void> {
  await guarded(async () => {
    const store = await openLocalStore();
    const { blobs, bytes } = await store.prune(minAgeMinutes * 60_000);
    process.stdout.write(`Deleted ${blobs} blob(s), ${humanBytes(bytes)} freed\n`);
  });
}

// --- push ----------------------------------------------------------------------------------

async function push(src: string, destArg: string | undefined, opts: TransferOpts & SourceOptions & { all?: boolean }): Promise<void> {
  await guarded(async (track) => {
    const started = Date.now();
    const store = await openLocalStore();
    const progress = new ProgressReporter(progressMode(opts), 'pushed');
    const { spec, selection } = parseSource(src);
    // A loaded image, unless SRC is a file, a directory, stdin, s3:// or in transport syntax.
    const bare = spec.kind === 'path' && spec.transport === undefined;
    const fromStore = bare && !(await pathExists(spec.path)) ? await resolveLocal(store, src) : undefined;
    if (bare && !fromStore && !(await pathExists(spec.path))) {
      throw new CliError(`${src} is neither a file, a directory nor a loaded image`, `give ${SOURCE_FORMS}, or a name from: hatoba image ls`);
    }
    let dest = destArg;
    if (dest === undefined) {
      // docker push NAME: the registry is in the loaded image's name.
      if (!fromStore) throw new CliError(`push ${src} where?`, 'give DESTINATION: hatoba image push SOURCE HOST[:PORT]/REPOSITORY[:TAG]');
      if (opts.all) throw new CliError('--all needs DESTINATION: HOST[:PORT][/NAMESPACE]');
      if (isDigest(fromStore.reference) || !parseRemoteRef(fromStore.reference)) {
        throw new CliError(`${src} names no registry to push to`, `name it after the registry first: hatoba image tag ${src} HOST[:PORT]/REPOSITORY:TAG (or give DESTINATION)`);
      }
      dest = fromStore.reference;
    }
    const destLoc = parseImageLocation(dest);
    if (destLoc && destLoc.transport !== 'docker') throw new CliError(`push goes to a registry, not to ${destLoc.transport}`, `write files with: hatoba image save IMAGE -o ${dest} (or hatoba image copy SOURCE ${dest})`);
    // Check the destination (and the sign-in) before reading a possibly large source.
    const preview = opts.all ? parseDestPrefix(dest) : requireRemoteRef(dest, 'destination');
    const conn = track(await connect(preview.registry, opts));
    await conn.client.ping();
    const connectTo = async (registry: string) => (registry === conn.registry ? conn : track(await connect(registry, opts)));
    const report = {
      concurrency: opts.concurrency,
      onProgress: progress.listener,
      onPushed: (p: { reference: string; digest: string; size: number }) => {
        if (opts.json) return;
        progress.finish();
        process.stdout.write(`${p.reference}: digest: ${p.digest} size: ${p.size}\n`);
      },
    };
    try {
      const result = fromStore
        ? await pushTargets(selectTargets([storedItem(fromStore)], dest, opts.all), store, store, connectTo, report)
        : // Blobs stream from the source into a private staging store, and from there to the registry.
          await withStagingStore(store, async (staging) => {
            const loaded = await loadSource(spec, staging, {}, sourceOptions(opts));
            const items = selection.reference !== undefined || selection.index !== undefined ? [selectItem(loaded.items, selection, loaded.label)] : loaded.items;
            return pushTargets(selectTargets(items, dest!, opts.all), staging, store, connectTo, report);
          });
      progress.finish();
      if (opts.json) printDocument({ source: src, pushed: result.pushed.map(({ stats: _s, ...p }) => p), stats: result.stats, seconds: (Date.now() - started) / 1000 }, 'json');
      else if (!opts.quiet) process.stderr.write(`${statsLine(result.stats)}\n`);
    } finally {
      progress.finish();
    }
  }, 'push');
}

async function pathExists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

// --- pull, copy ------------------------------------------------------------------------------

interface ExportTargetOptions {
  names: string[];
  platform?: string;
  concurrency: number;
  onProgress?: ProgressReporter['listener'];
  what: string;
}

/** Writes an image tree to a file or layout; returns what was written (a docker-archive holds one platform's image). */
async function exportTo(content: ImageContent, top: ManifestNode, target: Extract<ImageLocation, { path: string }>, opts: ExportTargetOptions): Promise<{ digest: string; mediaType: string; stats: ExportStats }> {
  if (target.transport === 'docker-archive') {
    // A RepoTag is NAME:TAG: `docker-archive:F:alpine` means alpine:latest, as docker tags it.
    const r = await exportDockerArchive(content, top, target.path, { names: opts.names.map(normalizeLocalName), ...(opts.platform ? { platform: opts.platform } : {}), what: opts.what });
    return { digest: r.image.digest, mediaType: r.image.mediaType, stats: r.stats };
  }
  if (target.transport === 'oci-archive') return { digest: top.digest, mediaType: top.mediaType, stats: await exportOciArchive(content, top, target.path, { names: opts.names, what: opts.what }) };
  // oci:DIR[:REF]: the reference names the image in the layout's index.json, as skopeo writes it.
  const refName = target.reference ?? opts.names.map((n) => splitTag(n).tag).find(Boolean);
  return { digest: top.digest, mediaType: top.mediaType, stats: await exportOciDir(content, top, target.path, { concurrency: opts.concurrency, ...(opts.onProgress ? { onProgress: opts.onProgress } : {}), ...(refName ? { refName } : {}) }) };
}

async function pull(ref: string, opts: TransferOpts & { output?: string; platform?: string }): Promise<void> {
  await guarded(async (track) => {
    const started = Date.now();
    const loc = parseImageLocation(ref);
    if (loc && loc.transport !== 'docker') throw new CliError(`pull reads from a registry; ${ref} is a ${loc.transport}`, `load it with: hatoba image load ${ref}`);
    const remote = loc?.transport === 'docker' ? loc.ref : requireRemoteRef(ref, 'image');
    const parsed = opts.output === undefined ? undefined : parseImageLocation(opts.output);
    if (opts.output !== undefined && (!parsed || parsed.transport === 'docker')) {
      throw new CliError(`unknown output "${opts.output}"`, 'use docker-archive:FILE, oci-archive:FILE or oci:DIR (or no -o for the local store)');
    }
    const target = parsed as Extract<ImageLocation, { path: string }> | undefined;
    const conn = track(await connect(remote.registry, opts));
    const progress = new ProgressReporter(progressMode(opts), 'pulled');
    const content = registryContent(conn.client, conn.registry, remote.repository, progress.listener);
    const top = await readManifestTree(content, manifestRef(remote), { ...(opts.platform ? { platform: opts.platform } : {}), what: refString(remote) });
    let written: { digest: string; mediaType: string; stats: ExportStats };
    try {
      if (!target) {
        const store = await openLocalStore();
        const stats = await exportToStore(content, top, store, { concurrency: opts.concurrency, onProgress: progress.listener });
        written = { digest: top.digest, mediaType: top.mediaType, stats };
        await store.recordLocation(conn.registry, remote.repository, allBlobs(top).map((b) => b.digest)).catch(() => {});
        await store.tag(remote.digest && !remote.tag ? refString(remote) : refString({ ...remote, tag: remote.tag ?? 'latest', digest: undefined }), top.digest, top.mediaType);
      } else {
        const names = target.reference !== undefined ? [target.reference] : remote.tag || !remote.digest ? [`${remote.registry}/${remote.repository}:${remote.tag ?? 'latest'}`] : [];
        written = await exportTo(content, top, target, { names, ...(opts.platform ? { platform: opts.platform } : {}), concurrency: opts.concurrency, onProgress: progress.listener, what: refString(remote) });
      }
    } finally {
      progress.finish();
    }
    const output = target ? target.path : 'local store';
    if (opts.json) printDocument({ reference: refString(remote), digest: written.digest, mediaType: written.mediaType, output, stats: written.stats, seconds: (Date.now() - started) / 1000 }, 'json');
    else process.stdout.write(`${refString(remote)}: digest: ${written.digest}${target ? ` written to ${output}` : ''}\n`);
  }, 'pull');
}

interface CopyOpts extends TransferOpts {
  allTags?: boolean;
  referrers?: boolean;
  platform?: string;
  srcCreds?: string;
  destCreds?: string;
}

/** A copy's end: `transport:...`, or a bare registry reference. */
function copyEnd(value: string, what: 'source' | 'destination'): ImageLocation {
  return parseImageLocation(value) ?? { transport: 'docker', ref: requireRemoteRef(value, what) };
}

async function copy(src: string, dest: string, opts: CopyOpts): Promise<void> {
  const { from, to } = await guarded(async () => ({ from: copyEnd(src, 'source'), to: copyEnd(dest, 'destination') }));
  if (to.transport === 'docker' && to.ref.digest) throw new CliError(`copy to a tag, not a digest: ${dest}`, 'leave out @DIGEST');
  if (from.transport === 'docker' && to.transport === 'docker') return copyBetweenRegistries(from.ref, to.ref, opts);
  if (opts.allTags || opts.referrers) throw new CliError(`${opts.allTags ? '--all-tags' : '--referrers'} copies between registries only`, 'leave it out to copy one image to or from a file');
  await guarded(async (track) => {
    const started = Date.now();
    const progress = new ProgressReporter(progressMode(opts), 'copied');
    let digest: string;
    try {
      if (from.transport === 'docker') {
        // registry -> file or layout
        const conn = track(await connect(from.ref.registry, opts, opts.srcCreds ?? opts.creds, opts.srcCreds ? '--src-creds' : '--creds'));
        const content = registryContent(conn.client, conn.registry, from.ref.repository, progress.listener);
        const top = await readManifestTree(content, manifestRef(from.ref), { ...(opts.platform ? { platform: opts.platform } : {}), what: refString(from.ref) });
        const target = to as Extract<ImageLocation, { path: string }>;
        const names = target.reference !== undefined ? [target.reference] : from.ref.tag || !from.ref.digest ? [refString({ ...from.ref, tag: from.ref.tag ?? 'latest', digest: undefined })] : [];
        digest = (await exportTo(content, top, target, { names, ...(opts.platform ? { platform: opts.platform } : {}), concurrency: opts.concurrency, onProgress: progress.listener, what: refString(from.ref) })).digest;
      } else {
        // file or layout -> registry, or another file or layout
        const store = await openLocalStore();
        digest = await withStagingStore(store, async (staging) => {
          const { spec, selection } = parseSource(src);
          const loaded = await loadSource(spec, staging, {});
          const item: LoadedItem = selectItem(loaded.items, selection, loaded.label);
          if (to.transport === 'docker') {
            const conn = track(await connect(to.ref.registry, opts, opts.destCreds ?? opts.creds, opts.destCreds ? '--dest-creds' : '--creds'));
            const targets = [{ item, dest: { ...to.ref, tag: to.ref.tag ?? ownTag(item) ?? 'latest' } }];
            const { pushed } = await pushTargets(targets, staging, store, async () => conn, { concurrency: opts.concurrency, onProgress: progress.listener });
            return pushed[0]!.digest;
          }
          const content = storeContent(staging, loaded.label);
          const top = await readManifestTree(content, item.digest, { mediaType: item.mediaType, ...(opts.platform ? { platform: opts.platform } : {}), what: formatImageLocation(from) });
          return (await exportTo(content, top, to, { names: to.reference !== undefined ? [to.reference] : item.names, ...(opts.platform ? { platform: opts.platform } : {}), concurrency: opts.concurrency, what: formatImageLocation(from) })).digest;
        });
      }
    } finally {
      progress.finish();
    }
    const destination = formatImageLocation(to);
    if (opts.json) printDocument({ copied: [{ source: formatImageLocation(from), destination, digest, referrers: [] }], seconds: (Date.now() - started) / 1000 }, 'json');
    else process.stdout.write(`${destination}: digest: ${digest}\n`);
  }, from.transport === 'docker' ? 'copy' : 'push');
}

async function copyBetweenRegistries(from: RemoteRef, to: RemoteRef, opts: CopyOpts): Promise<void> {
  await guarded(async (track) => {
    const started = Date.now();
    const srcConn = track(await connect(from.registry, opts, opts.srcCreds ?? opts.creds, opts.srcCreds ? '--src-creds' : '--creds'));
    const dstConn = from.registry === to.registry && (opts.destCreds ?? opts.creds) === (opts.srcCreds ?? opts.creds) ? srcConn : track(await connect(to.registry, opts, opts.destCreds ?? opts.creds, opts.destCreds ? '--dest-creds' : '--creds'));
    const progress = new ProgressReporter(progressMode(opts), 'copied');
    let pairs: { srcRef: string; dstRef: string | undefined }[];
    if (opts.allTags) {
      if (from.tag || from.digest) throw new CliError('--all-tags copies a whole repository: leave the tag out of SOURCE');
      if (to.tag) throw new CliError('--all-tags keeps the source tags: leave the tag out of DESTINATION');
      const tags = await srcConn.client.listTags(from.repository);
      if (tags.length === 0) throw new CliError(`${refString(from)} has no tags`);
      pairs = tags.map((t) => ({ srcRef: t, dstRef: t }));
    } else {
      pairs = [{ srcRef: manifestRef(from), dstRef: to.tag ?? from.tag ?? (from.digest ? undefined : 'latest') }];
    }
    const total = emptyStats();
    const copied: { source: string; destination: string; digest: string; referrers: string[] }[] = [];
    try {
      for (const p of pairs) {
        const result = await copyImage(srcConn.client, { repository: from.repository, reference: p.srcRef }, dstConn.client, { repository: to.repository, ...(p.dstRef ? { reference: p.dstRef } : {}) }, {
          concurrency: opts.concurrency,
          referrers: Boolean(opts.referrers),
          ...(opts.platform ? { platforms: [opts.platform] } : {}),
          onProgress: progress.listener,
        });
        addStats(total, result.stats);
        const s = `${from.registry}/${from.repository}${p.srcRef.includes(':') ? '@' : ':'}${p.srcRef}`;
        const d = `${to.registry}/${to.repository}${result.reference.includes(':') ? '@' : ':'}${result.reference}`;
        copied.push({ source: s, destination: d, digest: result.digest, referrers: result.referrers });
        if (!opts.json) {
          progress.finish();
          process.stdout.write(`${d}: digest: ${result.digest}${result.referrers.length ? ` (+${result.referrers.length} referrer(s))` : ''}\n`);
        }
      }
    } finally {
      progress.finish();
    }
    if (opts.json) printDocument({ copied, stats: total, seconds: (Date.now() - started) / 1000 }, 'json');
    else if (!opts.quiet) process.stderr.write(`${statsLine(total)}\n`);
  }, 'copy');
}
