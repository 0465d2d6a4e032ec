-- The folder each backup claimed for its point (`<prefix>[points/]<as-of>/`), so that no two
-- backups ever share one: a folder is claimed once, by one request, and the row outlives the
-- point (a pruned point's folder stays held). A resumed run finds its own claim by request id.
-- No foreign key to restore_requests: a claim must survive whatever happens to its request.
CREATE TABLE backup_point_folders (
  bucket        text NOT NULL,
  folder        text NOT NULL,
  points_prefix text NOT NULL,
  as_of         text NOT NULL,
  request_id    text NOT NULL,
  claimed_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (bucket, folder)
);

CREATE INDEX backup_point_folders_request ON backup_point_folders (request_id, bucket, points_prefix);
