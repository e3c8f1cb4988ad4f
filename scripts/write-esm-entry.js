// Writes the ESM entry points beside the CommonJS build: dist/index.mjs re-exports the
// CommonJS module (one instance of the addon either way) and dist/index.d.mts its types.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const dist = path.join(__dirname, '..', 'dist');
const names = Object.keys(require(path.join(dist, 'index.js'))).filter((name) => name !== '__esModule');
const mjs =
  `import cjs from './index.js';\n` +
  names.map((name) => `export const ${name} = cjs.${name};\n`).join('') +
  `export default cjs;\n`;
fs.writeFileSync(path.join(dist, 'index.mjs'), mjs);
fs.writeFileSync(path.join(dist, 'index.d.mts'), `export * from './index.js';\n`);
