// Unit tests: namespace prefixes and containment, the base of authorize().
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isWithin, namespacePrefixes } from '../../src/auth/authorize.js';

test('namespacePrefixes lists the instance and every prefix, shortest first', () => {
  assert.deepEqual(namespacePrefixes(''), ['']);
  assert.deepEqual(namespacePrefixes('a'), ['', 'a']);
  assert.deepEqual(namespacePrefixes('system/oracle_db'), ['', 'system', 'system/oracle_db']);
  assert.deepEqual(namespacePrefixes('ansh81vru1zp/project01/ngnix-lb'), ['', 'ansh81vru1zp', 'ansh81vru1zp/project01', 'ansh81vru1zp/project01/ngnix-lb']);
});

test('isWithin: the instance contains everything', () => {
  assert.equal(isWithin('', ''), true);
  assert.equal(isWithin('a', ''), true);
  assert.equal(isWithin('a/b/c', ''), true);
});

test('isWithin: a namespace contains itself and what lies below it', () => {
  assert.equal(isWithin('acme', 'acme'), true);
  assert.equal(isWithin('acme/project01', 'acme'), true);
  assert.equal(isWithin('acme/project01/app', 'acme'), true);
  assert.equal(isWithin('acme/project01/app', 'acme/project01'), true);
});

test('isWithin: path segments, not string prefixes', () => {
  assert.equal(isWithin('acme2/app', 'acme'), false);
  assert.equal(isWithin('acme-other', 'acme'), false);
  assert.equal(isWithin('acme/project011/app', 'acme/project01'), false);
  assert.equal(isWithin('acme', 'acme/project01'), false, 'a parent is not within its child');
  assert.equal(isWithin('', 'acme'), false, 'the instance is not within a namespace');
  assert.equal(isWithin('other/acme', 'acme'), false);
});
