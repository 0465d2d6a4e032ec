-- Thread messages that carry a halted run's buttons (Retry phase, Roll back, Abandon), with
-- what they said: once someone chooses, the bot replaces their buttons with who chose what.
-- Slack's history cannot be read with restorebot's scopes, so the message is kept here.
CREATE TABLE run_control_messages (
  request_id text NOT NULL REFERENCES restore_requests (id) ON DELETE CASCADE,
  channel_id text NOT NULL,
  ts         text NOT NULL,
  text       text NOT NULL,
  blocks     jsonb NOT NULL,
  posted_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (request_id, ts)
);
