-- What each step that changed the target recorded as its undo ("scale X back to 3", "patch Y
-- back to {...}"), so Roll back is derived from what a run did rather than written per kind.
-- A row is written before the change it undoes (undoing a change that never happened is
-- harmless, a change without its undo is not), at most once per key, and settled when roll back
-- has undone it or the run itself has put the object back (settled_by 'run').
CREATE TABLE run_compensations (
  request_id  text NOT NULL REFERENCES restore_requests (id) ON DELETE CASCADE,
  key         text NOT NULL,
  seq         bigint GENERATED ALWAYS AS IDENTITY,
  phase       text NOT NULL,
  description text NOT NULL,
  action      jsonb NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  settled_at  timestamptz,
  settled_by  text CHECK (settled_by IN ('rollback', 'run')),
  PRIMARY KEY (request_id, key)
);

CREATE INDEX run_compensations_order ON run_compensations (request_id, seq);
