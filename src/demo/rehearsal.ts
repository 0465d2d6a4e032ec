import type { KubernetesSimulator } from "../../stand-ins/kubernetes/index.js";

/**
 * A failure the person at the sandbox's console can switch on and off, to rehearse what a
 * halted run looks like and what Retry phase and Roll back do — on the stand-ins, never on a
 * real system. It takes effect on the next matching request, so it can be switched on before a
 * run (it halts at its first step of that sort) or in the middle of one (it halts later, with
 * more to account for and to roll back).
 */
export interface Rehearsal {
  /** What fails, for the console's switch. */
  readonly label: string;
  /** What the person will see, and how to get out of it. */
  readonly detail: string;
  readonly armed: boolean;
  arm(): void;
  lift(): void;
}

/** The words the refused requests carry: they reach the halt account in the thread. */
export const REHEARSAL_REFUSAL =
  "the sandbox is rehearsing a failure: every scale is refused until it is lifted in the console";

/**
 * Every scale (PATCH on a workload's scale subresource) in every simulated cluster answers 403
 * Forbidden — as when restorebot's account loses `patch` on `…/scale` — until lifted. A 403
 * is not retried, so the run halts at once, and its account says what was changed before.
 * Reading replica counts, waiting for pods and everything else keep working.
 */
export function refusedScales(simulators: KubernetesSimulator[]): Rehearsal {
  let armed = false;
  return {
    label: "Kubernetes refuses every scale (403)",
    detail:
      "The next scale in any simulated cluster fails, and so does every one after it until you lift this: the run halts there and its thread says what was changed. Lift it, then press Retry phase or Roll back on the halted run.",
    get armed() {
      return armed;
    },
    arm() {
      if (armed) return;
      for (const simulator of simulators)
        simulator.failNext({
          method: "PATCH",
          pathIncludes: "/scale",
          status: 403,
          count: Number.MAX_SAFE_INTEGER,
          message: REHEARSAL_REFUSAL,
        });
      armed = true;
    },
    lift() {
      if (!armed) return;
      // The sandbox injects no other faults, so clearing them all lifts exactly this one.
      for (const simulator of simulators) simulator.clearFaults();
      armed = false;
    },
  };
}
