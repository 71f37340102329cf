// /readyz of an edge worker (its metrics listener): ready once it is registered with its gateway
// and the gateway answers; while the gateway is unreachable, not ready, saying since when and the
// last error. (Its data dir is checked beside it: data-dir-check.ts.) Not ready does not stop the
// worker: it keeps running its attempts and spooling their results until the link is back.

import type { ReadinessCheck } from "../api/readiness.ts";
import type { EdgeLink } from "../worker/edge/edge-link.ts";

type LinkView = Pick<EdgeLink, "state" | "reachable" | "unreachableReason" | "lastContactMs">;

export function gatewayCheck(link: LinkView, gateway: string): ReadinessCheck {
  return {
    name: "gateway",
    check: async () => {
      const why = link.unreachableReason === null ? "" : `: ${link.unreachableReason}`;
      if (link.state === "STOPPED") return "stopping: the edge link is closed";
      if (link.state !== "LINKED") return `not registered with the gateway ${gateway}${link.state === "NEW" ? " yet" : ""}${why}`;
      if (link.reachable === false) {
        const age = Math.round((performance.now() - link.lastContactMs) / 1000);
        return `the gateway ${gateway} is unreachable (last heartbeat answered ${age} s ago)${why}`;
      }
      return null;
    },
  };
}
