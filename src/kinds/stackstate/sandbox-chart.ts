import { BACKUP_SCRIPTS_LABEL } from "./chart-templates.js";

/**
 * The restore part of the StackState chart's backup-scripts ConfigMap, as the sandbox and the
 * tests put it in the Kubernetes simulator: the `job-<template>.yaml` / `pvc-<template>.yaml`
 * keys with the chart's `REPLACE_ME_…` placeholders, and the per-instance
 * `restore-<instance>-enabled` keys its Victoria Metrics script checks. The images and commands
 * are the chart's; in the simulator a test (or the sandbox) says what the Job's pod does.
 */
export function sandboxBackupScriptsConfigMap(
  release: string,
  instances: readonly string[] = ["victoria-metrics-0", "victoria-metrics-1"],
): { metadata: { name: string; labels: Record<string, string> }; data: Record<string, string> } {
  const stackgraphJob = `apiVersion: batch/v1
kind: Job
metadata:
  name: stackgraph-restore-backup
  labels:
    app.kubernetes.io/component: stackgraph-restore-backup
spec:
  backoffLimit: 0
  template:
    metadata:
      labels:
        app.kubernetes.io/component: stackgraph-restore-backup
    spec:
      restartPolicy: Never
      containers:
        - name: restore
          image: quay.io/stackstate/stackstate-server:latest
          command: ["/backup-restore-scripts/restore-stackgraph-backup.sh"]
          env:
            - name: BACKUP_FILE
              value: "REPLACE_ME_BACKUP_FILE_REPLACE_ME"
            - name: FORCE_DELETE
              value: "REPLACE_ME_FORCE_DELETE_REPLACE_ME"
            - name: BACKUP_STACKGRAPH_BUCKET_NAME
              value: sts-stackgraph-backup
          volumeMounts:
            - name: backup-restore-data
              mountPath: /backup-restore-data
      volumes:
        - name: backup-restore-data
          persistentVolumeClaim:
            claimName: stackgraph-restore-backup
`;
  const stackgraphPvc = `apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: stackgraph-restore-backup
spec:
  accessModes: ["ReadWriteOnce"]
  resources:
    requests:
      storage: 10Gi
`;
  const metricsJob = `apiVersion: batch/v1
kind: Job
metadata:
  name: victoria-metrics-restore-backup
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: vmrestore
          image: victoriametrics/vmrestore:v1.93.0
          args:
            - -src=s3://sts-victoria-metrics-backup/REPLACE_ME_VICTORIA_METRICS_S3_PREFIX
            - -storageDataPath=/storage
            - -customS3Endpoint=http://${release}-minio:9000
          env:
            - name: INSTANCE
              value: REPLACE_ME_VICTORIA_METRICS_INSTANCE_NAME
`;
  return {
    metadata: {
      name: `${release}-backup-restore-scripts`,
      labels: { [BACKUP_SCRIPTS_LABEL]: "true", "app.kubernetes.io/instance": release },
    },
    data: {
      "job-stackgraph-restore-backup.yaml": stackgraphJob,
      "pvc-stackgraph-restore-backup.yaml": stackgraphPvc,
      "job-victoria-metrics-restore-backup.yaml": metricsJob,
      ...Object.fromEntries(instances.map((i) => [`restore-${i}-enabled`, "true"])),
    },
  };
}
