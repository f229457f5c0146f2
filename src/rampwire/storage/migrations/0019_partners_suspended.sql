-- 0019: the suspended partners, in an index of their own (few, usually none). The worker's claim
-- leaves their deliveries waiting; it looked each candidate's partner up in the whole partners
-- table, one lookup per delivery in a tree that grows with the partners, where it now reads this
-- index once per claim (`NOT IN` the suspended ids) and looks each delivery up in that list
-- (docs/benchmarks.md, "The suspended partners read once per claim"). The partners table is
-- small: built in the migration's transaction.

CREATE INDEX partners_suspended ON partners (id) WHERE status = 'suspended';
