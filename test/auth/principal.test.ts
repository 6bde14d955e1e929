// Unit tests: robot logins and principal names.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ANONYMOUS, parseRobotLogin, principalName, robotLogin } from '../../src/auth/principal.js';

test('robotLogin is robot$<namespace>+<name>', () => {
  assert.equal(robotLogin('system', 'ci'), 'robot$system+ci');
  assert.equal(robotLogin('ansh81vru1zp/project01', 'deployer'), 'robot$ansh81vru1zp/project01+deployer');
});

test('parseRobotLogin inverts robotLogin', () => {
  for (const [ns, name] of [['system', 'ci'], ['ansh81vru1zp/project01', 'deployer'], ['a.b/c_d', 'x-1.y']] as const) {
    assert.deepEqual(parseRobotLogin(robotLogin(ns, name)), { namespace: ns, name });
  }
});

test('parseRobotLogin splits at the last +', () => {
  assert.deepEqual(parseRobotLogin('robot$a+b+c'), { namespace: 'a+b', name: 'c' });
});

test('parseRobotLogin rejects what is not a robot login', () => {
  for (const login of ['admin', 'acme/jdoe', 'robot', 'robot$', 'robot$system', 'robot$+ci', 'robot$system+', 'Robot$system+ci', 'xrobot$system+ci', '']) {
    assert.equal(parseRobotLogin(login), undefined, login);
  }
});

test('principalName', () => {
  assert.equal(principalName(ANONYMOUS), 'anonymous');
  assert.equal(principalName({ kind: 'user', id: 1, username: 'jdoe', via: 'password' }), 'jdoe');
  assert.equal(principalName({ kind: 'robot', id: 2, namespace: 'system', name: 'ci' }), 'robot$system+ci');
});
