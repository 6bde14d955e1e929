// `hatoba image load|tag|ls|inspect|rm|push|pull|copy` (`repo ls` and
// `tag ls` are in catalog.ts): moving images between tarballs (docker save,
// skopeo), OCI layouts, S3, the local content store and registries, with
// no Docker engine. Front end only: the formats/ readers and writers, the
// registry client and the content store do the work.
import { randomBytes } from 'node:crypto';
import { stat, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import type { ContentStore, StoredImage } from '../../client/content-store.js';
import { copyImage, pushImage, type TransferStats } from '../../client/image-copy.js';
import { isDigest, type Digest } from '../../formats/digest.js';
import { parseManifest } from '../../formats/manifest.js';
import { CliError } from '../errors.js';
import { age, OUTPUT_FORMATS, printDocument, printList, type OutputFormat } from '../output.js';
import { ProgressReporter, humanBytes, progressMode } from '../progress.js';
import {
  connect,
  guarded,
  isIndexType,
  isS3,
  loadSource,
  localImage,
  manifestRef,
  normalizeLocalName,
  openStore,
  parseRemoteRef,
  pathOfName,
  refString,
  registryOptions,
  requireRemoteRef,
  resolveLocal,
  splitTag,
  transferOptions,
  type LoadedItem,
  type RegistryOptions,
  type RemoteRef,
  type SourceOptions,
} from './image-common.js';
import { allBlobs, fetchManifests, pullToDockerArchive, pullToOciArchive, pullToOciDir, pullToStore } from './image-pull.js';

interface TransferOpts extends RegistryOptions {
  quiet?: boolean;
  json?: boolean;
  concurrency: number;
}

function s3Options(cmd: Command): Command {
  return cmd
    .option('--s3-endpoint <url>', 'S3-compatible endpoint for s3:// sources (default: AWS_ENDPOINT_URL, the AWS config, ~/.s3cfg)')
    .option('--s3-region <region>', 'S3 region (default: AWS_REGION or us-east-1)')
    .option('--s3-profile <name>', 'profile of ~/.aws/credentials and ~/.aws/config');
}

function sourceOptions(opts: { s3Endpoint?: string; s3Region?: string; s3Profile?: string }): SourceOptions {
  return { s3Endpoint: opts.s3Endpoint, s3Region: opts.s3Region, s3Profile: opts.s3Profile };
}

function outputOption(cmd: Command, def: OutputFormat = 'table'): Command {
  return cmd.addOption(new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default(def));
}

const emptyStats = (): TransferStats => ({ manifests: 0, blobsUploaded: 0, blobsExisting: 0, blobsMounted: 0, bytesUploaded: 0 });
function addStats(into: TransferStats, s: TransferStats): void {
  into.manifests += s.manifests;
  into.blobsUploaded += s.blobsUploaded;
  into.blobsExisting += s.blobsExisting;
  into.blobsMounted += s.blobsMounted;
  into.bytesUploaded += s.bytesUploaded;
}

function statsLine(s: TransferStats): string {
  return `${s.blobsUploaded} blob(s) uploaded (${humanBytes(s.bytesUploaded)}), ${s.blobsExisting} already there, ${s.blobsMounted} mounted, ${s.manifests} manifest(s)`;
}

async function pathExists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

export function registerImageCommands(program: Command): void {
  const image = program.command('image').description('load, tag, list, inspect, remove, push, pull and copy images (no Docker engine needed)');

  transferOptions(
    s3Options(
      image
        .command('load')
        .description('load images from a tarball (docker save, skopeo docker-archive/oci-archive; plain or gzip), an OCI layout directory, s3://BUCKET/KEY or - (stdin) into the local store')
        .argument('<source>', 'FILE, DIR, s3://BUCKET/KEY or -'),
    ),
  ).action((src: string, opts: TransferOpts & SourceOptions) => load(src, opts));

  image
    .command('tag')
    .description('give a loaded image another name (e.g. the registry it will be pushed to)')
    .argument('<source>', 'a loaded image: name:tag or digest')
    .argument('<target>', 'new name, e.g. registry.example/system/oracle_db:19c')
    .action((src: string, dest: string) => tag(src, dest));

  outputOption(image.command('ls').alias('list').description('list the images in the local store')).action((opts: { output: OutputFormat }) => list(opts.output));

  registryOptions(
    outputOption(
      image
        .command('inspect')
        .description('show a manifest, its config and layers: of a loaded image, or of an image in a registry (HOST[:PORT]/REPO[:TAG|@DIGEST])')
        .argument('<reference>', 'loaded image or registry reference')
        .option('--remote', 'ask the registry even when an image of that name is loaded'),
      'json',
    ),
  ).action((ref: string, opts: RegistryOptions & { output: OutputFormat; remote?: boolean }) => inspect(ref, opts));

  image
    .command('rm')
    .alias('remove')
    .description('remove names from the local store (a digest removes every name of that image)')
    .argument('<references...>', 'loaded image names or digests')
    .action((refs: string[]) => remove(refs));

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
          .description('push an image from a tarball, an OCI layout directory, s3://BUCKET/KEY or the local store to a registry')
          .argument('<source>', 'FILE, DIR, s3://BUCKET/KEY, - (stdin) or a loaded image')
          .argument('<destination>', 'HOST[:PORT]/REPOSITORY[:TAG] (with --all: HOST[:PORT][/NAMESPACE])')
          .option('--all', 'push every named image of the source, each under its own name below DESTINATION'),
      ),
    ),
  ).action((src: string, dest: string, opts: TransferOpts & SourceOptions & { all?: boolean }) => push(src, dest, opts));

  transferOptions(
    registryOptions(
      image
        .command('pull')
        .description('pull an image from a registry into the local store, or into a tarball or OCI layout')
        .argument('<reference>', 'HOST[:PORT]/REPOSITORY[:TAG|@DIGEST]')
        .option('-o, --output <target>', 'docker-archive:FILE, oci-archive:FILE or oci:DIR (default: the local store)')
        .option('--platform <os/arch[/variant]>', 'from a multi-platform index, only this platform'),
    ),
  ).action((ref: string, opts: TransferOpts & { output?: string; platform?: string }) => pull(ref, opts));

  transferOptions(
    registryOptions(
      image
        .command('copy')
        .alias('cp')
        .description('copy an image (or index) between repositories or registries, streaming, digests unchanged')
        .argument('<source>', 'HOST[:PORT]/REPOSITORY[:TAG|@DIGEST]')
        .argument('<destination>', 'HOST[:PORT]/REPOSITORY[:TAG]')
        .option('--all-tags', 'copy every tag of the source repository')
        .option('--referrers', 'also copy what refers to the image (signatures, SBOMs)')
        .option('--platform <os/arch[/variant]>', 'from an index, only this platform')
        .option('--src-creds <user:password>', 'credentials for the source registry')
        .option('--dest-creds <user:password>', 'credentials for the destination registry'),
      '--creds <user:password>',
      'credentials for both registries (default: from hatoba login / the Docker config)',
    ),
  ).action((src: string, dest: string, opts: TransferOpts & { allTags?: boolean; referrers?: boolean; platform?: string; srcCreds?: string; destCreds?: string }) => copy(src, dest, opts));
}

// --- load, tag, ls, inspect, rm ------------------------------------------------------

async function load(src: string, opts: TransferOpts & SourceOptions): Promise<void> {
  await guarded(async () => {
    const store = await openStore();
    const progress = new ProgressReporter(progressMode(opts), 'stored');
    let loaded;
    try {
      loaded = await loadSource(src, store, progress, sourceOptions(opts));
    } finally {
      progress.finish();
    }
    const out: { names: string[]; digest: string; mediaType: string; platform?: string }[] = [];
    for (const item of loaded.items) {
      const names = item.names.length ? item.names : [item.digest];
      for (const n of names) await store.tag(n, item.digest, item.mediaType);
      out.push({ names: item.names, digest: item.digest, mediaType: item.mediaType, ...(item.platform ? { platform: item.platform } : {}) });
      if (!opts.json) {
        if (item.names.length) for (const n of item.names) process.stdout.write(`Loaded image: ${n}\n`);
        else process.stdout.write(`Loaded image ID: ${item.digest}\n`);
      }
    }
    if (opts.json) printDocument({ source: loaded.label, layout: loaded.archive.layout, images: out, blobs: loaded.archive.blobs.size }, 'json');
  });
}

async function tag(src: string, dest: string): Promise<void> {
  await guarded(async () => {
    const store = await openStore();
    const found = await resolveLocal(store, src);
    if (!found) throw new CliError(`no loaded image ${src}`, 'see the loaded images with: hatoba image ls');
    const name = normalizeLocalName(dest);
    if (isDigest(name) || name.includes('@')) throw new CliError(`"${dest}" is a digest; a name is NAME[:TAG]`);
    if (parseRemoteRef(name) === undefined && !/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/.test(name)) {
      throw new CliError(`"${dest}" is not a valid image name`, 'use lower-case letters, digits, . _ - and /, then :TAG');
    }
    await store.tag(name, found.digest, found.mediaType);
  });
}

interface ImageRow {
  reference: string;
  repository: string;
  tag: string;
  digest: string;
  mediaType: string;
  kind: 'image' | 'index';
  platforms: string[];
  size: number;
  created: string;
}

async function describeLocal(store: ContentStore, img: StoredImage): Promise<ImageRow> {
  const named = !isDigest(img.reference);
  const { path, tag: t } = named ? splitTag(img.reference) : { path: '<none>', tag: '<none>' };
  const row: ImageRow = { reference: img.reference, repository: path, tag: t ?? '<none>', digest: img.digest, mediaType: img.mediaType, kind: isIndexType(img.mediaType) ? 'index' : 'image', platforms: [], size: 0, created: img.created };
  try {
    const seen = new Set<string>();
    const walk = async (d: Digest, type: string): Promise<void> => {
      const parsed = parseManifest(await store.readBytes(d), type);
      for (const c of parsed.manifests) await walk(c.digest, c.mediaType);
      for (const b of parsed.blobs) if (!seen.has(b.digest)) (seen.add(b.digest), (row.size += b.size));
      if (parsed.kind === 'image' && parsed.config) {
        const config = JSON.parse((await store.readBytes(parsed.config.digest)).toString('utf8')) as { os?: string; architecture?: string; variant?: string };
        const p = [config.os, config.architecture, config.variant].filter(Boolean).join('/');
        if (p) row.platforms.push(p);
      }
    };
    await walk(img.digest, img.mediaType);
  } catch {
    // damaged or incomplete entry: list it anyway
  }
  return row;
}

async function list(format: OutputFormat): Promise<void> {
  await guarded(async () => {
    const store = await openStore();
    const rows: ImageRow[] = [];
    for (const img of await store.list()) rows.push(await describeLocal(store, img));
    printList(
      rows,
      [
        { header: 'repository', value: (r) => r.repository },
        { header: 'tag', value: (r) => r.tag },
        { header: 'digest', value: (r) => r.digest.slice(0, 19) },
        { header: 'platform', value: (r) => (r.platforms.length ? r.platforms.join(',') : '<none>') },
        { header: 'size', value: (r) => humanBytes(r.size) },
        { header: 'created', value: (r) => age(r.created) },
      ],
      format,
      'images',
    );
  });
}

/** The document `inspect` prints, from manifest bytes and a way to read small blobs. */
async function inspectDocument(name: string, digest: string, mediaType: string, bytes: Buffer, readBlob: (d: Digest) => Promise<Buffer>, readManifest: (d: Digest, type: string) => Promise<Buffer>, where: string): Promise<Record<string, unknown>> {
  const parsed = parseManifest(bytes, mediaType);
  const doc: Record<string, unknown> = { name, digest, mediaType: parsed.mediaType || mediaType, kind: parsed.kind, source: where, manifestSize: bytes.length };
  if (parsed.kind === 'index') {
    const raw = JSON.parse(bytes.toString('utf8')) as { manifests?: { digest: string; mediaType: string; size: number; platform?: Record<string, string> }[] };
    doc.manifests = (raw.manifests ?? []).map((m) => ({ digest: m.digest, mediaType: m.mediaType, size: m.size, platform: m.platform ? [m.platform.os, m.platform.architecture, m.platform.variant].filter(Boolean).join('/') : undefined }));
    void readManifest;
  } else {
    const layers = JSON.parse(bytes.toString('utf8')) as { layers?: { digest: string; mediaType: string; size: number }[] };
    doc.layers = (layers.layers ?? []).map((l) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size }));
    doc.size = (layers.layers ?? []).reduce((n, l) => n + l.size, 0) + (parsed.config?.size ?? 0);
    if (parsed.config) {
      doc.configDigest = parsed.config.digest;
      try {
        const config = JSON.parse((await readBlob(parsed.config.digest)).toString('utf8')) as Record<string, unknown>;
        doc.platform = [config.os, config.architecture, config.variant].filter(Boolean).join('/');
        if (config.created) doc.created = config.created;
        doc.config = config;
      } catch (err) {
        doc.configError = (err as Error).message;
      }
    }
  }
  if (parsed.annotations) doc.annotations = parsed.annotations;
  return doc;
}

async function inspect(ref: string, opts: RegistryOptions & { output: OutputFormat; remote?: boolean }): Promise<void> {
  await guarded(async (track) => {
    const format = opts.output === 'table' ? 'json' : opts.output;
    if (!opts.remote) {
      const store = await openStore();
      const found = await resolveLocal(store, ref);
      if (found) {
        const bytes = await store.readBytes(found.digest);
        return printDocument(await inspectDocument(found.reference, found.digest, found.mediaType, bytes, (d) => store.readBytes(d), (d) => store.readBytes(d), 'local'), format);
      }
    }
    const remote = parseRemoteRef(ref);
    if (!remote) throw new CliError(`no loaded image ${ref}`, 'see the loaded images with: hatoba image ls; or name an image in a registry as HOST[:PORT]/REPOSITORY[:TAG]');
    const conn = track(await connect(remote.registry, opts));
    const m = await conn.client.getManifest(remote.repository, manifestRef(remote));
    printDocument(
      await inspectDocument(refString(remote), m.digest, m.mediaType, m.bytes, (d) => conn.client.getBlob(remote.repository, d), async (d) => (await conn.client.getManifest(remote.repository, d)).bytes, conn.registry),
      format,
    );
  });
}

async function remove(refs: string[]): Promise<void> {
  await guarded(async () => {
    const store = await openStore();
    const failed: string[] = [];
    for (const ref of refs) {
      const found = await resolveLocal(store, ref);
      if (!found) {
        failed.push(ref);
        continue;
      }
      const byDigest = isDigest(found.reference) || found.reference === found.digest || /^(sha256:)?[a-f0-9]{6,64}$/.test(ref.trim());
      const names = byDigest ? (await store.list()).filter((i) => i.digest === found.digest).map((i) => i.reference) : [found.reference];
      for (const n of names) {
        await store.untag(n);
        process.stdout.write(isDigest(n) ? `Deleted: ${n}\n` : `Untagged: ${n}\n`);
      }
    }
    if (failed.length) throw new CliError(`no loaded image ${failed.join(', ')}`, 'see the loaded images with: hatoba image ls');
  });
}

async function prune(minAgeMinutes: number): Promise<void> {
  await guarded(async () => {
    const store = await openStore();
    const { blobs, bytes } = await store.prune(minAgeMinutes * 60_000);
    process.stdout.write(`Deleted ${blobs} blob(s), ${humanBytes(bytes)} freed\n`);
  });
}

// --- push ----------------------------------------------------------------------------------

interface PushTarget {
  item: LoadedItem;
  dest: RemoteRef;
}

/** `HOST[:PORT][/NAMESPACE]` for --all. */
function parseDestPrefix(value: string): { registry: string; namespace: string } {
  const v = value.replace(/^docker:\/\//, '').replace(/\/+$/, '');
  const slash = v.indexOf('/');
  const registry = slash < 0 ? v : v.slice(0, slash);
  const namespace = slash < 0 ? '' : v.slice(slash + 1);
  if (!registry.includes('.') && !registry.includes(':') && registry !== 'localhost') {
    throw new CliError(`"${value}" names no registry`, 'with --all, give HOST[:PORT][/NAMESPACE], e.g. registry.example/system');
  }
  if (namespace.includes(':') || namespace.includes('@')) throw new CliError(`with --all, "${value}" may not carry a tag: every image keeps its own`);
  return { registry, namespace };
}

function describeItems(items: LoadedItem[]): string {
  return items.map((i) => (i.names.length ? i.names.join(', ') : i.tags.length ? `tag ${i.tags.join(', ')}` : `${i.digest.slice(0, 19)} (no name)`)).join('; ');
}

/** Which of the source's images go where. */
function selectTargets(items: LoadedItem[], dest: string, all: boolean | undefined): PushTarget[] {
  if (items.length === 0) throw new CliError('the source holds no image');
  if (all) {
    const { registry, namespace } = parseDestPrefix(dest);
    const targets: PushTarget[] = [];
    for (const item of items) {
      if (item.names.length === 0 && item.tags.length && namespace) {
        for (const t of item.tags) targets.push({ item, dest: { registry, repository: namespace, tag: t } });
        continue;
      }
      if (item.names.length === 0) throw new CliError(`an image in the source has no name (${item.digest})`, 'push it on its own to HOST/REPOSITORY:TAG, or name it when saving');
      for (const n of item.names) {
        const { path, tag: t } = splitTag(pathOfName(n));
        const repository = namespace ? `${namespace}/${path}` : path;
        targets.push({ item, dest: { registry, repository, tag: t ?? 'latest' } });
      }
    }
    return targets;
  }
  const ref = requireRemoteRef(dest, 'destination');
  if (ref.digest) throw new CliError(`push to a tag, not a digest: ${dest}`, 'leave out @DIGEST (the digest follows from the content)');
  let item: LoadedItem | undefined;
  if (items.length === 1) item = items[0];
  else {
    const destPath = ref.repository;
    const last = destPath.slice(destPath.lastIndexOf('/') + 1);
    const matches = (pick: (path: string, t: string | undefined) => boolean) => items.filter((i) => i.names.some((n) => {
      const { path, tag: t } = splitTag(pathOfName(n));
      return pick(path, t);
    }));
    const tagOk = (t: string | undefined) => ref.tag === undefined || t === ref.tag;
    for (const pick of [(p: string, t?: string) => p === destPath && tagOk(t), (p: string, t?: string) => (destPath.endsWith(`/${p}`) || p.endsWith(`/${destPath}`)) && tagOk(t), (p: string, t?: string) => p.slice(p.lastIndexOf('/') + 1) === last && tagOk(t)]) {
      const found = matches(pick);
      if (found.length === 1) {
        item = found[0];
        break;
      }
      if (found.length > 1) throw new CliError(`${dest} matches several images of the source: ${describeItems(found)}`, 'name the one you mean more exactly (repository and tag), or push them all with --all');
    }
    if (!item && ref.tag !== undefined) {
      // OCI layouts name images by a bare tag (skopeo's oci:DIR:TAG)
      const byTag = items.filter((i) => i.tags.includes(ref.tag!));
      if (byTag.length === 1) item = byTag[0];
    }
    if (!item) throw new CliError(`the source holds ${items.length} images and none is named like ${dest}: ${describeItems(items)}`, 'name one of them in DESTINATION (e.g. HOST/NAMESPACE/NAME:TAG with its name and tag), or push them all with --all HOST[/NAMESPACE]');
  }
  let tagName = ref.tag;
  if (tagName === undefined) {
    const own = item!.names.map((n) => splitTag(n).tag).find(Boolean) ?? item!.tags[0];
    tagName = own ?? 'latest';
  }
  return [{ item: item!, dest: { ...ref, tag: tagName } }];
}

async function push(src: string, dest: string, opts: TransferOpts & SourceOptions & { all?: boolean }): Promise<void> {
  await guarded(async (track) => {
    const started = Date.now();
    const store = await openStore();
    const progress = new ProgressReporter(progressMode(opts), 'pushed');
    // A loaded image, unless SRC is a file, a directory, stdin or s3://.
    const fromStore = !isS3(src) && src !== '-' && !(await pathExists(src)) ? await resolveLocal(store, src) : undefined;
    if (!fromStore && !isS3(src) && src !== '-' && !(await pathExists(src))) {
      throw new CliError(`${src} is neither a file, a directory nor a loaded image`, 'give a tarball, an OCI layout directory, s3://BUCKET/KEY, - for stdin, or a name from: hatoba image ls');
    }
    // Check the destination (and the sign-in) before reading a possibly large source.
    const preview = opts.all ? parseDestPrefix(dest) : requireRemoteRef(dest, 'destination');
    const conn = track(await connect(preview.registry, opts));
    await conn.client.ping();

    let staging: string | undefined;
    let from: ContentStore = store;
    try {
      let items: LoadedItem[];
      if (fromStore) {
        items = [{ kind: isIndexType(fromStore.mediaType) ? 'index' : 'image', digest: fromStore.digest, mediaType: fromStore.mediaType, names: isDigest(fromStore.reference) ? [] : [fromStore.reference], tags: [] }];
      } else {
        // Blobs stream from the source into a private staging store, and from there to the registry.
        staging = join(store.root, 'staging', `push-${process.pid}-${randomBytes(4).toString('hex')}`);
        const { ContentStore } = await import('../../client/content-store.js');
        from = await new ContentStore(staging).init();
        items = (await loadSource(src, from, new ProgressReporter('quiet', ''), sourceOptions(opts))).items;
      }
      const targets = selectTargets(items, dest, opts.all);
      const total = emptyStats();
      const pushed: { reference: string; digest: string; mediaType: string; size: number; stats: TransferStats }[] = [];
      const done = new Map<string, string>(); // registry -> a repository already pushed to (to mount from)
      for (const t of targets) {
        const c = t.dest.registry === conn.registry ? conn : track(await connect(t.dest.registry, opts));
        const local = await localImage(from, t.item.digest, t.item.mediaType);
        const blobDigests = [...(local.blobs as Map<string, unknown>).keys()];
        const known = (await store.knownLocations(c.registry, blobDigests)).filter((r) => r !== t.dest.repository);
        const mountFrom = known[0] ?? done.get(c.registry);
        const result = await pushImage(c.client, { repository: t.dest.repository, reference: t.dest.tag }, local, {
          concurrency: opts.concurrency,
          onProgress: progress.listener,
          ...(mountFrom && mountFrom !== t.dest.repository ? { from: mountFrom } : {}),
        });
        done.set(c.registry, t.dest.repository);
        await store.recordLocation(c.registry, t.dest.repository, blobDigests).catch(() => {});
        addStats(total, result.stats);
        const reference = refString(t.dest);
        pushed.push({ reference, digest: result.digest, mediaType: result.mediaType, size: result.size, stats: result.stats });
        if (!opts.json) {
          progress.finish();
          process.stdout.write(`${reference}: digest: ${result.digest} size: ${result.size}\n`);
        }
      }
      progress.finish();
      if (opts.json) {
        printDocument({ source: src, pushed: pushed.map(({ stats: _s, ...p }) => p), stats: total, seconds: (Date.now() - started) / 1000 }, 'json');
      } else if (!opts.quiet) {
        process.stderr.write(`${statsLine(total)}\n`);
      }
    } finally {
      progress.finish();
      if (staging) await rm(staging, { recursive: true, force: true });
    }
  });
}

// --- pull, copy ------------------------------------------------------------------------------

async function pull(ref: string, opts: TransferOpts & { output?: string; platform?: string }): Promise<void> {
  await guarded(async (track) => {
    const started = Date.now();
    const remote = requireRemoteRef(ref, 'image');
    const conn = track(await connect(remote.registry, opts));
    const progress = new ProgressReporter(progressMode(opts), 'pulled');
    const top = await fetchManifests(conn.client, remote, opts.platform);
    let target = 'local store';
    let stats;
    let digest = top.digest;
    let mediaType = top.mediaType;
    try {
      const out = opts.output;
      if (!out) {
        const store = await openStore();
        stats = await pullToStore(conn.client, remote, store, top, { concurrency: opts.concurrency, progress });
        await store.recordLocation(conn.registry, remote.repository, allBlobs(top).map((b) => b.digest)).catch(() => {});
        await store.tag(remote.digest && !remote.tag ? refString(remote) : refString({ ...remote, tag: remote.tag ?? 'latest', digest: undefined }), top.digest, top.mediaType);
      } else if (out.startsWith('docker-archive:')) {
        target = out.slice('docker-archive:'.length);
        if (!target) throw new CliError('docker-archive: needs a file name: -o docker-archive:FILE');
        const r = await pullToDockerArchive(conn.client, remote, top, target, { platform: opts.platform, progress });
        stats = r.stats;
        digest = r.image.digest;
        mediaType = r.image.mediaType;
      } else if (out.startsWith('oci-archive:')) {
        target = out.slice('oci-archive:'.length);
        if (!target) throw new CliError('oci-archive: needs a file name: -o oci-archive:FILE');
        stats = await pullToOciArchive(conn.client, remote, top, target, { progress });
      } else if (out.startsWith('oci:')) {
        target = out.slice('oci:'.length);
        if (!target) throw new CliError('oci: needs a directory: -o oci:DIR');
        stats = await pullToOciDir(conn.client, remote, top, target, { concurrency: opts.concurrency, progress });
      } else {
        throw new CliError(`unknown output "${out}"`, 'use docker-archive:FILE, oci-archive:FILE or oci:DIR (or no -o for the local store)');
      }
    } finally {
      progress.finish();
    }
    if (opts.json) printDocument({ reference: refString(remote), digest, mediaType, output: target, stats, seconds: (Date.now() - started) / 1000 }, 'json');
    else process.stdout.write(`${refString(remote)}: digest: ${digest}${target !== 'local store' ? ` written to ${target}` : ''}\n`);
  });
}

async function copy(src: string, dest: string, opts: TransferOpts & { allTags?: boolean; referrers?: boolean; platform?: string; srcCreds?: string; destCreds?: string }): Promise<void> {
  await guarded(async (track) => {
    const started = Date.now();
    const from = requireRemoteRef(src, 'source');
    const to = requireRemoteRef(dest, 'destination');
    if (to.digest) throw new CliError(`copy to a tag, not a digest: ${dest}`, 'leave out @DIGEST');
    const srcConn = track(await connect(from.registry, opts, opts.srcCreds ?? opts.creds));
    const dstConn = from.registry === to.registry && (opts.destCreds ?? opts.creds) === (opts.srcCreds ?? opts.creds) ? srcConn : track(await connect(to.registry, opts, opts.destCreds ?? opts.creds));
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
  });
}
