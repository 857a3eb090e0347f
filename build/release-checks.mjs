// electron-builder `beforePack` hook (electron-builder.yml; electron-builder imports .mjs hooks):
// refuses to package what must not ship. It runs once per platform before the app is packed and
// fails the build when
//   - a built part is missing (dist/main, dist/preload, dist/renderer): build them first;
//   - the update feed (CHAIRSIDE_UPDATE_URL) is not an https URL: updates are downloaded from it;
//   - a macOS build would be notarized without credentials (electron-builder then skips
//     notarizing with only a log line): set one complete set of APPLE_* variables, see
//     docs/operations.md.
// checkRelease() is pure and tested in main/electron/packaging-config.test.ts.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** Files the packaged app cannot start without, relative to the project directory. */
export const REQUIRED_FILES = [
  'dist/main/main.cjs',
  'dist/main/bcrypt-worker.mjs',
  'dist/preload/index.cjs',
  'dist/preload/unlock.cjs',
  'dist/renderer/index.html',
];

/** The sets of APPLE_* variables electron-builder can notarize with; one must be complete. */
export const NOTARIZE_CREDENTIALS = [
  ['APPLE_API_KEY', 'APPLE_API_KEY_ID', 'APPLE_API_ISSUER'],
  ['APPLE_ID', 'APPLE_APP_SPECIFIC_PASSWORD', 'APPLE_TEAM_ID'],
  ['APPLE_KEYCHAIN_PROFILE'],
];

/** The problems that forbid packaging; empty when it may go ahead. */
export function checkRelease({ projectDir, env, platform, notarize }) {
  const problems = [];
  for (const file of REQUIRED_FILES) {
    if (!existsSync(join(projectDir, file))) {
      problems.push(`${file} is missing: run the renderer build and \`npm run build:electron\` first.`);
    }
  }
  let feed = null;
  try {
    feed = env.CHAIRSIDE_UPDATE_URL ? new URL(env.CHAIRSIDE_UPDATE_URL) : null;
  } catch {
    feed = null;
  }
  if (feed === null || feed.protocol !== 'https:') {
    problems.push('CHAIRSIDE_UPDATE_URL must be the https URL of the update feed.');
  }
  if (platform === 'darwin' && notarize !== false) {
    const complete = NOTARIZE_CREDENTIALS.some((names) => names.every((name) => Boolean(env[name])));
    if (!complete) problems.push('macOS notarization needs one complete set of APPLE_* variables.');
  }
  return problems;
}

/** The hook electron-builder calls with its BeforePackContext. */
export default async function beforePack(context) {
  const config = context.packager.config ?? {};
  const problems = checkRelease({
    projectDir: context.packager.projectDir ?? process.cwd(),
    env: process.env,
    platform: context.electronPlatformName,
    notarize: config.mac ? config.mac.notarize : undefined,
  });
  if (problems.length > 0) throw new Error(`Chairside cannot be packaged:\n- ${problems.join('\n- ')}`);
}
