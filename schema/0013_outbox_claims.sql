-- 0013: outbox rows claimed by the daemon that sends them (contract V2,
-- "Several daemons on one database": every output, in every mode, is sent by
-- one daemon only, at least once across crashes).
--
-- A daemon reads the rows it will send by claiming them: claimed_by names it
-- (database.instance), claimed_until is when another daemon may take them
-- over (database.outbox_claim_s after the claim, renewed while the daemon
-- holds them). A claim is kept after sending: claimed_by then says who sent
-- the row, and a restarted daemon sends again only its own recent push/pub
-- rows. Rows written before this migration have no claim.
ALTER TABLE outbox ADD COLUMN claimed_by text;
ALTER TABLE outbox ADD COLUMN claimed_until timestamptz;
