// The Docker credential-helper protocol (github.com/docker/docker-credential-helpers,
// credentials/credentials.go), spoken by `docker-credential-hatoba`:
//
//   store    stdin: {"ServerURL":"...","Username":"...","Secret":"..."}   stdout: nothing
//   get      stdin: a server URL            stdout: {"ServerURL":"...","Username":"...","Secret":"..."}\n
//   erase    stdin: a server URL            stdout: nothing
//   list     stdin: ignored                 stdout: {"<server URL>":"<username>",...}\n
//   version  stdout: "docker-credential-hatoba (hatoba) <version>\n"
//
// On any error the message goes to STDOUT followed by "\n" and the exit
// code is 1; docker's client reads the message from stdout. The standard
// messages docker recognises are "credentials not found in native keychain"
// (get or erase of an unknown server), "no credentials server URL" and
// "no credentials username". Output JSON is written as Go's encoder writes
// it (so `<token>` is `\u003ctoken\u003e`), field names as in the Go struct.
// Input JSON field names match case-insensitively, as Go's decoder does.
import { goJsonString, goJsonStringMap } from '../formats/dockerconfigjson.js';
import { CredentialStore } from './store.js';

export const HELPER_NAME = 'docker-credential-hatoba';
export const HELPER_PACKAGE = 'hatoba';
/** The name in `credHelpers` that makes docker run docker-credential-hatoba. */
export const HATOBA_HELPER = 'hatoba';

export const ERR_CREDENTIALS_NOT_FOUND = 'credentials not found in native keychain';
export const ERR_MISSING_SERVER_URL = 'no credentials server URL';
export const ERR_MISSING_USERNAME = 'no credentials username';

export interface HelperResult {
  /** Everything for stdout (the error message too, as the protocol wants). */
  stdout: string;
  /** 0 on success, 1 on any error. */
  code: 0 | 1;
}

export interface HelperOptions {
  store: CredentialStore;
  /** Reads all of stdin (only called by the actions that take input). */
  readStdin: () => Promise<string>;
  version: string;
}

class ProtocolError extends Error {}

export function usage(): string {
  return `Usage: ${HELPER_NAME} <store|get|erase|list|version>`;
}

/** Runs the helper for its command-line arguments (without node and the script). */
export async function runCredentialHelper(args: string[], options: HelperOptions): Promise<HelperResult> {
  if (args.length !== 1) return { stdout: `${usage()}\n`, code: 1 };
  const action = args[0]!;
  try {
    switch (action) {
      case 'store':
        await store(options, await options.readStdin());
        return { stdout: '', code: 0 };
      case 'get':
        return { stdout: await get(options, await options.readStdin()), code: 0 };
      case 'erase':
        await erase(options, await options.readStdin());
        return { stdout: '', code: 0 };
      case 'list':
        return { stdout: `${goJsonStringMap(await options.store.list())}\n`, code: 0 };
      case 'version':
      case '--version':
      case '-v':
        return { stdout: `${HELPER_NAME} (${HELPER_PACKAGE}) ${options.version}\n`, code: 0 };
      case '--help':
      case '-h':
        return { stdout: `${usage()}\n`, code: 0 };
      default:
        return { stdout: `Unknown credential action \`${action}\`\n`, code: 1 };
    }
  } catch (err) {
    return { stdout: `${(err as Error).message}\n`, code: 1 };
  }
}

/** Go's bufio.Scanner loop: the lines of the input joined without their line ends. */
function joinLines(input: string): string {
  return input.split('\n').map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line)).join('');
}

function serverURLFrom(input: string): string {
  const serverURL = joinLines(input).trim();
  if (serverURL === '') throw new ProtocolError(ERR_MISSING_SERVER_URL);
  return serverURL;
}

/** Decodes `{ServerURL, Username, Secret}` as Go's json decoder fills the Credentials struct. */
export function parseCredentialsJson(input: string): { ServerURL: string; Username: string; Secret: string } {
  const text = joinLines(input);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ProtocolError(text.trim() === '' ? 'EOF' : `invalid credentials JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ProtocolError(`json: cannot unmarshal ${parsed === null ? 'null' : Array.isArray(parsed) ? 'array' : typeof parsed} into Go value of type credentials.Credentials`);
  }
  const result = { ServerURL: '', Username: '', Secret: '' };
  for (const [key, value] of Object.entries(parsed)) {
    const field = (['ServerURL', 'Username', 'Secret'] as const).find((f) => f.toLowerCase() === key.toLowerCase());
    if (!field || value === null) continue;
    if (typeof value !== 'string') {
      throw new ProtocolError(`json: cannot unmarshal ${Array.isArray(value) ? 'array' : typeof value} into Go struct field Credentials.${field} of type string`);
    }
    result[field] = value;
  }
  return result;
}

async function store(options: HelperOptions, input: string): Promise<void> {
  const creds = parseCredentialsJson(input);
  if (creds.ServerURL === '') throw new ProtocolError(ERR_MISSING_SERVER_URL);
  if (creds.Username === '') throw new ProtocolError(ERR_MISSING_USERNAME);
  await options.store.store({ serverURL: creds.ServerURL, username: creds.Username, secret: creds.Secret });
}

async function get(options: HelperOptions, input: string): Promise<string> {
  const serverURL = serverURLFrom(input);
  const found = await options.store.get(serverURL);
  if (!found) throw new ProtocolError(ERR_CREDENTIALS_NOT_FOUND);
  return `{"ServerURL":${goJsonString(serverURL)},"Username":${goJsonString(found.username)},"Secret":${goJsonString(found.secret)}}\n`;
}

async function erase(options: HelperOptions, input: string): Promise<void> {
  const serverURL = serverURLFrom(input);
  if (!(await options.store.erase(serverURL))) throw new ProtocolError(ERR_CREDENTIALS_NOT_FOUND);
}
