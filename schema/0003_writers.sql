-- 0003_writers: the write path for parallel writers (database.writers) and a
-- faster import. Mostly function changes (rd_apply_batch no longer judges
-- producer sequences and writes the rows every batch updates last, in a fixed
-- order; rd_merge_orders inserts in key order): see
-- schema/functions/rd_apply_batch.sql and rd_merge_orders.sql.
--
-- Rewritten once, when the functions moved to schema/functions/ (issue 16) and
-- before migration checksums existed: the function bodies this file held are
-- gone (each function's current body is schema/functions/<name>.sql, applied
-- by `retentionctl migrate` after the numbered migrations). Released: from now
-- on this file never changes; its sha256 is recorded when it is applied, and a
-- database that recorded another one is refused (docs/design.md, "Schema and
-- migrations").

-- counters get a shard column: each writer adds to its own rows
-- (rd_apply_batch's p_writer), and readers sum them.
ALTER TABLE counters ADD COLUMN shard smallint NOT NULL DEFAULT 0;
ALTER TABLE counters DROP CONSTRAINT counters_pkey;
ALTER TABLE counters ADD PRIMARY KEY (name, shard);

-- rd_apply_batch gained an argument (p_writer): its old signature goes, on a
-- database that has it (one migrated before the functions moved to files).
DROP FUNCTION IF EXISTS rd_apply_batch(uuid, jsonb, numeric, text, int, int, int);

