import { PassThrough, Readable } from "node:stream";
import { ApiException, Exec, Log, type V1Status } from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import { INFLUXDB_CLUSTERED_RBAC_RULES } from "../../../src/kinds/influxdb-clustered/runbook/rbac.js";
import { influxdbClusteredSimulator } from "../../../src/kinds/influxdb-clustered/sandbox/simulated-cluster.js";
import {
  type KubernetesSimulator,
  type KubernetesSimulatorOptions,
  kubeconfigFor,
  startKubernetesSimulator,
} from "../../../stand-ins/kubernetes/index.js";

// Pod exec and pod logs, driven by the real @kubernetes/client-node 2.x Exec and Log classes.

const NS = "influxdb";
const ROUTER = "global-router"; // Deployment, 3 pods of one container ("router")
const CATALOG = "iox-shared-catalog-0"; // StatefulSet pod with two containers

let sims: KubernetesSimulator[] = [];

afterEach(async () => {
  await Promise.all(sims.map((s) => s.close()));
  sims = [];
});

async function start(options: KubernetesSimulatorOptions = {}) {
  const sim = await startKubernetesSimulator({
    ...influxdbClusteredSimulator(),
    timing: { startDelayMs: 5, readyDelayMs: 5, terminationDelayMs: 30 },
    ...options,
  });
  sims.push(sim);
  await sim.waitFor((s) => s.components.every((c) => c.readyReplicas === c.specReplicas));
  const kc = kubeconfigFor(sim);
  return { sim, kc, exec: new Exec(kc), log: new Log(kc) };
}

async function until(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function podOf(sim: KubernetesSimulator, component: string): string {
  const pod = sim.snapshot().components.find((c) => c.name === component)?.pods[0];
  if (!pod) throw new Error(`no pod of ${component}`);
  return pod.name;
}

/** A writable that collects what it is sent, and knows when it was ended. */
function sink() {
  const stream = new PassThrough();
  let text = "";
  let ended = false;
  stream.on("data", (d: Buffer) => {
    text += d.toString("utf8");
  });
  stream.on("end", () => {
    ended = true;
  });
  return { stream, text: () => text, ended: () => ended };
}

/** Runs one exec to its end: the Status on channel 3, or the socket closing without one. */
async function runExec(
  exec: Exec,
  pod: string,
  container: string,
  command: string[],
  stdin: Readable | null,
) {
  const stdout = sink();
  const stderr = sink();
  let status: V1Status | undefined;
  const ws = await exec.exec(
    NS,
    pod,
    container,
    command,
    stdout.stream,
    stderr.stream,
    stdin,
    false,
    (s) => {
      status = s;
    },
  );
  const protocol = ws.protocol;
  await new Promise<void>((resolve) => {
    if (ws.readyState === ws.CLOSED) resolve();
    else ws.addEventListener("close", () => resolve());
  });
  return { stdout: stdout.text(), stderr: stderr.text(), status, protocol };
}

function upgradeError(err: unknown): string {
  return err instanceof Error ? err.message : String((err as { message?: unknown }).message ?? err);
}

describe("Kubernetes API simulator: pod exec over WebSocket", () => {
  it("negotiates v5, streams stdin to the command and its stdout, stderr and exit status back", async () => {
    const { sim, exec } = await start();
    const pod = podOf(sim, ROUTER);
    sim.onExec({ pod, container: "router", command: ["tr", "a-z", "A-Z"] }, async (session) => {
      for await (const chunk of session.stdin) session.stdout.write(String(chunk).toUpperCase());
      session.stderr.write("tr: done\n");
      return 0;
    });
    const result = await runExec(
      exec,
      pod,
      "router",
      ["tr", "a-z", "A-Z"],
      Readable.from(["hello ", "world\n"]),
    );
    expect(result.protocol).toBe("v5.channel.k8s.io");
    expect(result.stdout).toBe("HELLO WORLD\n");
    expect(result.stderr).toBe("tr: done\n");
    expect(result.status).toMatchObject({ status: "Success" });
    expect(sim.execs()).toEqual([
      expect.objectContaining({
        pod,
        container: "router",
        command: ["tr", "a-z", "A-Z"],
        protocol: "v5.channel.k8s.io",
        exitCode: 0,
        outcome: "Success",
        closedByClient: false,
        finished: true,
      }),
    ]);
    expect(sim.execs()[0]?.stdin.toString()).toBe("hello world\n");
  });

  it("hands stdin over as it arrives: the command answers each line before the next is sent", async () => {
    const { sim, exec } = await start();
    const pod = podOf(sim, ROUTER);
    sim.onExec({ command: ["cat"] }, async (session) => {
      for await (const chunk of session.stdin) session.stdout.write(`echo:${chunk}`);
      return 0;
    });
    const stdin = new PassThrough();
    const stdout = sink();
    let status: V1Status | undefined;
    await exec.exec(NS, pod, "router", ["cat"], stdout.stream, null, stdin, false, (s) => {
      status = s;
    });
    stdin.write("one\n");
    await until("the first echo", () => stdout.text() === "echo:one\n");
    stdin.write("two\n");
    await until("the second echo", () => stdout.text() === "echo:one\necho:two\n");
    expect(status).toBeUndefined(); // still running: stdin is open
    stdin.end();
    await until("the exit status", () => status !== undefined);
    expect(status).toMatchObject({ status: "Success" });
  });

  it("reports a non-zero exit as Kubernetes does: NonZeroExitCode with the code as its cause", async () => {
    const { sim, exec } = await start();
    const pod = podOf(sim, ROUTER);
    sim.onExec({ command: (argv) => argv[0] === "false" }, () => 3);
    const result = await runExec(exec, pod, "router", ["false", "--now"], null);
    expect(result.status).toMatchObject({
      status: "Failure",
      reason: "NonZeroExitCode",
      details: { causes: [{ reason: "ExitCode", message: "3" }] },
    });
    expect(result.status?.message).toContain("exit code 3");
    expect(sim.execs()[0]).toMatchObject({ exitCode: 3, finished: true });
  });

  it("fails a command nothing registered as a missing executable, and a throwing one as an internal error", async () => {
    const { sim, exec } = await start();
    const pod = podOf(sim, ROUTER);
    const missing = await runExec(exec, pod, "router", ["influxctl", "version"], null);
    expect(missing.status).toMatchObject({ status: "Failure", reason: "InternalError" });
    expect(missing.status?.message).toContain(
      'exec: "influxctl": executable file not found in $PATH',
    );

    sim.onExec({ command: ["boom"] }, () => {
      throw new Error("disk full");
    });
    const thrown = await runExec(exec, pod, "router", ["boom"], null);
    expect(thrown.status).toMatchObject({ status: "Failure", reason: "InternalError" });
    expect(thrown.status?.message).toContain("disk full");
    expect(sim.execs().map((e) => e.exitCode)).toEqual([undefined, undefined]);
  });

  it("picks the container by name in a pod with two, and runs only handlers registered for it", async () => {
    const { sim, exec } = await start();
    sim.onExec({ pod: /^iox-shared-catalog-/, container: "postgres", command: ["whoami"] }, (s) => {
      s.stdout.write(`${s.pod}/${s.container}\n`);
      return 0;
    });
    const ok = await runExec(exec, CATALOG, "postgres", ["whoami"], null);
    expect(ok.stdout).toBe(`${CATALOG}/postgres\n`);
    const other = await runExec(exec, CATALOG, "exporter", ["whoami"], null);
    expect(other.status?.message).toContain("executable file not found");
  });

  it("refuses before upgrading, with the API server's status: no pod, a wrong or missing container, no command, no permission", async () => {
    const { sim, exec } = await start();
    const pod = podOf(sim, ROUTER);
    const attempt = (name: string, container: string, command: string[]) =>
      exec.exec(NS, name, container, command, null, null, null, false).then(
        () => "upgraded",
        (err: unknown) => upgradeError(err),
      );
    expect(await attempt("no-such-pod", "router", ["true"])).toContain("404");
    expect(await attempt(pod, "nope", ["true"])).toContain("400");
    expect(await attempt(CATALOG, "", ["true"])).toContain("400");
    expect(await attempt(pod, "router", [])).toContain("400");
    const statuses = sim
      .requests()
      .filter((r) => r.resource === "pods/exec")
      .map((r) => r.status);
    expect(statuses).toEqual([404, 400, 400, 400]);
    expect(sim.execs()).toEqual([]);

    // The chart's Role grants no exec: a ServiceAccount bound to it gets 403 for `create pods/exec`.
    const { sim: locked, exec: lockedExec } = await start({
      rbacRules: INFLUXDB_CLUSTERED_RBAC_RULES,
    });
    const refused = await lockedExec
      .exec(NS, podOf(locked, ROUTER), "router", ["true"], null, null, null, false)
      .then(
        () => "upgraded",
        (err: unknown) => upgradeError(err),
      );
    expect(refused).toContain("403");
    expect(locked.requests().at(-1)).toMatchObject({
      resource: "pods/exec",
      verb: "create",
      status: 403,
    });
  });

  it("under v4 only (Kubernetes before 1.30), closing stdin closes the whole connection: the rest of the output is lost", async () => {
    const { sim, exec } = await start({ execProtocols: ["v4.channel.k8s.io"] });
    const pod = podOf(sim, ROUTER);
    let aborted = false;
    sim.onExec({ command: ["restore"] }, async (session) => {
      session.stdout.write("reading\n");
      let bytes = 0;
      for await (const chunk of session.stdin) bytes += (chunk as Buffer).length;
      aborted = session.signal.aborted;
      session.stdout.write(`restored ${bytes} bytes\n`);
      return 0;
    });
    const stdin = new PassThrough();
    const stdout = sink();
    let status: V1Status | undefined;
    const ws = await exec.exec(
      NS,
      pod,
      "router",
      ["restore"],
      stdout.stream,
      null,
      stdin,
      false,
      (s) => {
        status = s;
      },
    );
    expect(ws.protocol).toBe("v4.channel.k8s.io");
    await until("the command's first line", () => stdout.text() === "reading\n");
    stdin.end("catalog.sql");
    await until("the command to finish", () => sim.execs()[0]?.finished === true);
    expect(sim.execs()[0]).toMatchObject({ protocol: "v4.channel.k8s.io", closedByClient: true });
    expect(sim.execs()[0]?.stdin.toString()).toBe("catalog.sql");
    expect(aborted).toBe(true);
    expect(stdout.text()).toBe("reading\n"); // "restored … bytes" never arrives
    expect(status).toBeUndefined(); // nor does the exit status

    // Without stdin there is nothing to close early: output and status arrive under v4 too.
    sim.onExec({ command: ["echo", "hi"] }, (s) => {
      s.stdout.write("hi\n");
      return 0;
    });
    const plain = await runExec(exec, pod, "router", ["echo", "hi"], null);
    expect(plain).toMatchObject({
      protocol: "v4.channel.k8s.io",
      stdout: "hi\n",
      status: { status: "Success" },
    });
  });

  it("with v5 offered and accepted, the same command gets its output and status back after stdin ends", async () => {
    const { sim, exec } = await start();
    const pod = podOf(sim, ROUTER);
    sim.onExec({ command: ["restore"] }, async (session) => {
      let bytes = 0;
      for await (const chunk of session.stdin) bytes += (chunk as Buffer).length;
      session.stdout.write(`restored ${bytes} bytes\n`);
      return 0;
    });
    const result = await runExec(exec, pod, "router", ["restore"], Readable.from(["catalog.sql"]));
    expect(result).toMatchObject({
      protocol: "v5.channel.k8s.io",
      stdout: "restored 11 bytes\n",
      status: { status: "Success" },
    });
    expect(sim.execs()[0]?.closedByClient).toBe(false);
  });
});

describe("Kubernetes API simulator: pod logs", () => {
  it("serves a container's log, the last lines with tailLines, and the named container of a pod with two", async () => {
    const { sim, log } = await start();
    const pod = podOf(sim, ROUTER);
    sim.writeLog(pod, "line 1\nline 2\nline 3\n");
    sim.writeLog(CATALOG, "exporter up\n", { container: "exporter" });
    sim.writeLog(CATALOG, "postgres up\n", { container: "postgres" });

    const read = async (name: string, container: string, options = {}) => {
      const out = sink();
      await log.log(NS, name, container, out.stream, { follow: false, ...options });
      await until("the log to end", out.ended);
      return out.text();
    };
    expect(await read(pod, "router")).toBe("line 1\nline 2\nline 3\n");
    expect(await read(pod, "router", { tailLines: 2 })).toBe("line 2\nline 3\n");
    expect(await read(CATALOG, "postgres")).toBe("postgres up\n");
    expect(await read(CATALOG, "exporter")).toBe("exporter up\n");
    expect(sim.requests().at(-1)).toMatchObject({ resource: "pods/log", verb: "get", status: 200 });
  });

  it("follows a log: what is written later streams, and the stream ends when the pod is deleted", async () => {
    const { sim, log } = await start();
    const pod = podOf(sim, ROUTER);
    sim.writeLog(pod, "old 1\nold 2\n");
    const out = sink();
    await log.log(NS, pod, "router", out.stream, { follow: true, tailLines: 1 });
    await until("the tail", () => out.text() === "old 2\n");
    expect(sim.activeLogStreams()).toBe(1);
    sim.writeLog(pod, "new 1\n");
    await until("a new line", () => out.text() === "old 2\nnew 1\n");
    expect(out.ended()).toBe(false);
    expect(sim.deletePod(pod)).toBe(true);
    await until("the stream to end with the pod", out.ended);
    expect(sim.activeLogStreams()).toBe(0);
  });

  it("stops following when the client goes away", async () => {
    // Plain fetch, not Log: aborting Log.log's AbortController in client-node 2.x errors its
    // internal response stream, which has no error listener, so the AbortError is thrown as an
    // uncaught exception in the client's process (see README.md).
    const { sim } = await start();
    const pod = podOf(sim, ROUTER);
    const controller = new AbortController();
    const response = await fetch(`${sim.url}/api/v1/namespaces/${NS}/pods/${pod}/log?follow=true`, {
      headers: { Authorization: `Bearer ${sim.token}` },
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    await until("the stream to open", () => sim.activeLogStreams() === 1);
    controller.abort();
    await response.body?.cancel().catch(() => undefined);
    await until("the server to drop the stream", () => sim.activeLogStreams() === 0);
  });

  it("answers a missing pod with 404 and an unnamed container of a two-container pod with 400", async () => {
    const { log } = await start();
    const status = (name: string, container: string) =>
      log.log(NS, name, container, new PassThrough(), { follow: false }).then(
        () => 200,
        (err: unknown) => (err instanceof ApiException ? err.code : -1),
      );
    expect(await status("no-such-pod", "router")).toBe(404);
    expect(await status(CATALOG, "")).toBe(400);
    expect(await status(CATALOG, "nope")).toBe(400);
  });
});
