-- The latest progress line of a running phase ("2 of 3 pods gone"), as narrated in the
-- thread, so `/restore status` can say how far a phase has got without reading Slack.
ALTER TABLE phase_runs
  ADD COLUMN progress    text,
  ADD COLUMN progress_at timestamptz;
