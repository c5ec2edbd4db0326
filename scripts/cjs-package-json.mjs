/* global URL */
// The CommonJS build (dist/cjs, tsconfig.cjs.json) under a package.json of its own that says so:
// the package's root says "type": "module", which would make Node read these .js files as ESM.
import { writeFileSync } from 'node:fs';

writeFileSync(new URL('../dist/cjs/package.json', import.meta.url), '{\n  "type": "commonjs"\n}\n');
