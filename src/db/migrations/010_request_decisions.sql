-- Who closed a request and why, and whether its job was handed to the queue. Kept on the
-- request row so the approval card and /restore status render from one read.
ALTER TABLE restore_requests
  -- Slack user ID of whoever rejected or cancelled it ("restorebot" when the bot did).
  ADD COLUMN closed_by text,
  ADD COLUMN close_reason text,
  -- Who asked a running restore to stop at its next phase boundary.
  ADD COLUMN cancel_requested_by text,
  -- Set once, by compare-and-set, when the BullMQ job was first created: the "enqueued" audit
  -- event is written exactly once even when a click and the reconciler enqueue together.
  ADD COLUMN enqueued_at timestamptz;

-- The reconciler looks for approved requests whose job may be missing.
CREATE INDEX restore_requests_approved ON restore_requests (approved_at) WHERE state = 'approved';
