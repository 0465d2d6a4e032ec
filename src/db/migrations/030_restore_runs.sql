-- What the restore runner needs beyond schema v1.
--
-- run_mode: a halted run is either retried forward or rolled back. The choice is made by a
-- person in Slack and carried out by whichever worker picks the job up, so it lives here, in
-- the source of truth, and not in the queue. Rollback steps are checkpointed in phase_runs
-- like phases, at indexes from 101, so a worker killed during a rollback resumes it too.
ALTER TABLE restore_requests
  ADD COLUMN run_mode text NOT NULL DEFAULT 'forward' CHECK (run_mode IN ('forward', 'rollback'));
