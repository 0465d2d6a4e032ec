-- The kind's own restore options of a request (`/restore <target> <point> [options] <reason…>`),
-- e.g. StackState's --force or --indices: parsed by the kind, checked against the frozen point
-- and shown on the approval card, so approvers approve exactly what will run. Null: none given.
ALTER TABLE restore_requests ADD COLUMN options jsonb;
