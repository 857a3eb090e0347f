/**
 * Headers of a pulled page of changes (GET /v1/changes) that repeat the body's `cursor` and
 * `hasMore`: a device paging through the whole log (a join) reads them when the answer starts
 * and asks for the next page while it still reads and parses this one, so the server prepares
 * page N+1 while the device checks page N. The body stays the authority: a device that reads
 * the headers refuses an answer whose body says otherwise (main/core/sync/sync-engine.ts).
 */
export const PAGE_CURSOR_HEADER = 'chairside-page-cursor';
export const PAGE_HAS_MORE_HEADER = 'chairside-page-has-more';
