// Regenerates shared/common-passwords.ts: the 3,000 most common passwords, lower-cased and
// de-duplicated, from the ranked `passwords` frequency list of the zxcvbn npm package (MIT).
// zxcvbn is not a dependency; fetch and unpack it anywhere, then point this script at it:
//
//   mkdir -p /tmp/zxcvbn && cd /tmp/zxcvbn && npm pack zxcvbn && tar xzf zxcvbn-*.tgz
//   node build/generate-common-passwords.mjs /tmp/zxcvbn/package
//   npx prettier --check shared/common-passwords.ts
//
// The list is read as text from lib/frequency_lists.js (or src/frequency_lists.coffee), never
// executed. The output keeps zxcvbn's rank order and carries its licence notice.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const COUNT = 3000;
const packageDir = process.argv[2];
if (!packageDir) {
  console.error('usage: node build/generate-common-passwords.mjs <path to the unpacked zxcvbn package>');
  process.exit(2);
}

const listFile = ['lib/frequency_lists.js', 'src/frequency_lists.coffee']
  .map((name) => join(packageDir, name))
  .find((path) => existsSync(path));
if (!listFile) {
  console.error(`no lib/frequency_lists.js or src/frequency_lists.coffee under ${packageDir}`);
  process.exit(1);
}
const match = /passwords:\s*"([^"]*)"/.exec(readFileSync(listFile, 'utf8'));
if (!match) {
  console.error(`no "passwords" list found in ${listFile}`);
  process.exit(1);
}
const { version } = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
const licence = readFileSync(join(packageDir, 'LICENSE.txt'), 'utf8').trim();

const seen = new Set();
for (const entry of match[1].split(',')) {
  const lowered = entry.trim().toLowerCase();
  if (lowered.length > 0) seen.add(lowered);
  if (seen.size === COUNT) break;
}
if (seen.size !== COUNT) {
  console.error(`the list has only ${seen.size} distinct entries, expected at least ${COUNT}`);
  process.exit(1);
}

// Single quotes, as prettier (singleQuote) prints them; no entry of the list needs escaping,
// but escape anyway so a future list cannot break the file.
const quote = (text) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const today = new Date().toISOString().slice(0, 10);
const text = `/**
 * The ${COUNT.toLocaleString('en-US')} most common passwords, lower-cased and de-duplicated, in rank order: the
 * password blocklist of shared/password-policy.ts (NIST SP 800-63B, section 5.1.1.2).
 *
 * Source: the ranked \`passwords\` frequency list of the zxcvbn npm package ${version}
 * (https://github.com/dropbox/zxcvbn), licence MIT. Generated on ${today} by
 * build/generate-common-passwords.mjs; do not edit by hand, regenerate instead.
 *
 * zxcvbn licence:
${licence
  .split('\n')
  .map((line) => (line.length > 0 ? ` * ${line}` : ' *'))
  .join('\n')}
 */

/** Common passwords, lower-cased; a password whose lower-cased form is listed is refused. */
export const COMMON_PASSWORDS: readonly string[] = [
${[...seen].map((entry) => `  ${quote(entry)},`).join('\n')}
];
`;

const out = fileURLToPath(new URL('../shared/common-passwords.ts', import.meta.url));
writeFileSync(out, text);
console.log(`wrote ${seen.size} passwords from zxcvbn ${version} to ${out}`);
