# The psql baseline the restore benchmark compares against: the vendor's approach of putting
# "DROP <kind> IF EXISTS <name> CASCADE;" in front of each CREATE of a plain pg_dump, written
# here so that it works on the IOx-like catalog (functions are dropped by name, without their
# argument list, which may hold DEFAULTs). Use: gunzip -c dump.gz | awk -f this | psql …
function drop(kind, name) {
  gsub(/;$/, "", name)
  sub(/\(.*$/, "", name)
  print "DROP " kind " IF EXISTS " name " CASCADE;"
}
/^CREATE SCHEMA /            { drop("SCHEMA", $3) }
/^CREATE TABLE /             { drop("TABLE", $3) }
/^CREATE SEQUENCE /          { drop("SEQUENCE", $3) }
/^CREATE VIEW /              { drop("VIEW", $3) }
/^CREATE MATERIALIZED VIEW / { drop("MATERIALIZED VIEW", $4) }
/^CREATE FUNCTION /          { drop("FUNCTION", $3) }
/^CREATE TYPE /              { drop("TYPE", $3) }
/^CREATE DOMAIN /            { drop("DOMAIN", $3) }
/^CREATE INDEX /             { drop("INDEX", $3) }
/^CREATE UNIQUE INDEX /      { drop("INDEX", $4) }
{ print }
