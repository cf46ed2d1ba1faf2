-- On PostgreSQL this would be CREATE INDEX CONCURRENTLY in a no-transaction migration;
-- SQLite builds indexes in place.
CREATE INDEX orders_created_at_idx ON orders (created_at);
