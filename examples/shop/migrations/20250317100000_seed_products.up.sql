INSERT INTO products (id, sku, title, price_cents) VALUES
    (1, 'TEA-001', 'Green tea; 100 g', 850),
    (2, 'TEA-002', 'Black tea -- strong', 790),
    (3, 'MUG-001', 'Mug ''Morning''', 1200);
