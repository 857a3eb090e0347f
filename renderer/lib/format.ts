/** How dates, times and names are shown: unambiguous month names, never a day/month guess. */

const dateFormat = new Intl.DateTimeFormat('en-GB', {
  day: 'numeric',
  month: 'short',
  year: 'numeric',
  timeZone: 'UTC',
});
const instantFormat = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'medium' });
const timeFormat = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit' });

/** An ISO calendar date (`YYYY-MM-DD`) as "14 Mar 1985"; the text as is when it is not one. */
export function formatDate(iso: string | null): string {
  if (iso === null) return '—';
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso);
  if (!match) return iso;
  return dateFormat.format(new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]))));
}

/** Whole years between an ISO date of birth and today, or null. */
export function ageInYears(iso: string | null, today = new Date()): number | null {
  if (iso === null) return null;
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso);
  if (!match) return null;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  let age = today.getFullYear() - year;
  if (today.getMonth() + 1 < month || (today.getMonth() + 1 === month && today.getDate() < day)) age--;
  return age >= 0 ? age : null;
}

/** A moment (ms since the epoch) in local time, with seconds. */
export function formatInstant(ms: number): string {
  return instantFormat.format(new Date(ms));
}

/** A time of day, for "locked until 14:05". */
export function formatTime(ms: number): string {
  return timeFormat.format(new Date(ms));
}

export function fullName(person: { readonly firstName: string; readonly lastName: string }): string {
  return `${person.firstName} ${person.lastName}`;
}
