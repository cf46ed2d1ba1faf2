-- Bring name back, filled from display_name, so that the previous release works again.
ALTER TABLE customers ADD COLUMN name text NOT NULL DEFAULT '';
UPDATE customers SET name = display_name WHERE display_name IS NOT NULL;
CREATE TRIGGER customers_display_name_on_insert AFTER INSERT ON customers
WHEN NEW.display_name IS NULL
BEGIN
    UPDATE customers SET display_name = NEW.name WHERE id = NEW.id;
END;
CREATE TRIGGER customers_display_name_on_update AFTER UPDATE OF name ON customers
BEGIN
    UPDATE customers SET display_name = NEW.name WHERE id = NEW.id;
END;
