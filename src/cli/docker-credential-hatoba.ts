#!/usr/bin/env node
// `docker-credential-hatoba`: the Docker credential helper backed by
// Hatoba's credential store (~/.config/hatoba/credentials.json, mode 0600).
// docker, podman, skopeo and buildah run it when ~/.docker/config.json has
// `"credHelpers": {"<registry>": "hatoba"}` (see `hatoba auth configure-docker`).
// Front end only: the protocol is in credentials/helper-protocol.ts.
import { readFileSync } from 'node:fs';
import { runCredentialHelper } from '../credentials/helper-protocol.js';
import { CredentialStore } from '../credentials/store.js';

function packageVersion(): string {
  try {
    // src/cli/ and dist/cli/ are both two levels below the package root.
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const result = await runCredentialHelper(process.argv.slice(2), {
  store: new CredentialStore(),
  readStdin,
  version: packageVersion(),
});
process.stdout.write(result.stdout, () => {
  process.exitCode = result.code;
});
