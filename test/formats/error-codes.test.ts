// Unit tests: the error tables, and that /v2/ answers only the OCI spec's
// 14 codes (by the codes the code base throws, and by what the one error
// mapper writes).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import Fastify from 'fastify';

import { API_ERROR_CODES, ERROR_CODES, isOciErrorCode, OCI_ERROR_CODES, RegistryError } from '../../src/formats/error-codes.js';
import { describeClientError } from '../../src/server/client-errors.js';
import { codeForStatus, installErrorHandlers } from '../../src/server/errors.js';
import { BodyTooLargeError } from '../../src/server/request-body.js';

/** The table of the OCI distribution spec (spec.md, "Error Codes"), code-1 … code-14. */
const SPEC_CODES = [
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
  'TOOMANYREQUESTS',
];

const ROOT = join(import.meta.dirname, '..', '..');
/** The management API's files: the only ones that may throw its own codes. */
const API_FILES = new Set(['src/server/api.ts', 'src/auth/accounts.ts']);

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    return e.isDirectory() ? sources(path) : e.name.endsWith('.ts') ? [path] : [];
  });
}

test('the OCI table is exactly the spec’s 14 codes', () => {
  assert.deepEqual(Object.keys(OCI_ERROR_CODES).sort(), [...SPEC_CODES].sort());
  for (const code of SPEC_CODES) assert.ok(isOciErrorCode(code), code);
});

test('the management API’s codes are a separate table, disjoint from the OCI one', () => {
  assert.deepEqual(Object.keys(API_ERROR_CODES).sort(), ['CONFLICT', 'INVALID_ARGUMENT', 'NOT_FOUND']);
  for (const code of Object.keys(API_ERROR_CODES)) assert.ok(!isOciErrorCode(code), code);
  assert.deepEqual(Object.keys(ERROR_CODES).sort(), [...SPEC_CODES, ...Object.keys(API_ERROR_CODES)].sort(), 'no third table of codes');
  // The API's constructors still work as they did.
  assert.equal(new RegistryError('INVALID_ARGUMENT', 'x').status, 400);
  assert.equal(new RegistryError('NOT_FOUND', 'x').status, 404);
  assert.equal(new RegistryError('CONFLICT', 'x').status, 409);
});

test('outside the management API, the code base throws and writes only spec codes', () => {
  const found: string[] = [];
  for (const file of sources(join(ROOT, 'src'))) {
    const name = relative(ROOT, file).split('\\').join('/');
    if (API_FILES.has(name) || name.startsWith('src/client/') || name.startsWith('src/cli/')) continue;
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/new RegistryError\(\s*'([A-Z_]+)'/g)) found.push(`${name}: ${m[1]}`);
    // Envelope entries written by hand in the server (code: 'X').
    if (name.startsWith('src/server/')) for (const m of text.matchAll(/\bcode: '([A-Z_]+)'/g)) found.push(`${name}: ${m[1]}`);
  }
  assert.ok(found.length > 20, `the scan found the error sites (${found.length})`);
  const outside = found.filter((f) => !isOciErrorCode(f.split(': ')[1]!));
  assert.deepEqual(outside, [], 'codes outside the spec');
});

test('codes chosen by status: spec codes on /v2/, the API’s own on /api/v1', () => {
  for (let status = 400; status < 600; status++) {
    assert.ok(isOciErrorCode(codeForStatus(status, '/v2/x/manifests/y')), `${status} on /v2/`);
    assert.ok(isOciErrorCode(codeForStatus(status, '/no/such/page')), `${status} elsewhere`);
  }
  assert.equal(codeForStatus(413), 'SIZE_INVALID');
  assert.equal(codeForStatus(429), 'TOOMANYREQUESTS');
  assert.equal(codeForStatus(400, '/api/v1/users'), 'INVALID_ARGUMENT');
  assert.equal(codeForStatus(404, '/api/v1/users'), 'NOT_FOUND');
});

test('parser errors are described with spec codes', () => {
  const errors = ['HPE_INVALID_CONTENT_LENGTH', 'HPE_UNEXPECTED_CONTENT_LENGTH', 'HPE_INVALID_TRANSFER_ENCODING', 'HPE_HEADER_OVERFLOW', 'HPE_INVALID_EOF_STATE', 'HPE_INVALID_METHOD', 'ERR_HTTP_REQUEST_TIMEOUT', undefined];
  for (const code of errors) {
    const { status, entry } = describeClientError(Object.assign(new Error('x'), { code, reason: 'r' }));
    assert.ok(status >= 400 && status < 500, `${code}: ${status}`);
    assert.ok(isOciErrorCode(entry.code), `${code}: ${entry.code}`);
  }
  assert.equal(describeClientError(Object.assign(new Error('x'), { code: 'HPE_HEADER_OVERFLOW' })).status, 431);
});

test('the error mapper never lets a non-spec code out on /v2/', async (t) => {
  const app = Fastify({ logger: false });
  installErrorHandlers(app);
  const api = () => {
    throw new RegistryError('INVALID_ARGUMENT', 'an API error');
  };
  app.get('/v2/misplaced', api);
  app.get('/api/v1/misplaced', api);
  app.get('/v2/boom', () => {
    throw new Error('database on fire');
  });
  app.get('/v2/too-large', () => {
    throw new BodyTooLargeError(70_000, 65_536);
  });
  t.after(() => app.close());

  const codeOf = async (url: string) => {
    const res = await app.inject({ url });
    return { status: res.statusCode, code: (res.json() as { errors: { code: string }[] }).errors[0]!.code, type: res.headers['content-type'] };
  };
  assert.deepEqual(await codeOf('/v2/misplaced'), { status: 400, code: 'UNSUPPORTED', type: 'application/json; charset=utf-8' });
  assert.deepEqual(await codeOf('/api/v1/misplaced'), { status: 400, code: 'INVALID_ARGUMENT', type: 'application/json; charset=utf-8' });
  assert.deepEqual(await codeOf('/v2/boom'), { status: 500, code: 'UNSUPPORTED', type: 'application/json; charset=utf-8' });
  assert.deepEqual(await codeOf('/v2/too-large'), { status: 413, code: 'SIZE_INVALID', type: 'application/json; charset=utf-8' });
  assert.deepEqual(await codeOf('/v2-nothing-here'), { status: 404, code: 'UNSUPPORTED', type: 'application/json; charset=utf-8' });
  assert.deepEqual(await codeOf('/api/v1/nothing-here'), { status: 404, code: 'NOT_FOUND', type: 'application/json; charset=utf-8' });
});
