/** Types of release-checks.mjs, for the packaging test. */
export const REQUIRED_FILES: readonly string[];
export const NOTARIZE_CREDENTIALS: readonly (readonly string[])[];
export function checkRelease(options: {
  projectDir: string;
  env: Record<string, string | undefined>;
  platform: string;
  notarize?: boolean;
}): string[];
export default function beforePack(context: unknown): Promise<void>;
