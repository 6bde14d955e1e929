// The pull secret must be byte for byte what
//   kubectl create secret docker-registry NAME ... --dry-run=client -o yaml|json
// prints. The expected documents below are written out from kubectl's
// format (checked against kubectl 1.32: printers/yaml.go is
// sigs.k8s.io/yaml = sorted keys, 2-space indent; printers/json.go is
// json.MarshalIndent with 4 spaces; create_secret_docker.go's
// DockerConfigEntry is username, password, email, auth, all omitempty).
// The base64 is computed here from a literal JSON string, not with the
// formatter's code. When kubectl is installed, a battery of awkward inputs
// is also compared with its real output.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { formatPullSecret, goYamlString, PullSecretError } from '../../src/formats/k8s-pull-secret.js';
import { dockerConfigJsonFor, goJsonString, goJsonStringMap } from '../../src/formats/dockerconfigjson.js';
import { findExecutable } from '../helpers/tools.js';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

// The seed's example.
const SERVER = 'phx.ocir.io';
const USER = 'ansh81vru1zp/jdoe@acme.com';
const PASSWORD = 'k]j64r{1sJSSF-;)K8';
const EMAIL = 'jdoe@acme.com';
const AUTH = 'YW5zaDgxdnJ1MXpwL2pkb2VAYWNtZS5jb206a11qNjRyezFzSlNTRi07KUs4';
const JSON_WITH_EMAIL = `{"auths":{"phx.ocir.io":{"username":"ansh81vru1zp/jdoe@acme.com","password":"k]j64r{1sJSSF-;)K8","email":"jdoe@acme.com","auth":"${AUTH}"}}}`;
const JSON_NO_EMAIL = `{"auths":{"phx.ocir.io":{"username":"ansh81vru1zp/jdoe@acme.com","password":"k]j64r{1sJSSF-;)K8","auth":"${AUTH}"}}}`;
// What kubectl 1.32 printed for the seed's example (with e-mail).
const KUBECTL_DATA_WITH_EMAIL =
  'eyJhdXRocyI6eyJwaHgub2Npci5pbyI6eyJ1c2VybmFtZSI6ImFuc2g4MXZydTF6cC9qZG9lQGFjbWUuY29tIiwicGFzc3dvcmQiOiJrXWo2NHJ7MXNKU1NGLTspSzgiLCJlbWFpbCI6Impkb2VAYWNtZS5jb20iLCJhdXRoIjoiWVc1emFEZ3hkbkoxTVhwd0wycGtiMlZBWVdOdFpTNWpiMjA2YTExcU5qUnllekZ6U2xOVFJpMDdLVXM0In19fQ==';

test('the auth field and the data are what kubectl computes', () => {
  assert.equal(AUTH, b64(`${USER}:${PASSWORD}`));
  assert.equal(b64(JSON_WITH_EMAIL), KUBECTL_DATA_WITH_EMAIL);
  assert.equal(dockerConfigJsonFor(SERVER, USER, PASSWORD, EMAIL), JSON_WITH_EMAIL);
  assert.equal(dockerConfigJsonFor(SERVER, USER, PASSWORD), JSON_NO_EMAIL);
  assert.equal(dockerConfigJsonFor(SERVER, USER, PASSWORD, ''), JSON_NO_EMAIL, 'an empty e-mail is left out (omitempty)');
});

test('seed example, -o yaml: byte for byte kubectl', () => {
  const expected = [
    'apiVersion: v1',
    'data:',
    `  .dockerconfigjson: ${b64(JSON_WITH_EMAIL)}`,
    'kind: Secret',
    'metadata:',
    '  creationTimestamp: null',
    '  name: ocir-pull',
    'type: kubernetes.io/dockerconfigjson',
    '',
  ].join('\n');
  assert.equal(formatPullSecret({ name: 'ocir-pull', server: SERVER, username: USER, password: PASSWORD, email: EMAIL }), expected);
  assert.equal(formatPullSecret({ name: 'ocir-pull', server: SERVER, username: USER, password: PASSWORD, email: EMAIL, output: 'yaml' }), expected);
});

test('-n NAMESPACE and no e-mail, -o yaml', () => {
  const expected = [
    'apiVersion: v1',
    'data:',
    `  .dockerconfigjson: ${b64(JSON_NO_EMAIL)}`,
    'kind: Secret',
    'metadata:',
    '  creationTimestamp: null',
    '  name: ocir-pull',
    '  namespace: project01',
    'type: kubernetes.io/dockerconfigjson',
    '',
  ].join('\n');
  assert.equal(formatPullSecret({ name: 'ocir-pull', namespace: 'project01', server: SERVER, username: USER, password: PASSWORD }), expected);
  assert.equal(formatPullSecret({ name: 'ocir-pull', namespace: '', server: SERVER, username: USER, password: PASSWORD }), expected.replace('  namespace: project01\n', ''), 'empty -n: no namespace');
});

test('-o json: 4-space indent, Go struct order, final newline', () => {
  const expected = [
    '{',
    '    "kind": "Secret",',
    '    "apiVersion": "v1",',
    '    "metadata": {',
    '        "name": "ocir-pull",',
    '        "namespace": "project01",',
    '        "creationTimestamp": null',
    '    },',
    '    "data": {',
    `        ".dockerconfigjson": "${b64(JSON_WITH_EMAIL)}"`,
    '    },',
    '    "type": "kubernetes.io/dockerconfigjson"',
    '}',
    '',
  ].join('\n');
  assert.equal(formatPullSecret({ name: 'ocir-pull', namespace: 'project01', server: SERVER, username: USER, password: PASSWORD, email: EMAIL, output: 'json' }), expected);
  const noNamespace = formatPullSecret({ name: 'ocir-pull', server: SERVER, username: USER, password: PASSWORD, email: EMAIL, output: 'json' });
  assert.equal(noNamespace, expected.replace('        "namespace": "project01",\n', ''));
  assert.deepEqual(JSON.parse(noNamespace).data, { '.dockerconfigjson': KUBECTL_DATA_WITH_EMAIL });
});

test('a password of any characters: Go JSON escaping inside the data', () => {
  const password = 'a"b\\c<d>&e\tf\ng\b\f\u0001\u007fé😀\u2028';
  // Written out by hand as Go's json.Marshal escapes it (HTML-safe).
  const expectedJson = `{"auths":{"r.example":{"username":"u","password":"a\\"b\\\\c\\u003cd\\u003e\\u0026e\\tf\\ng\\b\\f\\u0001\u007fé😀\\u2028","auth":"${b64(`u:${password}`)}"}}}`;
  assert.equal(dockerConfigJsonFor('r.example', 'u', password), expectedJson);
  assert.deepEqual(JSON.parse(expectedJson).auths['r.example'].password, password, 'and it decodes back to the password');
  const yaml = formatPullSecret({ name: 's', server: 'r.example', username: 'u', password });
  assert.ok(yaml.includes(`  .dockerconfigjson: ${b64(expectedJson)}\n`));
});

test('kubectl defaults: server https://index.docker.io/v1/', () => {
  const json = '{"auths":{"https://index.docker.io/v1/":{"username":"u","password":"p","auth":"dTpw"}}}';
  assert.ok(formatPullSecret({ name: 's', username: 'u', password: 'p' }).includes(`  .dockerconfigjson: ${b64(json)}\n`));
});

test('names go-yaml would not write plain are quoted as kubectl quotes them', () => {
  // Observed from kubectl 1.32 -o yaml.
  const cases: [string, string][] = [
    ['my-secret', 'my-secret'],
    ['a.b', 'a.b'],
    ['123', '"123"'],
    ['1.5', '"1.5"'],
    ['1e3', '"1e3"'],
    ['0x1f', '"0x1f"'],
    ['true', '"true"'],
    ['y', '"y"'],
    ['n', '"n"'],
    ['on', '"on"'],
    ['null', '"null"'],
    ['~', '"~"'],
    ['2024-01-02', '"2024-01-02"'],
    ['2024-02-30', '2024-02-30'],
    ['1:20', '"1:20"'],
    ['-', "'-'"],
    ['@a', "'@a'"],
    ["'a", "'''a'"],
    ['a:', "'a:'"],
    ['---x', "'---x'"],
    ['<<', '<<'],
    ['9223372036854775808', '"9223372036854775808"'],
    ['18446744073709551616', '"18446744073709551616"'],
    ['0b2', '0b2'],
  ];
  for (const [input, expected] of cases) assert.equal(goYamlString(input), expected, input);
  const yaml = formatPullSecret({ name: '123', namespace: 'true', username: 'u', password: 'p' });
  assert.match(yaml, /\n {2}name: "123"\n {2}namespace: "true"\n/);
  const json = formatPullSecret({ name: 'a<b', username: 'u', password: 'p', output: 'json' });
  assert.match(json, /"name": "a\\u003cb",/);
});

test('refuses what kubectl would refuse, and names no Kubernetes object can have', () => {
  assert.throws(() => formatPullSecret({ name: '', username: 'u', password: 'p' }), PullSecretError);
  assert.throws(() => formatPullSecret({ name: 's', username: '', password: 'p' }), /--docker-username, --docker-password and --docker-server is required/);
  assert.throws(() => formatPullSecret({ name: 's', username: 'u', password: '' }), PullSecretError);
  assert.throws(() => formatPullSecret({ name: 's', server: '', username: 'u', password: 'p' }), PullSecretError);
  assert.throws(() => formatPullSecret({ name: 'a b', username: 'u', password: 'p' }), /white space or a control character/);
  assert.throws(() => formatPullSecret({ name: 's', namespace: 'x\ny', username: 'u', password: 'p' }), PullSecretError);
  assert.throws(() => formatPullSecret({ name: 's', username: 'u', password: 'p', output: 'xml' as 'yaml' }), /unknown output format/);
});

test('Go JSON helpers: escaping and map key order', () => {
  assert.equal(goJsonString('<token>'), '"\\u003ctoken\\u003e"');
  assert.equal(goJsonString('\uD800x'), '"\uFFFDx"', 'a lone surrogate is U+FFFD');
  assert.equal(goJsonStringMap({ b: '1', a: '2', 'é': '3', Z: '4' }), '{"Z":"4","a":"2","b":"1","é":"3"}');
});

// ---------------------------------------------------------------------------
// against the real kubectl, when there is one

const KUBECTL = process.env.KUBECTL ?? findExecutable('kubectl');

test('byte for byte the output of the installed kubectl', { skip: KUBECTL ? false : 'kubectl is not installed' }, () => {
  const kubectl = (args: string[]) => execFileSync(KUBECTL!, ['create', 'secret', 'docker-registry', ...args, '--dry-run=client'], { encoding: 'utf8', env: { ...process.env, KUBECONFIG: '/dev/null' } });
  const names = ['my-secret', '123', 'true', 'y', '~', '1e3', '0o17', '2024-01-02', '2024-1-2T10:20:30Z', '1:20', '@a', 'a:', '---x', '<<', 'Bad_Name', 'é', 'a"b', "a'b"];
  const passwords = [PASSWORD, '<&>"\\', 'tab\tnl\n\b\f\u0001\u007f', 'é中😀\u2028'];
  let compared = 0;
  for (const output of ['yaml', 'json'] as const) {
    for (const ns of names) {
      // kubectl cannot take a NAME that starts with "-"; the namespace can.
      const name = ns.startsWith('-') ? 'dash' : ns;
      const want = kubectl([name, '--docker-server=h:5000', '--docker-username=u', '--docker-password=p', `--namespace=${ns}`, '-o', output]);
      assert.equal(formatPullSecret({ name, namespace: ns, server: 'h:5000', username: 'u', password: 'p', output }), want, `name ${name} namespace ${ns} -o ${output}`);
      compared++;
    }
    for (const password of passwords) {
      for (const email of [undefined, 'jdoe<x>@acme.com']) {
        const args = ['s', `--docker-server=${SERVER}`, `--docker-username=${USER}`, `--docker-password=${password}`, '-o', output];
        if (email) args.push(`--docker-email=${email}`);
        assert.equal(formatPullSecret({ name: 's', server: SERVER, username: USER, password, email, output }), kubectl(args), `password ${JSON.stringify(password)} -o ${output}`);
        compared++;
      }
    }
    const seed = kubectl(['ocir-pull', `--docker-server=${SERVER}`, `--docker-username=${USER}`, `--docker-password=${PASSWORD}`, `--docker-email=${EMAIL}`, '-n', 'project01', '-o', output]);
    assert.equal(formatPullSecret({ name: 'ocir-pull', namespace: 'project01', server: SERVER, username: USER, password: PASSWORD, email: EMAIL, output }), seed);
    compared++;
  }
  assert.ok(compared > 50);
});
