CREATE TABLE orders (
    id          integer PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES customers (id),
    created_at  timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP
);
-- Every foreign key gets an index: deleting a customer must not scan orders.
CREATE INDEX orders_customer_id_idx ON orders (customer_id);
