-- restorebot's own state. PostgreSQL is the source of truth for requests, approvals and
-- phase checkpoints; Redis only carries the queue (DESIGN.md, "Shape").

CREATE TABLE restore_requests (
  id                 text PRIMARY KEY,
  target             text NOT NULL,
  kind               text NOT NULL,
  -- The recovery point, frozen when the request is made (object keys and ETag).
  point_time         timestamptz NOT NULL,
  point_prefix       text NOT NULL,
  dump_key           text NOT NULL,
  dump_etag          text,
  dump_size          bigint,
  requester          text NOT NULL,
  reason             text NOT NULL,
  channel_id         text NOT NULL,
  card_ts            text,
  state              text NOT NULL CHECK (state IN (
                       'pending', 'approved', 'running', 'halted',
                       'succeeded', 'rolled_back', 'abandoned',
                       'rejected', 'expired', 'cancelled')),
  required_approvals integer NOT NULL CHECK (required_approvals >= 1),
  -- The effective policy when the request was made, so a config change mid-flight is visible.
  policy             jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at         timestamptz NOT NULL DEFAULT now(),
  expires_at         timestamptz NOT NULL,
  approved_at        timestamptz,
  started_at         timestamptz,
  finished_at        timestamptz,
  cancel_requested   boolean NOT NULL DEFAULT false,
  -- Where a halted run stopped, and why (for Retry / Roll back / Abandon).
  halted_phase       text,
  halted_reason      text,
  version            integer NOT NULL DEFAULT 0,
  updated_at         timestamptz NOT NULL DEFAULT now()
);

-- At most one active restore per target, enforced by the database and not only by a check.
CREATE UNIQUE INDEX restore_requests_one_active_per_target
  ON restore_requests (target)
  WHERE state IN ('pending', 'approved', 'running', 'halted');

CREATE INDEX restore_requests_target_created ON restore_requests (target, created_at DESC);
CREATE INDEX restore_requests_pending_expiry ON restore_requests (expires_at) WHERE state = 'pending';

-- One decision per person per request: double clicks and Slack retries count once.
CREATE TABLE approvals (
  request_id text NOT NULL REFERENCES restore_requests (id) ON DELETE CASCADE,
  approver   text NOT NULL,
  decision   text NOT NULL CHECK (decision IN ('approve', 'reject')),
  reason     text,
  decided_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (request_id, approver)
);

-- Per-phase checkpoints of a run: a replacement worker resumes at the first unfinished phase.
CREATE TABLE phase_runs (
  request_id  text NOT NULL REFERENCES restore_requests (id) ON DELETE CASCADE,
  phase_index integer NOT NULL,
  phase       text NOT NULL,
  state       text NOT NULL CHECK (state IN ('running', 'succeeded', 'failed', 'skipped')),
  attempt     integer NOT NULL DEFAULT 1,
  started_at  timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  facts       jsonb NOT NULL DEFAULT '{}'::jsonb,
  error       text,
  PRIMARY KEY (request_id, phase_index)
);

-- Replica counts recorded durably before anything is scaled; written once per component.
CREATE TABLE replica_records (
  request_id    text NOT NULL REFERENCES restore_requests (id) ON DELETE CASCADE,
  component     text NOT NULL,
  workload_kind text NOT NULL CHECK (workload_kind IN ('Deployment', 'StatefulSet')),
  replicas      integer NOT NULL CHECK (replicas >= 0),
  recorded_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (request_id, component)
);

-- Append-only audit trail of every event, shown by /restore history.
CREATE TABLE audit_events (
  id         bigserial PRIMARY KEY,
  at         timestamptz NOT NULL DEFAULT now(),
  request_id text REFERENCES restore_requests (id) ON DELETE SET NULL,
  target     text,
  actor      text,
  event      text NOT NULL,
  details    jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_events_target_at ON audit_events (target, at DESC);
CREATE INDEX audit_events_request_at ON audit_events (request_id, at);

-- Results of /recovery-points verify, shown in later listings.
CREATE TABLE point_verifications (
  target      text NOT NULL,
  point_time  timestamptz NOT NULL,
  dump_etag   text,
  verified_at timestamptz NOT NULL DEFAULT now(),
  ok          boolean NOT NULL,
  summary     jsonb NOT NULL DEFAULT '{}'::jsonb,
  PRIMARY KEY (target, point_time)
);
