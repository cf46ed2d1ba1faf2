-- Renaming customers.name to display_name, the safe way. A plain RENAME breaks every
-- running app server that still reads name. Instead, over three deploys:
--   1. expand (this migration): add display_name, keep it in step with name, backfill it;
--   2. deploy the app that reads display_name and writes both columns;
--   3. contract (a later migration): drop name once no old app version runs.
ALTER TABLE customers ADD COLUMN display_name text;
-- Old app versions still write only name: copy it across on every write.
CREATE TRIGGER customers_display_name_on_insert AFTER INSERT ON customers
WHEN NEW.display_name IS NULL
BEGIN
    UPDATE customers SET display_name = NEW.name WHERE id = NEW.id;
END;
CREATE TRIGGER customers_display_name_on_update AFTER UPDATE OF name ON customers
BEGIN
    UPDATE customers SET display_name = NEW.name WHERE id = NEW.id;
END;
-- Small table: one statement backfills it. On a large one, use batches.
UPDATE customers SET display_name = name WHERE display_name IS NULL;
