import { describe, expect, it } from "vitest";
import {
  type ConfigMapLike,
  findBackupScriptsConfigMap,
  renderRestoreManifests,
} from "../../../src/kinds/stackstate/chart-templates.js";
import { clickHousePointsFrom } from "../../../src/kinds/stackstate/clickhouse-points.js";
import { elasticsearchPointFrom } from "../../../src/kinds/stackstate/elasticsearch-points.js";
import {
  indicesToRestore,
  parseIndicesOption,
  recoveryState,
} from "../../../src/kinds/stackstate/elasticsearch-restore.js";
import { parseStackStatePoint } from "../../../src/kinds/stackstate/point-ref.js";
import { parseCompactUtc } from "../../../src/kinds/stackstate/points.js";

describe("<store>:<name> point syntax", () => {
  it.each([
    [
      "stackgraph:sts-backup-20210216-0300.graph",
      { store: "stackgraph", latest: false, name: "sts-backup-20210216-0300.graph" },
    ],
    [
      "metrics:victoria-metrics-0/victoria-metrics-0-20231128160000",
      {
        store: "metrics",
        latest: false,
        name: "victoria-metrics-0/victoria-metrics-0-20231128160000",
      },
    ],
    [
      "clickhouse:incremental_2024-06-17T18-57-00",
      { store: "clickhouse", latest: false, name: "incremental_2024-06-17T18-57-00" },
    ],
    ["elasticsearch:latest", { store: "elasticsearch", latest: true }],
    ["Metrics:latest", { store: "metrics", latest: true }],
  ])("%s", (text, expected) => {
    expect(parseStackStatePoint(text)).toEqual(expected);
  });

  it.each([
    ["latest", /does not say which store.*<store>:latest/],
    ["sts-backup-20210216-0300.graph", /has no store/],
    [
      "influx:latest",
      /"influx" is not a StackState store.*stackgraph, metrics, clickhouse, elasticsearch/,
    ],
    ["stackgraph:", /names no stackgraph backup/],
    ["metrics:victoria-metrics-0", /A metrics point is <instance>\/<version>/],
    ["clickhouse:a/b", /no "\/" in it/],
    ["stackgraph:../etc", /is not a stackgraph backup name/],
  ])("refuses %s, saying what to type", (text, message) => {
    expect(() => parseStackStatePoint(text)).toThrow(message);
  });

  it("refuses a store the target does not configure", () => {
    expect(() => parseStackStatePoint("clickhouse:latest", ["stackgraph", "metrics"])).toThrow(
      /no clickhouse store configured \(it has stackgraph, metrics\).*`stackgraph:latest`/,
    );
  });

  it("reads compact UTC times and rejects impossible ones", () => {
    expect(parseCompactUtc("20231128160000")?.toISOString()).toBe("2023-11-28T16:00:00.000Z");
    expect(parseCompactUtc("202102160300")?.toISOString()).toBe("2021-02-16T03:00:00.000Z");
    expect(parseCompactUtc("20231340160000")).toBeUndefined();
    expect(parseCompactUtc("latest")).toBeUndefined();
  });
});

describe("ClickHouse chains and Elasticsearch snapshots, pure", () => {
  const meta = (name: string, required?: string) => ({
    name,
    metadata: {
      backup_name: name,
      creation_date: "2024-06-17T00:00:00Z",
      ...(required === undefined ? {} : { required_backup: required }),
    },
  });
  it("an incremental on a base that is still uploading is not restorable, and says so", () => {
    const points = clickHousePointsFrom([
      meta("incremental_b", "full_a"),
      { name: "full_a", metadata: undefined, problem: "it has no metadata.json" },
    ]);
    expect(points.find((p) => p.name === "incremental_b")?.notRestorable).toBe(
      "its base full_a is incomplete (it has no metadata.json)",
    );
  });
  it("a chain that loops is refused, not followed forever", () => {
    const points = clickHousePointsFrom([meta("x", "y"), meta("y", "x")]);
    expect(points[0]?.notRestorable).toMatch(/loops back/);
  });
  it("an IN_PROGRESS snapshot is listed but not restorable", () => {
    expect(
      elasticsearchPointFrom({
        snapshot: "s",
        state: "IN_PROGRESS",
        indices: ["a"],
        start_time_in_millis: 1,
      }),
    ).toMatchObject({
      complete: false,
      notRestorable: "the snapshot is still being taken",
    });
  });
});

describe("Elasticsearch indices to delete and recovery state, pure", () => {
  const snapshot = elasticsearchPointFrom({
    snapshot: "snap-1",
    state: "SUCCESS",
    indices: ["sts_b", "sts_a", "sts_c"],
    start_time_in_millis: 1,
  })!;
  it("deletes exactly what the snapshot holds, or the --indices subset", () => {
    expect(indicesToRestore(snapshot)).toEqual(["sts_a", "sts_b", "sts_c"]);
    expect(indicesToRestore(snapshot, parseIndicesOption(" sts_b, sts_a,"))).toEqual([
      "sts_b",
      "sts_a",
    ]);
  });
  it("refuses --indices names the snapshot does not hold, listing what it does", () => {
    expect(() => indicesToRestore(snapshot, ["sts_a", "live_index"])).toThrow(
      /--indices names "live_index", which snapshot "snap-1" does not hold, so restorebot will not delete it\. The snapshot holds 3 indices, e\.g\. sts_a,sts_b,sts_c/,
    );
  });
  it("is done only when every primary is DONE and no index is red", () => {
    const cat = [{ index: "a", health: "green", pri: "2" }];
    const recovering = {
      a: {
        shards: [
          { id: 0, stage: "DONE", primary: true },
          { id: 1, stage: "INDEX", primary: true },
        ],
      },
    };
    expect(recoveryState(["a"], cat, recovering, []).state).toBe("running");
    expect(
      recoveryState(
        ["a", "b"],
        cat,
        {
          a: {
            shards: [
              { id: 0, stage: "DONE" },
              { id: 1, stage: "DONE" },
            ],
          },
        },
        [],
      ).progress.missing,
    ).toEqual(["b"]);
    expect(
      recoveryState(
        ["a"],
        cat,
        {
          a: {
            shards: [
              { id: 0, stage: "DONE" },
              { id: 1, stage: "DONE" },
            ],
          },
        },
        [],
      ).state,
    ).toBe("done");
  });
});

/**
 * Shaped like the chart's `<release>-backup-restore-scripts` ConfigMap
 * (templates/configmap-backup-restore-scripts.yaml in StackVista/helm-charts), trimmed to the
 * fields that matter: the template names in metadata and claims, and the placeholders.
 */
const chartConfigMap = (data: Record<string, string>): ConfigMapLike => ({
  metadata: {
    name: "stackstate-backup-restore-scripts",
    labels: { "stackstate.com/backup-scripts": "true" },
  },
  data,
});
const STACKGRAPH_JOB = `apiVersion: batch/v1
kind: Job
metadata:
  name: stackgraph-restore-backup
  labels:
    app.kubernetes.io/component: backup
spec:
  backoffLimit: 1
  template:
    spec:
      containers:
        - name: restore
          image: "quay.io/stackstate/stackstate-server:6.0"
          command:
            - '/backup-restore-scripts/restore-stackgraph-backup.sh'
          env:
            - name: BACKUP_FILE
              value: "REPLACE_ME_BACKUP_FILE_REPLACE_ME"
            - name: FORCE_DELETE
              value: "REPLACE_ME_FORCE_DELETE_REPLACE_ME"
      restartPolicy: Never
      volumes:
        - name: tmp-data
          persistentVolumeClaim:
            claimName: stackgraph-restore-backup
`;
const STACKGRAPH_PVC = `apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: stackgraph-restore-backup
spec:
  accessModes: ["ReadWriteOnce"]
  resources:
    requests:
      storage: 100Gi
`;
const VM_JOB = `apiVersion: batch/v1
kind: Job
metadata:
  name: victoria-metrics-restore-backup
spec:
  template:
    spec:
      containers:
        - name: restore
          command:
            - '/backup-restore-scripts/restore-victoria-metrics-backup.sh'
          args:
            - "REPLACE_ME_VICTORIA_METRICS_INSTANCE_NAME"
            - "REPLACE_ME_VICTORIA_METRICS_S3_PREFIX"
      volumes:
        - name: victoria-metrics-storage
          persistentVolumeClaim:
            claimName: server-volume-stackstate-REPLACE_ME_VICTORIA_METRICS_INSTANCE_NAME-0
`;

describe("restore Jobs rendered from the chart's ConfigMap", () => {
  it("finds the ConfigMap by its label, and refuses when backups are not enabled", () => {
    const other = { metadata: { name: "stackstate-config", labels: {} } };
    expect(
      findBackupScriptsConfigMap([other, chartConfigMap({})], "stackstate").metadata?.name,
    ).toBe("stackstate-backup-restore-scripts");
    expect(() => findBackupScriptsConfigMap([other], "stackstate")).toThrow(
      /No ConfigMap labelled stackstate\.com\/backup-scripts=true in namespace stackstate.*Set backup\.enabled/,
    );
  });

  it("StackGraph: Job and PVC named for the run, the file and -force replaced as the chart's script does", () => {
    const cm = chartConfigMap({
      "job-stackgraph-restore-backup.yaml": STACKGRAPH_JOB,
      "pvc-stackgraph-restore-backup.yaml": STACKGRAPH_PVC,
    });
    const forced = renderRestoreManifests(
      cm,
      {
        template: "stackgraph-restore-backup",
        backupFile: "sts-backup-20210216-0300.graph",
        force: true,
      },
      "stackgraph-restore-r42",
    );
    expect(forced.job).toMatchObject({ kind: "Job", metadata: { name: "stackgraph-restore-r42" } });
    const spec = (
      forced.job as {
        spec: { template: { spec: { containers: Array<{ env: unknown }>; volumes: unknown } } };
      }
    ).spec.template.spec;
    expect(spec.containers[0]?.env).toEqual([
      { name: "BACKUP_FILE", value: "sts-backup-20210216-0300.graph" },
      { name: "FORCE_DELETE", value: "-force" },
    ]);
    expect(spec.volumes).toEqual([
      { name: "tmp-data", persistentVolumeClaim: { claimName: "stackgraph-restore-r42" } },
    ]);
    expect(forced.pvc).toMatchObject({
      kind: "PersistentVolumeClaim",
      metadata: { name: "stackgraph-restore-r42" },
    });
    const plain = renderRestoreManifests(
      cm,
      { template: "stackgraph-restore-backup", backupFile: "x.graph", force: false },
      "stackgraph-restore-r43",
    );
    expect(JSON.stringify(plain.job)).toContain('{"name":"FORCE_DELETE","value":""}');
  });

  it("Victoria Metrics: instance and <instance>/<version> prefix, only when that instance's restore is enabled", () => {
    const cm = chartConfigMap({
      "job-victoria-metrics-restore-backup.yaml": VM_JOB,
      "restore-victoria-metrics-0-enabled": "true",
      "restore-victoria-metrics-1-enabled": "false",
    });
    const rendered = renderRestoreManifests(
      cm,
      {
        template: "victoria-metrics-restore-backup",
        instance: "victoria-metrics-0",
        s3Prefix: "victoria-metrics-0/victoria-metrics-0-20231128160000",
      },
      "victoria-metrics-restore-backup-r7",
    );
    const text = JSON.stringify(rendered.job);
    expect(text).toContain(
      '"args":["victoria-metrics-0","victoria-metrics-0/victoria-metrics-0-20231128160000"]',
    );
    expect(text).toContain("server-volume-stackstate-victoria-metrics-0-0");
    expect(rendered.pvc).toBeUndefined();
    expect(() =>
      renderRestoreManifests(
        cm,
        {
          template: "victoria-metrics-restore-backup",
          instance: "victoria-metrics-1",
          s3Prefix: "a/b",
        },
        "vm-r8",
      ),
    ).toThrow(
      /Restores of victoria-metrics-1 are not enabled.*restore-victoria-metrics-1-enabled: "false".*victoria-metrics-1\.restore\.enabled/,
    );
  });

  it("refuses clearly when the chart has restores of that store turned off, or a placeholder it does not know", () => {
    expect(() =>
      renderRestoreManifests(
        chartConfigMap({}),
        { template: "stackgraph-restore-backup", backupFile: "x.graph", force: false },
        "sg-r1",
      ),
    ).toThrow(
      /Restores are not enabled in the StackState chart: ConfigMap stackstate-backup-restore-scripts has no job-stackgraph-restore-backup\.yaml\. Set backup\.enabled and backup\.stackGraph\.restore\.enabled to true/,
    );
    const newer = chartConfigMap({
      "job-stackgraph-restore-backup.yaml": `${STACKGRAPH_JOB}# REPLACE_ME_NEW_THING_REPLACE_ME\n`,
      "pvc-stackgraph-restore-backup.yaml": STACKGRAPH_PVC,
    });
    expect(() =>
      renderRestoreManifests(
        newer,
        { template: "stackgraph-restore-backup", backupFile: "x.graph", force: false },
        "sg-r1",
      ),
    ).toThrow(/placeholder restorebot does not know \(REPLACE_ME_NEW_THING_REPLACE_ME\)/);
    expect(() =>
      renderRestoreManifests(
        chartConfigMap({
          "job-stackgraph-restore-backup.yaml": STACKGRAPH_JOB,
          "pvc-stackgraph-restore-backup.yaml": STACKGRAPH_PVC,
        }),
        { template: "stackgraph-restore-backup", backupFile: 'x"\n  evil: true', force: false },
        "sg-r1",
      ),
    ).toThrow(/characters a StackState backup name never has/);
  });
});
