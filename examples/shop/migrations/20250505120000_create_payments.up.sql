CREATE TABLE payments (
    id           integer PRIMARY KEY,
    order_id     integer NOT NULL REFERENCES orders (id),
    amount_cents integer NOT NULL CHECK (amount_cents > 0),
    paid_at      timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX payments_order_id_idx ON payments (order_id);
