-- Contract: no deployed version reads legacy_flag any more. Not for app start-up.
ALTER TABLE accounts DROP COLUMN legacy_flag;
