/**
 * A meta pod of InfluxDB Enterprise in the Kubernetes simulator: exec'd commands in pods whose
 * name matches run against the `influxd-ctl` stand-in and its in-memory file tree. Besides
 * `influxd-ctl` it answers the plain commands restorebot runs there — `rm -rf`, `mkdir -p`,
 * `find <dir> -type f -printf '%s %P\n'`, `tar cf - -C <dir> <names…>`, `tar xf - -C <dir>`
 * and `df -Pk <dir>` — as GNU coreutils and tar would; any other command exits 127 as a shell
 * does for a missing one.
 */

import { Readable } from "node:stream";
import { extract as tarExtract, pack as tarPack } from "tar-stream";
import type { KubernetesSimulator } from "../kubernetes/simulator.js";
import type { InfluxdCtlStandIn } from "./influxd-ctl.js";

export interface MetaPodHost {
  /** Bytes `df` reports free in every directory; Infinity (the default) reports 1 TiB. */
  freeBytes: number;
  /** Stops answering exec in the meta pods. */
  close(): void;
}

function under(ctl: InfluxdCtlStandIn, dir: string): string[] {
  const d = dir.replace(/\/+$/, "");
  return [...ctl.files.keys()].filter((k) => k.startsWith(`${d}/`)).sort();
}

export function hostMetaPod(
  sim: KubernetesSimulator,
  ctl: InfluxdCtlStandIn,
  options: { pod?: RegExp } = {},
): MetaPodHost {
  const pod = options.pod ?? /^influxdb-meta-/;
  const host: MetaPodHost = { freeBytes: Number.POSITIVE_INFINITY, close: () => {} };
  const offs: Array<() => void> = [];
  const on = (name: string, handler: Parameters<KubernetesSimulator["onExec"]>[1]) =>
    offs.push(sim.onExec({ pod, command: (c) => c[0] === name }, handler));

  on("influxd-ctl", (s) => {
    const r = ctl.run([...s.command.slice(1)]);
    s.stdout.write(r.stdout);
    s.stderr.write(r.stderr);
    return r.exitCode;
  });
  on("rm", (s) => {
    for (const path of s.command.slice(1).filter((a) => !a.startsWith("-"))) ctl.remove(path);
    return 0;
  });
  on("mkdir", (s) => {
    for (const path of s.command.slice(1).filter((a) => !a.startsWith("-"))) ctl.mkdir(path);
    return 0;
  });
  on("find", (s) => {
    const dir = (s.command[1] ?? "").replace(/\/+$/, "");
    if (!ctl.exists(dir)) {
      s.stderr.write(`find: '${dir}': No such file or directory\n`);
      return 1;
    }
    for (const k of under(ctl, dir))
      s.stdout.write(`${ctl.files.get(k)?.length ?? 0} ${k.slice(dir.length + 1)}\n`);
    return 0;
  });
  on("df", (s) => {
    const dir = s.command.at(-1) ?? "/";
    if (!ctl.exists(dir)) {
      s.stderr.write(`df: ${dir}: No such file or directory\n`);
      return 1;
    }
    const free = Number.isFinite(host.freeBytes) ? host.freeBytes : 2 ** 40;
    const blocks = Math.floor(free / 1024);
    s.stdout.write(
      `Filesystem     1024-blocks      Used Available Capacity Mounted on\noverlay        ${blocks + 1000} 1000 ${blocks} 1% /\n`,
    );
    return 0;
  });
  on("tar", async (s) => {
    const [, mode, , flagC, dir = ""] = s.command;
    if (flagC !== "-C" || !ctl.exists(dir)) {
      s.stderr.write(`tar: ${dir}: Cannot open: No such file or directory\n`);
      return 2;
    }
    if (mode === "cf") {
      const p = tarPack();
      for (const name of s.command.slice(5)) {
        const body = ctl.files.get(`${dir}/${name}`);
        if (!body) {
          s.stderr.write(`tar: ${name}: Cannot stat: No such file or directory\n`);
          return 2;
        }
        p.entry({ name }, body);
      }
      p.finalize();
      for await (const chunk of p) s.stdout.write(chunk as Buffer);
      return 0;
    }
    let written = 0;
    let full = false;
    const ex = tarExtract();
    const done = new Promise<void>((resolve, reject) => {
      ex.on("entry", (header, body, next) => {
        const chunks: Buffer[] = [];
        body.on("data", (c) => chunks.push(c as Buffer));
        body.on("end", () => {
          const bytes = Buffer.concat(chunks);
          written += bytes.length;
          if (written > host.freeBytes) full = true;
          else {
            const path = `${dir}/${header.name}`;
            ctl.mkdir(path.slice(0, path.lastIndexOf("/")));
            ctl.files.set(path, bytes);
          }
          next();
        });
      });
      ex.on("finish", resolve);
      ex.on("error", reject);
    });
    Readable.from(s.stdin).pipe(ex);
    await done;
    if (full) {
      s.stderr.write("tar: Cannot write: No space left on device\n");
      return 2;
    }
    return 0;
  });
  host.close = () => {
    for (const off of offs.splice(0)) off();
  };
  return host;
}
