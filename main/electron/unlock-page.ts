/**
 * The unlock prompt's page, served from memory at `app://unlock/`. It holds no script: the
 * prompt's preload (preload/unlock.ts) fills in the texts and sends the form to main, so the
 * page's CSP can stay `script-src 'self'` with nothing to run. The inputs have no `name`, so
 * even a form submitted without the preload carries no secret anywhere.
 */
import type { InMemoryFile } from './app-protocol.js';

const PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>Unlock Chairside</title>
    <link rel="stylesheet" href="/unlock.css" />
  </head>
  <body>
    <main>
      <h1 id="title">Unlock Chairside</h1>
      <p id="intro"></p>
      <form id="unlock-form" autocomplete="off" novalidate>
        <label id="recovery-key-field" hidden>
          Recovery key
          <input id="recovery-key" type="text" spellcheck="false" autocapitalize="characters" />
        </label>
        <label id="passphrase-field" hidden>
          <span id="passphrase-label">Database passphrase</span>
          <input id="passphrase" type="password" />
        </label>
        <label id="confirm-field" hidden>
          Type the passphrase again
          <input id="confirm" type="password" />
        </label>
        <p id="message" role="alert"></p>
        <button id="submit" type="submit">Unlock</button>
        <button id="use-recovery" type="button" hidden>Use the recovery key instead</button>
      </form>
    </main>
  </body>
</html>
`;

const STYLES = `:root { font-family: system-ui, sans-serif; color: #1b1f24; }
body { margin: 0; padding: 32px; background: #ffffff; }
h1 { font-size: 1.4rem; margin: 0 0 12px; }
p { line-height: 1.45; }
label { display: block; margin: 16px 0 4px; font-weight: 600; }
label[hidden] { display: none; }
input { display: block; box-sizing: border-box; width: 100%; margin-top: 6px; padding: 8px; font-size: 1rem; }
#message { color: #b42318; min-height: 1.45em; }
button { margin: 8px 8px 0 0; padding: 8px 16px; font-size: 1rem; }
button[hidden] { display: none; }
`;

/** The files of host `unlock`, by path. */
export const UNLOCK_PAGE_FILES: Readonly<Record<string, InMemoryFile>> = {
  '/': { contentType: 'text/html; charset=utf-8', body: PAGE },
  '/unlock.css': { contentType: 'text/css; charset=utf-8', body: STYLES },
};
