-- A request is either a restore (to a frozen recovery point) or a backup restorebot takes itself.
-- Both share one row shape, one lifecycle and the one-active-request-per-target index, so a
-- backup and a restore of one target never overlap. A backup has no point until it writes one.
ALTER TABLE restore_requests
  ADD COLUMN operation text NOT NULL DEFAULT 'restore' CHECK (operation IN ('restore', 'backup'));

ALTER TABLE restore_requests ALTER COLUMN point DROP NOT NULL;

-- A backup may start at once (policy.backupApprovals 0): no approval is required then.
ALTER TABLE restore_requests DROP CONSTRAINT IF EXISTS restore_requests_required_approvals_check;
ALTER TABLE restore_requests ADD CONSTRAINT restore_requests_required_approvals_check
  CHECK (required_approvals >= 0);

CREATE INDEX restore_requests_target_operation_created
  ON restore_requests (target, operation, created_at DESC);

-- The last scheduled backup slot each target has started (backup.schedule). Claimed by a
-- compare-and-set on this row in the transaction that inserts the backup request, so several
-- workers never start one slot twice, and slots missed while no worker ran collapse into one.
CREATE TABLE backup_schedule_slots (
  target     text PRIMARY KEY,
  last_slot  timestamptz NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
