import { CronExpressionParser } from "cron-parser";

/**
 * `backup.schedule`: a five-field cron expression read in UTC (cron-parser). The scheduler asks
 * only for the latest slot at or before a time and the next one after it.
 */

/** Why `expression` is not a schedule, or undefined when it is one. */
export function cronProblem(expression: string): string | undefined {
  if (expression.trim().split(/\s+/).length !== 5)
    return "expected five fields: minute hour day-of-month month day-of-week";
  try {
    CronExpressionParser.parse(expression, { tz: "UTC" });
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** The latest slot of the schedule at or before `at` (a slot exactly at `at` counts). */
export function latestSlot(expression: string, at: Date): Date {
  // cron-parser's prev() is strictly before currentDate: ask from one millisecond later.
  const cron = CronExpressionParser.parse(expression, {
    tz: "UTC",
    currentDate: new Date(at.getTime() + 1),
  });
  return cron.prev().toDate();
}

/** The first slot strictly after `at`. */
export function nextSlot(expression: string, at: Date): Date {
  return CronExpressionParser.parse(expression, { tz: "UTC", currentDate: at }).next().toDate();
}
