/** Wall-clock time in integer milliseconds since the Unix epoch (UTC); injected so tests control time. */
export interface Clock {
  now(): number;
}
