/**
 * What the core knows about a kind of target (a system restorebot restores). Each kind is one
 * folder under src/kinds/ exporting one `Kind`; the registry (registry.ts) lists them. The bot,
 * the worker, the plan command, the narration and the chart reach a kind only through this
 * interface, so adding a system is its folder plus one registry line (docs/adding-a-system.md).
 *
 * Members that take the kind's target are methods, not function-typed properties: a
 * `Kind<ItsOwnTarget>` then stands in the registry as a `Kind` (method parameters are
 * bivariant), and the registry hands each kind only targets of its own kind.
 */

import type { z } from "zod";
import type { ClusterPort, PodSummary } from "../adapters/kubernetes/cluster-port.js";
import type { KubernetesCluster } from "../adapters/kubernetes/kubernetes-cluster.js";
import type { RbacRule } from "../adapters/kubernetes/rbac.js";
import type { ObjectStore } from "../adapters/s3/object-store.js";
import type { BackupLocation, BackupPoint } from "../backups/index.js";
import type { TargetBase } from "../config/schema-parts.js";
import type { SandboxSetup } from "../demo/scenario.js";
import type { Logger } from "../logging/logger.js";
import type {
  RecoveryPointDetails,
  RecoveryPointRef,
  RecoveryPointSource,
  VerificationProgress,
  VerificationReport,
} from "../recovery-points/recovery-point.js";
import type { VerificationSummary } from "../recovery-points/verification-store.js";
import type { Db } from "../runbook/run-store.js";
import type { PhaseRunRecord, Runbook, RunRequest } from "../runbook/types.js";

export type { PodSummary };

/** A JSON value: what a kind freezes as a request's recovery point (column `point`). */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | JsonValue[]
  | { [key: string]: JsonValue };

/** A recovery point frozen when a request is made: what approvers approve, exactly. */
export interface FrozenPoint {
  /** The point as listed, e.g. `2024-08-12T14:00:00+00:00`. */
  id: string;
  time: Date;
  /** The kind's own record of the point (e.g. a snapshot folder, a dump's key, ETag, size). */
  point: JsonValue;
}

/** Freezing a described point: the frozen value, or why it cannot be restored. */
export type FreezeResult =
  | { ok: true; point: JsonValue }
  /**
   * `final`: `latest` must stop here and refuse rather than fall back to an older point (the
   * newest finished point is what `latest` means); otherwise `latest` passes over it.
   */
  | { ok: false; message: string; final: boolean };

/** Re-checking a frozen point before a run changes anything (a kind's first phase). */
export type FrozenPointCheck = { ok: true } | { ok: false; message: string };

/** A config problem found after parsing: the key (below the target) and what is wrong. */
export interface ConfigProblem {
  key: string;
  message: string;
}

/** Where a target's object store is, when the kind reads one. */
export interface ObjectStoreSettings {
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
}

/** A phase or roll back step by name and title, without its clients. */
export interface PhaseOutline {
  name: string;
  title: string;
  mutates: boolean;
}

export interface KindOutline {
  phases: readonly PhaseOutline[];
  rollback: readonly PhaseOutline[];
  /** The phase that replaces the target's data: before it starts, nothing is lost. */
  replacesData: string;
  /** The phase that takes the target down: once it started, a stop leaves it down. */
  takesDown: string;
  /** The phase that brings it back up: once it succeeded, the target is up again. */
  bringsUp: string;
}

/** What the worker builds a kind's restore runbook from, for one target. */
export interface RunbookDeps<T extends TargetBase = TargetBase> {
  target: T;
  /** restorebot's own database (checkpoints, replica records). */
  db: Db;
  /** The target's cluster: the runner's port, the step library's and pod work (Jobs, exec). */
  cluster: KubernetesCluster;
  /** The target's object store, built when first asked (kinds without one never ask). */
  objectStore: () => ObjectStore;
  /** The worker's environment (DSN variables named by the config); never logged. */
  env: NodeJS.ProcessEnv;
  /** Scratch space on the worker; a run's files go in `<workDir>/<request id>/`. */
  workDir: string;
  logger: Logger;
}

/**
 * A kind's words for what its restore replaces and loses (the approval card, its Approve
 * dialog, `/restore status`). `options` is the request's parsed restore options (null: none).
 */
export interface RestoreWords {
  /**
   * What is lost after the point: "catalog changes" (… after 14:00 UTC — about 2 h — will be
   * lost). A function when it depends on the point or the options; undefined from it when the
   * restore overwrites nothing live (InfluxDB Enterprise's `--newdb`), and the card says so.
   */
  lost: string | ((point: JsonValue, options: JsonValue | null) => string | undefined);
  /** "its catalog with the snapshot of <time>" (This takes <target> down and replaces …). */
  replaces(point: JsonValue, time: string, options: JsonValue | null): string;
  /**
   * The Approve dialog's sentence after "This ", when the restore does not take the whole
   * target down (default: "takes <target> down and replaces <replaces>").
   */
  effect?(target: string, point: JsonValue, time: string, options: JsonValue | null): string;
  /**
   * What the restore stops and for how long (the card's "Downtime" line), e.g. "InfluxDB is
   * stopped from phase 2 until the restored node answers in phase 6".
   */
  downtime?(point: JsonValue, options: JsonValue | null): string;
  /** "the catalog was never touched" (No data lost: nothing ran, so …). */
  untouched: string;
  /** "the catalog restore" (… never started, so …): the phase `outline.replacesData`. */
  replacing: string;
  /** The card's field for the point: its label and its name as `/recovery-points` lists it. */
  point(point: JsonValue, pointTime: Date): { label: string; name: string };
}

/**
 * How `/recovery-points verify` says what a kind's verify checked: only what its source's
 * `verifyPoint` really did, read from the report that source fills.
 */
export interface VerifyWords {
  /** What verify reads, for its acknowledgement ("Verifying <target> <point>: …"). */
  reads: string;
  /** One line per check made, with its outcome (mrkdwn); `dataLocation` is the source's. */
  checks(report: VerificationReport, dataLocation: string): string[];
  /** A passed result in a few words (notifications, later listings): "48,211 files, none missing". */
  passed(summary: VerificationSummary): string;
  /** Why a stored result failed, in a few words, for later listings. */
  failed(summary: VerificationSummary): string;
  /** A stored result no longer applies (the point's ETag changed): "pg_dump.gz has changed since". */
  changed: string;
  /** What a long verify is doing, for kinds whose source reports progress. */
  progress?(progress: VerificationProgress): string;
  /** The heading of the report's `problems`, when there are any: "File list problems". */
  problemsHeading: string;
}

/** A kind's words for its time-named points: the `/recovery-points` listing and verify. */
export interface PointWords {
  /** One point, for people: "snapshot", "archive", "backup set", "point". */
  noun: string;
  /** Why a point is incomplete, when its source gives no reason. */
  incomplete: string;
  /** Why no point is restorable, when some exist: "every snapshot lacks bloom.bin.gz or pg_dump.gz". */
  noneComplete: string;
  /** A complete point its restore cannot use (details without `dumpSize`), and why. */
  unusable: string;
  /** The point's facts when its source gives no `summary`: "pg_dump.gz 1.2 MiB". */
  size(details: RecoveryPointDetails): string;
  verify: VerifyWords;
}

export interface PlanInput<T extends TargetBase = TargetBase> {
  target: T;
  /** Resolved the way a request freezes it, so the plan shows what a restore would use. */
  point: FrozenPoint;
  /** The target's cluster, built when first asked; read only (GET, LIST): the plan changes nothing. */
  cluster: () => ClusterPort;
  now: Date;
  /** An active request on the target, which a restore would have to wait for. */
  activeRequest?: { id: string; state: string };
  /** The target's object store, built when first asked; read only (kinds that plan object copies). */
  objectStore?: () => ObjectStore;
  /** The variables the config names (DSNs), when this process holds them; read only, never shown. */
  variables?: Readonly<Record<string, string>>;
}

export interface PlanText {
  /** One line per phase, numbered as the runbook numbers them. */
  phases: string[];
  /** Things worth knowing before asking for the restore. */
  warnings: string[];
  summary: string;
}

/** What a kind that names its own points reads them through (the bot builds it per target). */
export interface PointAccess {
  /** The target's object store, built when first asked. */
  objectStore: () => ObjectStore;
  /** The target's cluster, built when first asked (e.g. a service reached through its proxy). */
  cluster: () => ClusterPort;
  now: Date;
}

/** A point a kind resolved from its own name: frozen, or why not (said with what to type). */
export type NamedPointResolution =
  | { ok: true; point: FrozenPoint }
  | { ok: false; message: string };

/**
 * Points named by the kind rather than by time (StackState's `<store>:<name>`). The grammar
 * passes such a point on as typed; listing, freezing and verify go through these instead of the
 * time-named `RecoveryPointSource`.
 */
/**
 * A kind's own listing: the whole text (the message's notification text), and the same in parts
 * (a header, one per store), each part with the point its "Restore…" button opens the request
 * form on — for a store, its newest restorable point; the form lets the person pick another.
 */
export interface NamedListing {
  text: string;
  sections: Array<{ text: string; restorePoint: string | undefined }>;
}

export interface NamedPoints<T extends TargetBase = TargetBase> {
  /** How a point is written, for usage and refusals: "<store>:<name> or <store>:latest". */
  syntax: string;
  /** The stores of a multi-store target (`/recovery-points --store S`); [] when it has one. */
  stores(target: T): string[];
  /** `/recovery-points <target> [--store S] [--limit N]`: the listing as Slack mrkdwn. */
  list(
    target: T,
    query: { store: string | undefined; limit: number },
    access: PointAccess,
  ): Promise<NamedListing>;
  /** The point a request names, frozen; `latest` forms resolve to the newest complete one. */
  resolve(target: T, text: string, access: PointAccess): Promise<NamedPointResolution>;
  /** `/recovery-points verify <target> <point>`: the result as Slack mrkdwn. */
  verify(target: T, text: string, access: PointAccess): Promise<string>;
}

/**
 * A kind's own flags of `/restore <target> <point> [options] <reason…>` (DESIGN.md, "Grammar,
 * for every kind"). The request row keeps the parsed value (`restore_requests.options`); the
 * runbook reads `request.options`.
 */
export interface RestoreOptions<T extends TargetBase = TargetBase> {
  /** Usage fragment for help and refusals, e.g. "[--db X [--newdb Y]] [--rp R [--newrp S]]". */
  usage: string;
  /** Reads the kind's flags from the words after the point (before the reason): the options
   *  and how many words they used, or a refusal that says what to type instead. */
  parse(
    words: readonly string[],
    target: T,
  ): { ok: true; options: JsonValue; consumed: number } | { ok: false; message: string };
  /** Checks the options against the frozen point at request time (e.g. a db not in the set). */
  check?(options: JsonValue, point: JsonValue, target: T): string | undefined;
  /** Lines for the approval card (e.g. a bold overwrite warning). */
  cardLines(options: JsonValue, point: JsonValue): string[];
}

/**
 * A kind's own flags of `/backup <target> [options] <reason…>` (InfluxDB Enterprise:
 * `--incremental`). The request row keeps the parsed value (`restore_requests.options`); the
 * backup runbook reads `request.options`.
 */
export interface BackupOptions<T extends TargetBase = TargetBase> {
  /** Usage fragment for help and refusals, e.g. "[--incremental]". */
  usage: string;
  /** Reads the kind's flags from the words after the target (before the reason). */
  parse(
    words: readonly string[],
    target: T,
  ): { ok: true; options: JsonValue; consumed: number } | { ok: false; message: string };
  /** Lines for the backup's card and report. */
  cardLines(options: JsonValue): string[];
}

/** What `restorebot demo` / `npm start` sets up for a kind (see src/demo/scenario.ts). */
export interface SandboxScenario {
  /** One line on what the sandbox holds for this kind. */
  describe: string;
  /**
   * The scenario itself, imported only when the sandbox starts: it uses the stand-ins and
   * builds data, which `serve` and the worker never load.
   */
  load(): Promise<SandboxSetup>;
}

/** What the core needs of a kind that takes backups, besides its backup runbook. */
export interface BackupsOfKind<T extends TargetBase = TargetBase> {
  /** Where the target's points are (in the store `config.objectStore` describes). */
  location(target: T): BackupLocation;
  /** The backup runbook's phases and roll back steps, by name and title. */
  outline: { phases: readonly PhaseOutline[]; rollback: readonly PhaseOutline[] };
  /**
   * The shared-pool entries (`<key>/<etag>`) one point's manifest lists, for kinds whose points
   * share a pool of objects (Pachyderm); retention then prunes pool entries no point lists.
   */
  poolEntriesOf?(target: T, store: ObjectStore, point: BackupPoint): AsyncIterable<string>;
}

export interface Kind<T extends TargetBase = TargetBase> {
  /** The `kind:` of a target in restorebot.yaml (kebab-case). */
  id: string;
  /** The system's name for people. */
  label: string;
  config: {
    /** The kind's own keys of a target (besides the shared ones in schema-parts.ts). */
    shape: z.ZodRawShape;
    /** The parsed target with the kind's defaults filled in. */
    complete(parsed: TargetBase & Record<string, unknown>): T;
    /**
     * Problems zod cannot see. `requireSecrets` is true on the worker, which must find every
     * environment variable the target names.
     */
    problems(
      target: T,
      context: { env: NodeJS.ProcessEnv; requireSecrets: boolean },
    ): ConfigProblem[];
    /** Environment variables the worker reads for this target (for the env check and docs). */
    envVars(target: T): string[];
    /**
     * Where the recovery points are, for `/restore targets` (e.g. "snapshots in s3://…"), and
     * for the refusal of `/backup` on kinds whose points restorebot does not take.
     */
    describe(target: T): string;
    /** The object store a target's points live in; undefined when the kind uses none. */
    objectStore(target: T): ObjectStoreSettings | undefined;
  };
  points: {
    /** The target's recovery points; `objectStore` builds the target's store when asked. */
    source(target: T, objectStore: () => ObjectStore): RecoveryPointSource;
    /** The described point frozen into the request, or why it cannot be restored. */
    freeze(
      target: T,
      ref: RecoveryPointRef,
      details: RecoveryPointDetails | undefined,
    ): FreezeResult;
    /** Lines under "Snapshot" on the card (mrkdwn, unescaped). */
    cardLines(point: JsonValue): string[];
    /** The point in a request's report (`/restore status`). */
    reportLine(point: JsonValue): string;
    /** Present when the kind names its points itself (see `NamedPoints`). */
    named?: NamedPoints<T>;
  };
  restoreOptions?: RestoreOptions<T>;
  /** Flags of `/backup`, for kinds with `runbooks.backup` that take any. */
  backupOptions?: BackupOptions<T>;
  outline: KindOutline;
  runbooks: {
    restore(deps: RunbookDeps<T>): Runbook;
    /** The kind's backup runbook, for kinds where restorebot takes backups (/backup). */
    backup?(deps: RunbookDeps<T>): Runbook;
    /** Run when a worker starts (e.g. clear scratch files of runs that ended elsewhere). */
    prepareWorker?(workDir: string): Promise<unknown>;
    /** Run when a run ends for good (succeeded, rolled back, cancelled). */
    cleanUpRun?(workDir: string, requestId: string): Promise<unknown>;
  };
  /**
   * For kinds with `runbooks.backup`: where their points are (retention, `/backup status`) and
   * the backup runbook's outline (the backup card lists its phases before it runs). The backup
   * runbook records its point with the `backupPoint` fact (BACKUP_POINT_FACT in
   * src/runbook/types.ts) and, when it pauses the target, `pauseWindowMs`.
   */
  backups?: BackupsOfKind<T>;
  plan(input: PlanInput<T>): Promise<PlanText>;
  wording: {
    /** The thread message when someone abandons a halted run. */
    abandoned(request: RunRequest, runs: readonly PhaseRunRecord[], userId: string): string;
    /** The thread message when someone presses Roll back. */
    rollbackPressed(request: RunRequest, runs: readonly PhaseRunRecord[], userId: string): string;
    /**
     * How a restore's card and status name what the restore replaces and what it loses;
     * without it they speak of InfluxDB Clustered's catalog and snapshot.
     */
    restore?: RestoreWords;
    /**
     * How the listing and `/recovery-points verify` speak of the kind's time-named points;
     * without it they use neutral words that name no file (kinds with `points.named` have
     * their own listing and verify).
     */
    points?: PointWords;
  };
  /** The Kubernetes API access its runbooks use, as Role rules in the target's namespace. */
  rbac: readonly RbacRule[];
  sandbox?: SandboxScenario;
}
