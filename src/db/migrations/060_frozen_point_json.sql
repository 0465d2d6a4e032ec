-- A request's frozen recovery point becomes one JSON value the target's kind defines, instead
-- of four columns shaped for one system's snapshots. Every row written before this migration is
-- of the one kind those columns described; its point keeps exactly what they held.
ALTER TABLE restore_requests ADD COLUMN point jsonb;

UPDATE restore_requests
   SET point = jsonb_build_object(
         'prefix', point_prefix,
         'dumpKey', dump_key,
         'dumpEtag', dump_etag,
         'dumpSize', dump_size);

ALTER TABLE restore_requests ALTER COLUMN point SET NOT NULL;

ALTER TABLE restore_requests
  DROP COLUMN point_prefix,
  DROP COLUMN dump_key,
  DROP COLUMN dump_etag,
  DROP COLUMN dump_size;
