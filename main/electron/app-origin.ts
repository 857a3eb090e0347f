/**
 * Where the desktop app's pages come from: the privileged custom scheme `app:`, never http(s) or
 * file:. `app://chairside/` is the clinic UI (the built renderer) and the only origin that may
 * call the clinic API; `app://unlock/` is the small database-unlock page shown before the clinic
 * opens, which may only answer its own prompt.
 */

export const APP_SCHEME = 'app';
/** The host of the clinic UI. */
export const APP_HOST = 'chairside';
/** The host of the unlock prompt. */
export const UNLOCK_HOST = 'unlock';
/** The page the main window loads. */
export const APP_START_URL = `${APP_SCHEME}://${APP_HOST}/`;
/** The page the unlock prompt loads. */
export const UNLOCK_START_URL = `${APP_SCHEME}://${UNLOCK_HOST}/`;

/** The parts of an app URL a check needs, or null when the text is not a plain URL of our scheme. */
export function parseAppUrl(url: string): { host: string; pathname: string } | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  // `new URL(...).origin` is "null" for schemes Node does not know, so compare the parts. A user
  // name, password or port has no meaning here and is refused rather than ignored.
  if (parsed.protocol !== `${APP_SCHEME}:`) return null;
  if (parsed.username !== '' || parsed.password !== '' || parsed.port !== '') return null;
  return { host: parsed.host, pathname: parsed.pathname };
}

/** True for a URL of the clinic UI (`app://chairside/...`). */
export function isAppUrl(url: string): boolean {
  return parseAppUrl(url)?.host === APP_HOST;
}

/** True for a URL of the unlock prompt (`app://unlock/...`). */
export function isUnlockUrl(url: string): boolean {
  return parseAppUrl(url)?.host === UNLOCK_HOST;
}
