DROP TRIGGER customers_display_name_on_update;
DROP TRIGGER customers_display_name_on_insert;
ALTER TABLE customers DROP COLUMN display_name;
