#!/usr/bin/env node
// Installed entry point of the Docker credential helper: runs the compiled
// helper (npm run build writes dist/).
import('../dist/cli/docker-credential-hatoba.js');
