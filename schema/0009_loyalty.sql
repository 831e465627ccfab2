-- 0009: loyalty tiers and the account manager of each order (contract V2,
-- "Additions: touches with active clients").

-- Loyalty tiers (rules.loyalty.tiers), recomputed with the ABC/XYZ classes by
-- the model run (rd_loyalty_write):
--   loyalty_tier      the tier as of the last run; NULL: below every tier (or
--                     never computed);
--   loyalty_tier_at   the run's clock when loyalty_tier last changed: the key
--                     of the job.loyalty_tier that announces the change;
--   loyalty_tier_sent the tier the last job.loyalty_tier announced (NULL: none
--                     yet, or "no tier"): a job goes out while loyalty_tier
--                     differs from it, with it as `previous`.
ALTER TABLE clients ADD COLUMN loyalty_tier text,
                    ADD COLUMN loyalty_tier_at timestamptz,
                    ADD COLUMN loyalty_tier_sent text;

-- The account manager when the order arrived (report managers credits order
-- figures to them): the client's master-data manager then, else the order's
-- own manager_id, else the one taken from the client's earlier orders
-- (rd_merge_orders). Orders stored before this migration get the same rule
-- applied with today's master data: the best that can be known of them.
ALTER TABLE orders ADD COLUMN account_manager_id text;
UPDATE orders o
   SET account_manager_id = coalesce(c.manager_id, o.manager_id, c.order_manager_id)
  FROM clients c
 WHERE c.client_id = o.client_id;
