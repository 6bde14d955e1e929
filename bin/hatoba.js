#!/usr/bin/env -S node --max-semi-space-size=2
// Installed entry point: runs the compiled CLI (npm run build writes dist/).
// A 2 MiB young generation (V8's default grows to 16 MiB per semi-space):
// the server's garbage is mostly short-lived per-request objects and
// socket buffers, and the smaller space measured 30 MiB less RSS with the
// same throughput (bench, 4 GiB push peak 167 MiB instead of 193). npm
// start and the benchmark read these flags from this line.
import('../dist/cli/hatoba.js');
