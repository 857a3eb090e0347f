/**
 * Runs before any shared schema is built (main.tsx imports it first). zod compiles object
 * parsers with `new Function` unless told not to; the strict CSP (no 'unsafe-eval') refuses
 * that, and even zod's probe for it is reported as a violation. Jitless parsing is plenty fast
 * for forms.
 */
import { z } from 'zod';

z.config({ jitless: true });
