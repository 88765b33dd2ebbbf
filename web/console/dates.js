// Date-range filters (the ledger's and the requests'): From and To days of date inputs as the
// API's [since, until) moments, in the browser's time zone.

/** A date input's day ("2026-12-06") as the ISO moment of its local midnight, `days` later. */
function localMidnight(day, days = 0) {
  const [year, month, date] = day.split("-").map(Number);
  return new Date(year, month - 1, date + days).toISOString();
}

/** {since, until} of the From and To dates (To is inclusive: until the next midnight), or {error}. */
export function dateRange(from, to) {
  if (from && to && to < from) return { error: "The end date is before the start date." };
  return { since: from ? localMidnight(from) : null, until: to ? localMidnight(to, 1) : null };
}
