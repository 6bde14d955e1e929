// The progress renderer of `hatoba image push/pull/copy` (src/cli/progress.ts):
// bars redrawn in place on a terminal, one line per finished blob otherwise,
// nothing when quiet.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { ProgressReporter, humanBytes, progressMode } from '../../src/cli/progress.js';

function sink(isTTY: boolean): Writable & { text: string; isTTY: boolean; columns: number } {
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      out.text += chunk.toString();
      done();
    },
  }) as Writable & { text: string; isTTY: boolean; columns: number };
  out.text = '';
  out.isTTY = isTTY;
  out.columns = 120;
  return out;
}

const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;

test('a terminal gets a bar per blob, redrawn in place with cursor moves', () => {
  const out = sink(true);
  const p = new ProgressReporter('tty', 'pushed', out);
  p.listener({ digest: A, repository: 'r', state: 'uploading', bytes: 0, total: 1000 });
  p.listener({ digest: B, repository: 'r', state: 'exists', bytes: 50, total: 50 }); // final: drawn at once
  p.listener({ digest: A, repository: 'r', state: 'uploading', bytes: 500, total: 1000 });
  p.listener({ digest: A, repository: 'r', state: 'done', bytes: 1000, total: 1000 });
  p.finish();
  assert.match(out.text, /\x1b\[2A/, 'moves up over the two bars to redraw them');
  assert.match(out.text, /\x1b\[2K/, 'clears each line');
  assert.match(out.text, /sha256:aaaaaaaaaaaa {2}uploading {3}\[ +\] 0 B\/1.00 kB/);
  assert.match(out.text, /sha256:bbbbbbbbbbbb {2}already there 50 B/);
  const last = out.text.slice(out.text.lastIndexOf('\x1b[2A'));
  assert.match(last, /sha256:aaaaaaaaaaaa {2}pushed 1.00 kB/);
  // after finish, the next image's blobs get fresh lines below (no cursor move over old ones)
  const before = out.text.length;
  p.listener({ digest: `sha256:${'c'.repeat(64)}`, repository: 'r', state: 'done', bytes: 1, total: 1 });
  assert.doesNotMatch(out.text.slice(before), /\x1b\[\d+A/);
});

test('without a terminal: one line per finished blob, once; quiet prints nothing', () => {
  const out = sink(false);
  const p = new ProgressReporter('plain', 'pulled', out);
  p.listener({ digest: A, repository: 'r', state: 'downloading', bytes: 10, total: 2_500_000 });
  p.listener({ digest: A, repository: 'r', state: 'done', bytes: 2_500_000, total: 2_500_000 });
  p.listener({ digest: A, repository: 'r', state: 'done', bytes: 2_500_000, total: 2_500_000 });
  p.listener({ digest: B, repository: 'r', state: 'mounted', bytes: 7, total: 7 });
  p.finish();
  assert.equal(out.text, 'sha256:aaaaaaaaaaaa: pulled (2.50 MB)\nsha256:bbbbbbbbbbbb: mounted (7 B)\n');

  const q = sink(false);
  const quiet = new ProgressReporter('quiet', 'pushed', q);
  quiet.listener({ digest: A, repository: 'r', state: 'done', bytes: 1, total: 1 });
  quiet.note('hello');
  assert.equal(q.text, '');
});

test('mode and sizes', () => {
  assert.equal(progressMode({ quiet: true }, sink(true) as unknown as NodeJS.WriteStream), 'quiet');
  assert.equal(progressMode({ json: true }, sink(true) as unknown as NodeJS.WriteStream), 'quiet');
  assert.equal(progressMode({}, sink(false) as unknown as NodeJS.WriteStream), 'plain');
  assert.equal(humanBytes(999), '999 B');
  assert.equal(humanBytes(1_073_741_824), '1.07 GB');
});
