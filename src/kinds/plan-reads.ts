import { asCodedError } from "../errors.js";

/**
 * A read for `/restore plan`: its result, or what went wrong as text, never later than
 * `timeoutMs` (a plan says what it could not read rather than hang or fail).
 */
export async function settleWithin<T>(
  work: Promise<T>,
  timeoutMs: number,
): Promise<T | { error: string }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`)),
          timeoutMs,
        );
      }),
    ]);
  } catch (err) {
    return { error: asCodedError(err).message };
  } finally {
    if (timer) clearTimeout(timer);
  }
}
