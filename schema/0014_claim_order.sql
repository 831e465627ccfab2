-- 0014: the scheduler's claim reads due clients in the order it takes them.
--
-- rd_claim_due takes the first p_limit due clients ORDER BY eval_at, then
-- margin x (1 - p_alive) DESC. With only eval_at indexed, every claim read and
-- sorted every due client to keep 500: with 100,000 clients due at one tick
-- (a long history imported, a first tick after a long stop) each claim cost
-- 260-560 ms instead of 40-130 ms, and a 100,000-client round of claims was
-- dominated by it (docs/benchmarks.md, "Several daemons on one database").
-- This index serves that order exactly, so a claim stops after its 500 rows;
-- its leading column still serves the wall clock's min(eval_at). It replaces
-- clients_eval_at. Orders change margin together with eval_at, which was
-- indexed already; the model's p_alive updates now reach this index too:
-- measured on 1,000,000 clients, an UPDATE of every p_alive took 33-41 s
-- before and 26-40 s after (a busy 2-core machine: within its noise).
CREATE INDEX clients_due_order ON clients (eval_at, (margin * (1 - coalesce(p_alive, 0))) DESC)
    WHERE eval_at IS NOT NULL;
DROP INDEX clients_eval_at;
