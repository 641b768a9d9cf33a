/**
 * RFC 3339 timestamps in UTC (`2026-02-23T18:40:00Z`, optional milliseconds), the only
 * form permits, snapshots and decisions use. Parsing is strict and never throws: a
 * calendar-invalid date such as February 30 is refused rather than rolled over.
 */

const RFC3339_UTC = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?Z$/;

/** Milliseconds since the epoch, or undefined if the text is not a valid RFC 3339 UTC timestamp. */
export function parseRfc3339Utc(text: string): number | undefined {
  const match = RFC3339_UTC.exec(text);
  if (!match) return undefined;
  const [, year, month, day, hour, minute, second, fraction] = match.map((part) => part ?? "");
  const millis = Number((fraction ?? "").padEnd(3, "0") || "0");
  const time = Date.UTC(Number(year), Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second), millis);
  const roundTrip = new Date(time);
  const valid =
    roundTrip.getUTCFullYear() === Number(year) &&
    roundTrip.getUTCMonth() === Number(month) - 1 &&
    roundTrip.getUTCDate() === Number(day) &&
    roundTrip.getUTCHours() === Number(hour) &&
    roundTrip.getUTCMinutes() === Number(minute) &&
    roundTrip.getUTCSeconds() === Number(second);
  return valid ? time : undefined;
}

/** RFC 3339 UTC with milliseconds, as decisions are stamped. */
export function formatRfc3339Millis(epochMillis: number): string {
  return new Date(epochMillis).toISOString();
}

/** RFC 3339 UTC to the second, as permits are stamped (the seed's permit form). */
export function formatRfc3339Seconds(epochMillis: number): string {
  return new Date(Math.floor(epochMillis / 1000) * 1000).toISOString().replace(".000Z", "Z");
}
