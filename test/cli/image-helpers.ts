// Helpers of the `hatoba image ...` CLI tests: a home with its own Docker
// config, Hatoba config dir and local content store; tarballs built from
// known bytes (test/formats/image-archive.fixtures.ts); running the CLI
// while sampling its peak memory.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import assert from 'node:assert/strict';
import { ADMIN, PROJECT_ROOT, startServer, type RunningServer } from '../helpers/server.js';
import { classicEntries, docker25Entries, packTar, type TestImage } from '../formats/image-archive.fixtures.js';
import { cliHome, removeHomes, show, type CliHome, type CliResult } from './helpers.js';

export interface ImageHome extends CliHome {
  dataHome: string;
}

/** A CLI home whose content store and Hatoba config are in it too. */
export async function imageHome(): Promise<ImageHome> {
  const home = await cliHome();
  const dataHome = join(home.dir, 'data');
  const extra = { HATOBA_DATA_HOME: dataHome, HATOBA_CONFIG_DIR: join(home.dir, 'hatoba-config') };
  Object.assign(home.env, extra);
  const run = home.run;
  return { ...home, dataHome, run: (args, options = {}) => run(args, { ...options, env: { ...extra, ...options.env } }) };
}

/** A test server and an image home logged in to it as the admin; `dispose` removes both (and the work dir). */
export async function serverAndLoggedInHome(): Promise<{ server: RunningServer; home: ImageHome; dispose(): Promise<void> }> {
  const server = await startServer();
  const home = await imageHome();
  const r = await home.run(['login', server.host, '-u', ADMIN.username, '--password-stdin'], { input: ADMIN.password });
  assert.equal(r.code, 0, show(r));
  return {
    server,
    home,
    async dispose() {
      await server.dispose();
      await removeHomes();
      await removeWorkDir();
    },
  };
}

let work: string | undefined;
/** A temp dir for the tarballs and layouts of one test file (removed by removeWorkDir). */
export async function workDir(): Promise<string> {
  work ??= await mkdtemp(join(tmpdir(), 'hatoba-image-cli-'));
  return work;
}

export async function removeWorkDir(): Promise<void> {
  if (work) await rm(work, { recursive: true, force: true });
  work = undefined;
}

/** Writes a `docker save` tarball of the images: classic or Docker 25+ layout, plain or gzip. */
export async function saveTarball(name: string, images: { image: TestImage; repoTags: string[] }[], layout: 'classic' | 'docker25', gzip: boolean): Promise<{ file: string; bytes: Buffer }> {
  const entries = layout === 'classic' ? classicEntries(images) : docker25Entries(images).entries;
  const tar = await packTar(entries);
  const bytes = gzip ? gzipSync(tar) : tar;
  const file = join(await workDir(), `${name}.tar${gzip ? '.gz' : ''}`);
  await writeFile(file, bytes);
  return { file, bytes };
}

export async function readJson<T = Record<string, unknown>>(file: string): Promise<T> {
  return JSON.parse(await readFile(file, 'utf8')) as T;
}

/** Runs the CLI, reading VmHWM of the child from /proc every 100 ms; returns the peak in bytes. */
export function runCliMeasured(args: string[], env: Record<string, string>): Promise<CliResult & { peakRss: number }> {
  const base = { ...process.env };
  for (const key of ['HATOBA_SERVER', 'HATOBA_CONFIG_DIR', 'DOCKER_CONFIG', 'XDG_CONFIG_HOME', 'HATOBA_DATA_HOME']) delete base[key];
  const child = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'src/cli/hatoba.ts'), ...args], { cwd: PROJECT_ROOT, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let peak = 0;
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const sample = async () => {
    try {
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
      const m = /VmHWM:\s+(\d+) kB/.exec(status);
      if (m) peak = Math.max(peak, Number(m[1]) * 1024);
    } catch {
      // the process has exited
    }
  };
  const timer = setInterval(() => void sample(), 100);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearInterval(timer);
      resolve({ code, stdout, stderr, peakRss: peak });
    });
  });
}
