-- Contract: every running app version reads and writes display_name now.
DROP TRIGGER customers_display_name_on_update;
DROP TRIGGER customers_display_name_on_insert;
-- cutover:ignore drop-column reason="contract phase: no deployed version has read or written name since the expand migration"
ALTER TABLE customers DROP COLUMN name;
