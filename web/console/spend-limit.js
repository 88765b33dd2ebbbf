// A user's spend limit in words, for the users tables and for the user's own Services screen.
import { formatAmount } from "./money.js";

const PERIOD_TEXT = { DAY: "today", MONTH: "this month" };

/** "120.00 of 200.00 this month, resets 1 Jan" (a daily limit: "resets at 01:00"), in the viewer's time zone; or "No limit". */
export function spendLimitText(limit) {
  if (!limit) return "No limit";
  const at = new Date(limit.resetsAt);
  const resets = limit.period === "DAY" ? `at ${at.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" })}` : at.toLocaleDateString(undefined, { day: "numeric", month: "short" });
  return `${formatAmount(limit.spent)} of ${formatAmount(limit.amount)} ${PERIOD_TEXT[limit.period] || limit.period}, resets ${resets}`;
}
