ALTER TABLE accounts ADD COLUMN legacy_flag boolean;
