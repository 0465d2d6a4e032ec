/**
 * A stand-in for bench:influxdb-oss, in its own process so that its memory is not counted as
 * restorebot's and its event loop does not share restorebot's:
 *
 *   influxdb-oss-stand-in kubernetes <pvc>   the Kubernetes simulator; exec runs for real on
 *                                             this machine with the PVC mounted
 *   influxdb-oss-stand-in s3 <bucket>         the S3 stand-in (objects in memory)
 *
 * Prints one JSON line once listening ({ kubeconfig, namespace, pvcDir } or { endpoint }) and
 * stops when its stdin closes.
 */
import { startKubernetesSimulator, writeKubeconfig } from "../stand-ins/kubernetes/index.js";
import { startS3StandIn } from "../stand-ins/s3/server.js";

const [what, name] = process.argv.slice(2);
if ((what !== "kubernetes" && what !== "s3") || name === undefined)
  throw new Error("usage: influxdb-oss-stand-in <kubernetes PVC | s3 BUCKET>");

let close: () => Promise<void>;
if (what === "kubernetes") {
  const sim = await startKubernetesSimulator({
    timing: { startDelayMs: 10, readyDelayMs: 20, terminationDelayMs: 30 },
    localExec: true,
  });
  sim.createPvc(name, "100Gi");
  const kubeconfig = await writeKubeconfig(sim);
  console.log(
    JSON.stringify({ kubeconfig, namespace: sim.namespace, pvcDir: sim.pvcDirectory(name) }),
  );
  close = () => sim.close();
} else {
  const s3 = await startS3StandIn({ buckets: [name] });
  console.log(JSON.stringify({ endpoint: s3.endpoint }));
  close = () => s3.close();
}
process.stdin.resume();
process.stdin.once("end", () => {
  void close().finally(() => process.exit(0));
});
