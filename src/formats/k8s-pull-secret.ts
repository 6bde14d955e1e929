// A Kubernetes image pull secret, byte for byte what
//   kubectl create secret docker-registry NAME --docker-server=S \
//     --docker-username=U --docker-password=P [--docker-email=E] [-n NS] \
//     --dry-run=client -o yaml|json
// prints (checked against kubectl 1.32 and its sources):
//
// - The object is kubectl's `newSecretObj`: apiVersion v1, kind Secret,
//   metadata.name, metadata.namespace only with -n, type
//   kubernetes.io/dockerconfigjson, and data[".dockerconfigjson"] = base64 of
//   `handleDockerCfgJSONContent` (see dockerconfigjson.ts). metadata carries
//   `creationTimestamp: null` because metav1.Time has no omitempty.
// - `-o json` is cli-runtime's JSONPrinter: json.MarshalIndent(obj, "", "    ")
//   plus "\n": FOUR-space indent, fields in Go struct order (kind,
//   apiVersion, metadata{name, namespace, creationTimestamp}, data, type).
// - `-o yaml` is cli-runtime's YAMLPrinter: sigs.k8s.io/yaml.Marshal, i.e.
//   JSON first, then go-yaml v2 over a generic map: keys sorted (apiVersion,
//   data, kind, metadata{creationTimestamp, name, namespace}, type),
//   two-space indent, and go-yaml's choice of plain, 'single' or "double"
//   quoted scalars (a name like `123`, `true`, `y`, `1e3` or `2024-01-02` is
//   double-quoted, one starting with `@` or being `-` single-quoted).
//
// Names and namespaces with white space or control characters are refused
// (Kubernetes refuses them too; go-yaml would fold or escape them).
// Pure: no I/O.

import { dockerConfigJsonFor, goJsonString } from './dockerconfigjson.js';

/** kubectl's default --docker-server. */
export const KUBECTL_DEFAULT_DOCKER_SERVER = 'https://index.docker.io/v1/';
export const DOCKER_CONFIG_JSON_SECRET_TYPE = 'kubernetes.io/dockerconfigjson';
export const DOCKER_CONFIG_JSON_KEY = '.dockerconfigjson';

export interface PullSecretOptions {
  /** metadata.name (the NAME argument). */
  name: string;
  /** -n NAMESPACE; metadata.namespace is left out when this is absent or empty. */
  namespace?: string;
  /** --docker-server, used verbatim as the `auths` key (default https://index.docker.io/v1/, as kubectl). */
  server?: string;
  username: string;
  password: string;
  /** --docker-email; left out of the JSON when absent or empty. */
  email?: string;
  output?: 'yaml' | 'json';
}

export class PullSecretError extends Error {
  override name = 'PullSecretError';
}

/** The `.dockerconfigjson` bytes, base64-encoded, as they go into `data`. */
export function pullSecretData(options: Pick<PullSecretOptions, 'server' | 'username' | 'password' | 'email'>): string {
  const json = dockerConfigJsonFor(options.server ?? KUBECTL_DEFAULT_DOCKER_SERVER, options.username, options.password, options.email);
  return Buffer.from(json, 'utf8').toString('base64');
}

/** The Secret as `kubectl create secret docker-registry ... --dry-run=client -o yaml|json` prints it (with the final newline). */
export function formatPullSecret(options: PullSecretOptions): string {
  const server = options.server ?? KUBECTL_DEFAULT_DOCKER_SERVER;
  if (!options.name) throw new PullSecretError('a name for the secret is required');
  checkName('name', options.name);
  const namespace = options.namespace || undefined;
  if (namespace !== undefined) checkName('namespace', namespace);
  if (!options.username || !options.password || !server) {
    // kubectl's own message for the same mistake.
    throw new PullSecretError('either --from-file or the combination of --docker-username, --docker-password and --docker-server is required');
  }
  const data = pullSecretData({ ...options, server });
  const output = options.output ?? 'yaml';
  if (output === 'json') return jsonSecret(options.name, namespace, data);
  if (output === 'yaml') return yamlSecret(options.name, namespace, data);
  throw new PullSecretError(`unknown output format "${String(output)}": use yaml or json`);
}

function jsonSecret(name: string, namespace: string | undefined, data: string): string {
  const lines = [
    '{',
    `    "kind": "Secret",`,
    `    "apiVersion": "v1",`,
    `    "metadata": {`,
    `        "name": ${goJsonString(name)},`,
    ...(namespace !== undefined ? [`        "namespace": ${goJsonString(namespace)},`] : []),
    `        "creationTimestamp": null`,
    `    },`,
    `    "data": {`,
    `        ${goJsonString(DOCKER_CONFIG_JSON_KEY)}: ${goJsonString(data)}`,
    `    },`,
    `    "type": ${goJsonString(DOCKER_CONFIG_JSON_SECRET_TYPE)}`,
    '}',
  ];
  return `${lines.join('\n')}\n`;
}

function yamlSecret(name: string, namespace: string | undefined, data: string): string {
  const lines = [
    'apiVersion: v1',
    'data:',
    `  ${DOCKER_CONFIG_JSON_KEY}: ${goYamlString(data)}`,
    'kind: Secret',
    'metadata:',
    '  creationTimestamp: null',
    `  name: ${goYamlString(name)}`,
    ...(namespace !== undefined ? [`  namespace: ${goYamlString(namespace)}`] : []),
    `type: ${DOCKER_CONFIG_JSON_SECRET_TYPE}`,
  ];
  return `${lines.join('\n')}\n`;
}

// Characters that make go-yaml fold, break or escape a scalar, and that no
// Kubernetes name may hold anyway: white space (incl. NBSP, U+2028/9),
// C0/C1 controls, DEL, BOM, non-characters and lone surrogates.
const UNSUPPORTED_IN_NAMES = /[\s\u0000-\u001f\u007f-\u009f\ufeff\ufffe\uffff]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/u;

function checkName(what: string, value: string): void {
  const bad = UNSUPPORTED_IN_NAMES.exec(value);
  if (bad) {
    const code = bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
    throw new PullSecretError(`the ${what} ${JSON.stringify(value)} holds U+${code} (white space or a control character), which no Kubernetes ${what} may contain`);
  }
}

// ---------------------------------------------------------------------------
// go-yaml v2 (sigs.k8s.io/yaml) scalar style for a single-line string
// without white space or control characters: plain, 'single' or "double".

/**
 * A string value as go-yaml v2 writes it in block context: double-quoted
 * when it would otherwise read back as another type (bool, null, int,
 * float, timestamp, base-60 float), single-quoted when the plain form
 * would start with an indicator, plain otherwise. Only for strings that
 * pass the name check (no white space or control characters).
 */
export function goYamlString(s: string): string {
  if (UNSUPPORTED_IN_NAMES.test(s)) throw new PullSecretError(`cannot write ${JSON.stringify(s)} as a one-line YAML scalar`);
  if (resolvesToNonString(s) || isBase60Float(s)) return `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`;
  if (hasBlockIndicator(s)) return `'${s.replace(/'/g, "''")}'`;
  return s;
}

// libyaml's yaml_emitter_analyze_scalar, reduced to what matters for a
// string with no spaces or breaks: block_plain_allowed is false when the
// scalar starts with "---" or "...", starts with an indicator character, is
// "-", "?" or ":" alone, or ends with ":".
function hasBlockIndicator(s: string): boolean {
  if (s.startsWith('---') || s.startsWith('...')) return true;
  const first = s[0]!;
  if ('#,[]{}&*!|>\'"%@`'.includes(first)) return true;
  if (s.length === 1 && '?:-'.includes(first)) return true;
  if (s.length > 1 && s.endsWith(':')) return true;
  return false;
}

const RESOLVE_MAP = new Set([
  'y', 'Y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON',
  'n', 'N', 'no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF',
  '', '~', 'null', 'Null', 'NULL',
  '.nan', '.NaN', '.NAN', '.inf', '.Inf', '.INF', '+.inf', '+.Inf', '+.INF', '-.inf', '-.Inf', '-.INF',
  '<<',
]);

/** go-yaml v2's resolve("", s) returns a tag other than !!str. */
function resolvesToNonString(s: string): boolean {
  if (s === '') return true;
  const c = s[0]!;
  let hint: 'S' | 'D' | 'M' | '.' | undefined;
  if (c === '+' || c === '-') hint = 'S';
  else if (c >= '0' && c <= '9') hint = 'D';
  else if ('yYnNtTfFoO~'.includes(c)) hint = 'M';
  else if (c === '.') hint = '.';
  if (!hint) return false; // "<<" too: '<' has no hint, so it stays a string
  if (RESOLVE_MAP.has(s)) return true;
  if (hint === 'M') return false;
  if (hint === '.') return /^\.[0-9]+([eE][-+]?[0-9]+)?$/.test(s) && Number.isFinite(Number(s));
  if (isGoYamlTimestamp(s)) return true;
  const plain = s.replace(/_/g, '');
  if (goParseInt(plain) || goParseUint(plain)) return true;
  if (/^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/.test(plain) && Number.isFinite(Number(plain))) return true;
  if (plain.startsWith('0b')) return goParseIntBase2(plain.slice(2));
  if (plain.startsWith('-0b')) return goParseIntBase2(`-${plain.slice(3)}`);
  return false;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/** strconv.ParseUint(s, 0, 64) without its sign: the value, or undefined on a syntax error. */
function goUnsignedBase0(s: string): bigint | undefined {
  if (/^0[bB][01]+$/.test(s)) return BigInt(`0b${s.slice(2)}`);
  if (/^0[oO][0-7]+$/.test(s)) return BigInt(`0o${s.slice(2)}`);
  if (/^0[xX][0-9a-fA-F]+$/.test(s)) return BigInt(`0x${s.slice(2)}`);
  if (/^0[0-7]*$/.test(s)) return s.length === 1 ? 0n : BigInt(`0o${s.slice(1)}`);
  if (/^[1-9][0-9]*$/.test(s)) return BigInt(s);
  return undefined;
}

function goParseInt(s: string): boolean {
  const m = /^([+-]?)(.+)$/.exec(s);
  if (!m) return false;
  const magnitude = goUnsignedBase0(m[2]!);
  if (magnitude === undefined) return false;
  const v = m[1] === '-' ? -magnitude : magnitude;
  return v >= INT64_MIN && v <= INT64_MAX;
}

function goParseUint(s: string): boolean {
  const v = goUnsignedBase0(s);
  return v !== undefined && v <= UINT64_MAX;
}

function goParseIntBase2(s: string): boolean {
  const m = /^([+-]?)([01]+)$/.exec(s);
  if (!m) return false;
  const magnitude = BigInt(`0b${m[2]}`);
  const v = m[1] === '-' ? -magnitude : magnitude;
  return v >= INT64_MIN && v <= INT64_MAX;
}

function isBase60Float(s: string): boolean {
  return /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$/.test(s);
}

function daysIn(month: number, year: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * go-yaml v2's parseTimestamp for the forms that have no space in them:
 * time.Parse with "2006-1-2" or "2006-1-2T15:4:5.999999999Z07:00" (also
 * with a lower-case "t").
 */
function isGoYamlTimestamp(s: string): boolean {
  const m = /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[Tt](\d{1,2}):(\d{1,2}):(\d{1,2})(?:[.,]\d+)?(Z|[+-](\d{2}):(\d{2})))?$/.exec(s);
  if (!m) return false;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1 || day > daysIn(month, year)) return false;
  if (m[4] !== undefined) {
    if (Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6]) > 59) return false;
    if (m[8] !== undefined && (Number(m[8]) > 24 || Number(m[9]) > 60)) return false;
  }
  return true;
}
