// Run by scripts/run-tests.mjs before the tests: exits 3 with the reason
// when HATOBA_TEST_BACKEND asks for a backend that is not running here.
import { backendUnavailable } from './backend.js';

const problem = backendUnavailable();
if (problem) {
  process.stderr.write(`${problem}\n`);
  process.exit(3);
}
