// The `.dockerconfigjson` document (`{"auths":{SERVER:{...}}}`) written
// byte for byte as Go's encoding/json writes it, because the tools whose
// output Hatoba reproduces (kubectl, docker-credential-helpers) are Go
// programs:
//
// - struct fields in declaration order, empty ones left out (`omitempty`);
//   map keys sorted by their UTF-8 bytes;
// - strings escaped as json.Marshal does: `"` `\` and control characters
//   (`\b \f \n \r \t`, the rest as `\u00XX` with lower-case hex), and the
//   HTML-sensitive `<` `>` `&` plus U+2028 / U+2029 as `\u003c` `\u003e`
//   `\u0026` `\u2028` `\u2029` (json.Marshal's default escapeHTML); every
//   other character, DEL and non-ASCII included, as it is.
//
// Pure: no I/O.

/** kubectl's DockerConfigEntry: `username,omitempty password,omitempty email,omitempty auth,omitempty`, in this order. */
export interface DockerConfigEntry {
  username?: string;
  password?: string;
  email?: string;
  auth?: string;
}

const GO_HTML_ESCAPES: Record<string, string> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

/**
 * A JSON string literal exactly as Go's json.Marshal (with HTML escaping,
 * Go >= 1.22) writes it. A lone UTF-16 surrogate, which has no UTF-8 form,
 * is written as U+FFFD, as the bytes Node would encode it to.
 */
export function goJsonString(value: string): string {
  // JSON.stringify already escapes `"`, `\`, \b \f \n \r \t and the other
  // C0 controls as \u00xx (lower-case hex), as Go does; it leaves DEL and
  // non-ASCII alone, as Go does. What Go escapes in addition is done here.
  const wellFormed = value.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
  return JSON.stringify(wellFormed).replace(/[<>&\u2028\u2029]/g, (c) => GO_HTML_ESCAPES[c]!);
}

/** Compares strings by their UTF-8 bytes, the order Go sorts map keys in. */
export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** `map[string]string` as json.Marshal writes it: keys sorted, compact. */
export function goJsonStringMap(map: Record<string, string>): string {
  const keys = Object.keys(map).sort(compareUtf8);
  return `{${keys.map((k) => `${goJsonString(k)}:${goJsonString(map[k]!)}`).join(',')}}`;
}

/** The `auth` field: base64 (standard, padded) of the UTF-8 bytes of `username:password`. */
export function encodeDockerAuth(username: string, password: string): string {
  return Buffer.from(`${username}:${password}`, 'utf8').toString('base64');
}

function entryJson(entry: DockerConfigEntry): string {
  const fields: string[] = [];
  // Declaration order of kubectl's DockerConfigEntry; omitempty drops "".
  for (const key of ['username', 'password', 'email', 'auth'] as const) {
    const v = entry[key];
    if (v !== undefined && v !== '') fields.push(`${goJsonString(key)}:${goJsonString(v)}`);
  }
  return `{${fields.join(',')}}`;
}

/** `{"auths":{...}}` as json.Marshal writes kubectl's DockerConfigJSON (HttpHeaders empty, so left out). */
export function marshalDockerConfigJson(auths: Record<string, DockerConfigEntry>): string {
  const keys = Object.keys(auths).sort(compareUtf8);
  return `{"auths":{${keys.map((k) => `${goJsonString(k)}:${entryJson(auths[k]!)}`).join(',')}}}`;
}

/**
 * The `.dockerconfigjson` content kubectl's `handleDockerCfgJSONContent`
 * makes for one server: username, password, email (left out when empty)
 * and auth = base64(username:password).
 */
export function dockerConfigJsonFor(server: string, username: string, password: string, email?: string): string {
  return marshalDockerConfigJson({
    [server]: { username, password, email: email ?? '', auth: encodeDockerAuth(username, password) },
  });
}
