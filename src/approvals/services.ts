import type { AppDeps } from "../app-deps.js";
import { recoveryPointSourceFor } from "../recovery-points/sources.js";
import { CardPublisher } from "./card-updates.js";
import { createSourcePointResolver, type PointResolver } from "./point-resolver.js";
import { UserGroupCache } from "./user-groups.js";

/** Per-process state of the approval flow, shared by every handler of one set of deps. */
export interface ApprovalServices {
  groups: UserGroupCache;
  cards: CardPublisher;
  points: PointResolver;
}

// Keyed by the deps object: one cache per bot, so two bots in one test process never share.
const byDeps = new WeakMap<AppDeps, ApprovalServices>();

export function approvalServices(deps: AppDeps): ApprovalServices {
  let services = byDeps.get(deps);
  if (!services) {
    services = {
      groups: new UserGroupCache({
        ttlMs: 60_000,
        now: () => deps.clock().getTime(),
        logger: deps.logger,
      }),
      cards: new CardPublisher(deps.db, deps.logger, deps.clock, deps.kinds),
      points: createSourcePointResolver(
        (target) => recoveryPointSourceFor(deps, target),
        deps.kinds,
      ),
    };
    byDeps.set(deps, services);
  }
  return services;
}
