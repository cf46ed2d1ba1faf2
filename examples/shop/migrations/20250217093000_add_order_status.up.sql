-- A constant default: no table rewrite on PostgreSQL 11+ and SQLite, so NOT NULL is safe here.
ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'pending';
