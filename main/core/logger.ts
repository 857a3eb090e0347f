/**
 * One logger per module, named (pino). Log events and ids, never patient data: callers pass
 * fixed messages and structured fields they chose, not values from requests.
 */
import pino from 'pino';

const root = pino({
  level: process.env.CHAIRSIDE_LOG_LEVEL ?? (process.env.VITEST ? 'silent' : 'info'),
  base: null,
});

export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** A logger for one module. */
export function createLogger(module: string): Logger {
  const child = root.child({ module });
  return {
    info: (message, fields) => child.info(fields ?? {}, message),
    warn: (message, fields) => child.warn(fields ?? {}, message),
    error: (message, fields) => child.error(fields ?? {}, message),
  };
}
