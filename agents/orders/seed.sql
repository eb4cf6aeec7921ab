-- Sample order database of the support-desk reference mesh.
-- `agents/orders/store.py` builds a read-only SQLite file from this script;
-- edit it and the file is rebuilt on the next start (it is older than the script).
-- Money is in integer cents (EUR); dates are ISO 8601 (YYYY-MM-DD).

PRAGMA foreign_keys = ON;

CREATE TABLE customers (
    email TEXT PRIMARY KEY,  -- stored lower-case; lookups lower-case their input
    name  TEXT NOT NULL
);

CREATE TABLE orders (
    order_id       TEXT PRIMARY KEY,
    customer_email TEXT NOT NULL REFERENCES customers (email),
    status         TEXT NOT NULL
        CHECK (status IN ('placed', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded')),
    total_cents    INTEGER NOT NULL CHECK (total_cents >= 0),
    placed_at      TEXT NOT NULL,
    shipped_at     TEXT,
    carrier        TEXT,
    tracking       TEXT,
    -- an order that left the warehouse says when and how
    CHECK (status NOT IN ('shipped', 'delivered') OR shipped_at IS NOT NULL)
);

-- A customer's orders newest first: the one query the store runs per ticket.
CREATE INDEX orders_by_customer ON orders (customer_email, placed_at DESC);

CREATE TABLE order_items (
    order_id   TEXT NOT NULL REFERENCES orders (order_id),
    sku        TEXT NOT NULL,
    name       TEXT NOT NULL,
    quantity   INTEGER NOT NULL CHECK (quantity > 0),
    unit_cents INTEGER NOT NULL CHECK (unit_cents >= 0),
    PRIMARY KEY (order_id, sku)
);

INSERT INTO customers (email, name) VALUES
    ('ada@example.com', 'Ada Lovelace'),
    ('grace@example.com', 'Grace Hopper'),
    ('linus@example.com', 'Linus Torvalds'),
    ('margaret@example.com', 'Margaret Hamilton'),
    ('alan@example.com', 'Alan Turing'),
    ('barbara@example.com', 'Barbara Liskov'),
    ('dennis@example.com', 'Dennis Ritchie'),
    ('frances@example.com', 'Frances Allen'),
    ('ken@example.com', 'Ken Thompson'),
    ('radia@example.com', 'Radia Perlman'),
    ('edsger@example.com', 'Edsger Dijkstra'),
    ('katherine@example.com', 'Katherine Johnson');

INSERT INTO orders
    (order_id, customer_email, status, total_cents, placed_at, shipped_at, carrier, tracking)
VALUES
    ('ORD-1001', 'ada@example.com', 'shipped', 19790, '2024-11-18', '2024-11-20', 'UPS', '1Z999AA10085131377'),
    ('ORD-1002', 'ada@example.com', 'delivered', 10100, '2024-10-02', '2024-10-04', 'DPD', '01500070643907'),
    ('ORD-1003', 'grace@example.com', 'refunded', 15498, '2024-09-14', '2024-09-15', 'PostNL', '3SABC034784691'),
    ('ORD-1004', 'linus@example.com', 'paid', 15420, '2024-11-20', NULL, NULL, NULL),
    ('ORD-1005', 'frances@example.com', 'delivered', 24999, '2024-08-23', '2024-08-24', 'UPS', '1Z999AA10089918134'),
    ('ORD-1006', 'alan@example.com', 'paid', 5697, '2024-11-20', NULL, NULL, NULL),
    ('ORD-1007', 'katherine@example.com', 'delivered', 49650, '2024-05-16', '2024-05-17', 'PostNL', '3SABC072268229'),
    ('ORD-1008', 'ken@example.com', 'shipped', 19400, '2024-08-21', '2024-08-23', 'DHL', 'JD014610616565'),
    ('ORD-1009', 'barbara@example.com', 'cancelled', 31800, '2024-05-22', NULL, NULL, NULL),
    ('ORD-1010', 'linus@example.com', 'placed', 18300, '2024-11-21', NULL, NULL, NULL),
    ('ORD-1011', 'radia@example.com', 'shipped', 10498, '2024-05-08', '2024-05-09', 'PostNL', '3SABC049044325'),
    ('ORD-1012', 'dennis@example.com', 'paid', 23895, '2024-11-10', NULL, NULL, NULL),
    ('ORD-1013', 'margaret@example.com', 'paid', 21700, '2024-11-21', NULL, NULL, NULL),
    ('ORD-1014', 'edsger@example.com', 'cancelled', 14700, '2024-06-20', NULL, NULL, NULL),
    ('ORD-1015', 'frances@example.com', 'shipped', 4800, '2024-05-04', '2024-05-05', 'PostNL', '3SABC023562206'),
    ('ORD-1016', 'alan@example.com', 'delivered', 52000, '2024-05-16', '2024-05-17', 'DHL', 'JD014670052350'),
    ('ORD-1017', 'ada@example.com', 'placed', 9500, '2024-11-21', NULL, NULL, NULL),
    ('ORD-1018', 'ken@example.com', 'cancelled', 36300, '2024-08-07', NULL, NULL, NULL),
    ('ORD-1019', 'barbara@example.com', 'delivered', 26199, '2024-07-09', '2024-07-10', 'PostNL', '3SABC062918645'),
    ('ORD-1020', 'linus@example.com', 'refunded', 23895, '2024-10-02', '2024-10-04', 'DHL', 'JD014644665427'),
    ('ORD-1021', 'grace@example.com', 'delivered', 29185, '2024-10-28', '2024-10-30', 'UPS', '1Z999AA10061830854'),
    ('ORD-1022', 'dennis@example.com', 'delivered', 38600, '2024-05-20', '2024-05-21', 'DPD', '01500090702951'),
    ('ORD-1023', 'margaret@example.com', 'shipped', 90500, '2024-08-04', '2024-08-05', 'PostNL', '3SABC061821066'),
    ('ORD-1024', 'edsger@example.com', 'delivered', 15870, '2024-10-08', '2024-10-09', 'DHL', 'JD014635474614'),
    ('ORD-1025', 'frances@example.com', 'delivered', 19900, '2024-11-06', '2024-11-07', 'UPS', '1Z999AA10066567031'),
    ('ORD-1026', 'ada@example.com', 'delivered', 8940, '2024-06-09', '2024-06-11', 'DPD', '01500041998471'),
    ('ORD-1027', 'katherine@example.com', 'cancelled', 16100, '2024-10-28', NULL, NULL, NULL),
    ('ORD-1028', 'ken@example.com', 'paid', 26700, '2024-11-18', NULL, NULL, NULL),
    ('ORD-1029', 'barbara@example.com', 'delivered', 11800, '2024-08-31', '2024-09-01', 'UPS', '1Z999AA10019281736'),
    ('ORD-1030', 'linus@example.com', 'shipped', 39800, '2024-08-14', '2024-08-15', 'DPD', '01500047844283'),
    ('ORD-1031', 'radia@example.com', 'shipped', 8850, '2024-09-13', '2024-09-15', 'PostNL', '3SABC054421363'),
    ('ORD-1032', 'dennis@example.com', 'cancelled', 5199, '2024-11-04', NULL, NULL, NULL),
    ('ORD-1033', 'margaret@example.com', 'paid', 28284, '2024-11-21', NULL, NULL, NULL),
    ('ORD-1034', 'edsger@example.com', 'cancelled', 8940, '2024-05-20', NULL, NULL, NULL),
    ('ORD-1035', 'frances@example.com', 'delivered', 26100, '2024-05-19', '2024-05-20', 'PostNL', '3SABC027387161'),
    ('ORD-1036', 'alan@example.com', 'refunded', 7950, '2024-07-27', '2024-07-29', 'DHL', 'JD014614062724'),
    ('ORD-1037', 'katherine@example.com', 'refunded', 20588, '2024-09-05', '2024-09-06', 'UPS', '1Z999AA10091720732'),
    ('ORD-1038', 'ken@example.com', 'delivered', 11350, '2024-05-21', '2024-05-23', 'DPD', '01500054311966'),
    ('ORD-1039', 'barbara@example.com', 'paid', 57000, '2024-11-21', NULL, NULL, NULL),
    ('ORD-1040', 'linus@example.com', 'delivered', 30885, '2024-09-10', '2024-09-12', 'DHL', 'JD014612991802');

INSERT INTO order_items (order_id, sku, name, quantity, unit_cents) VALUES
    ('ORD-1001', 'SHOE-TR-42', 'Trail Runner Shoes', 2, 8995),
    ('ORD-1001', 'SOCK-HK-3', 'Hiking Socks (3-pack)', 1, 1800),
    ('ORD-1002', 'JKT-RAIN-M', 'Packable Rain Jacket', 1, 7900),
    ('ORD-1002', 'CAP-WOOL', 'Wool Beanie', 1, 2200),
    ('ORD-1003', 'HDP-BT-01', 'Wireless Headphones', 1, 12900),
    ('ORD-1003', 'CBL-USBC-2', 'USB-C Cable 2 m', 2, 1299),
    ('ORD-1004', 'PWR-10K', 'Power Bank 10000 mAh', 3, 3990),
    ('ORD-1004', 'LMP-HD-300', 'Rechargeable Head Torch', 1, 3450),
    ('ORD-1005', 'CBL-USBC-2', 'USB-C Cable 2 m', 1, 1299),
    ('ORD-1005', 'JKT-RAIN-M', 'Packable Rain Jacket', 3, 7900),
    ('ORD-1006', 'SOCK-HK-3', 'Hiking Socks (3-pack)', 1, 1800),
    ('ORD-1006', 'CBL-USBC-2', 'USB-C Cable 2 m', 3, 1299),
    ('ORD-1007', 'SHOE-CL-40', 'Canvas Low-Top Sneakers', 1, 4950),
    ('ORD-1007', 'JKT-DOWN-L', 'Lightweight Down Jacket', 3, 14900),
    ('ORD-1008', 'BAG-DAY-20', '20 L Daypack', 1, 6500),
    ('ORD-1008', 'HDP-BT-01', 'Wireless Headphones', 1, 12900),
    ('ORD-1009', 'WTC-GPS-2', 'GPS Sports Watch', 1, 24900),
    ('ORD-1009', 'LMP-HD-300', 'Rechargeable Head Torch', 2, 3450),
    ('ORD-1010', 'HDP-BT-01', 'Wireless Headphones', 1, 12900),
    ('ORD-1010', 'SOCK-HK-3', 'Hiking Socks (3-pack)', 3, 1800),
    ('ORD-1011', 'JKT-RAIN-M', 'Packable Rain Jacket', 1, 7900),
    ('ORD-1011', 'CBL-USBC-2', 'USB-C Cable 2 m', 2, 1299),
    ('ORD-1012', 'SHOE-TR-42', 'Trail Runner Shoes', 1, 8995),
    ('ORD-1012', 'JKT-DOWN-L', 'Lightweight Down Jacket', 1, 14900),
    ('ORD-1013', 'CAP-WOOL', 'Wool Beanie', 1, 2200),
    ('ORD-1013', 'BAG-DAY-20', '20 L Daypack', 3, 6500),
    ('ORD-1014', 'HDP-BT-01', 'Wireless Headphones', 1, 12900),
    ('ORD-1014', 'SOCK-HK-3', 'Hiking Socks (3-pack)', 1, 1800),
    ('ORD-1015', 'GLV-TCH-M', 'Touchscreen Gloves', 1, 2600),
    ('ORD-1015', 'CAP-WOOL', 'Wool Beanie', 1, 2200),
    ('ORD-1016', 'WTC-GPS-2', 'GPS Sports Watch', 2, 24900),
    ('ORD-1016', 'CAP-WOOL', 'Wool Beanie', 1, 2200),
    ('ORD-1017', 'BAG-DAY-20', '20 L Daypack', 1, 6500),
    ('ORD-1017', 'MUG-ENM-35', 'Enamel Camp Mug', 2, 1500),
    ('ORD-1018', 'JKT-DOWN-L', 'Lightweight Down Jacket', 2, 14900),
    ('ORD-1018', 'BAG-DAY-20', '20 L Daypack', 1, 6500),
    ('ORD-1019', 'CBL-USBC-2', 'USB-C Cable 2 m', 1, 1299),
    ('ORD-1019', 'WTC-GPS-2', 'GPS Sports Watch', 1, 24900),
    ('ORD-1020', 'JKT-DOWN-L', 'Lightweight Down Jacket', 1, 14900),
    ('ORD-1020', 'SHOE-TR-42', 'Trail Runner Shoes', 1, 8995),
    ('ORD-1021', 'SHOE-TR-42', 'Trail Runner Shoes', 3, 8995),
    ('ORD-1021', 'CAP-WOOL', 'Wool Beanie', 1, 2200),
    ('ORD-1022', 'JKT-RAIN-M', 'Packable Rain Jacket', 3, 7900),
    ('ORD-1022', 'JKT-DOWN-L', 'Lightweight Down Jacket', 1, 14900),
    ('ORD-1023', 'WTC-GPS-2', 'GPS Sports Watch', 3, 24900),
    ('ORD-1023', 'JKT-RAIN-M', 'Packable Rain Jacket', 2, 7900),
    ('ORD-1024', 'TEE-MER-M', 'Merino Crew T-Shirt', 1, 3900),
    ('ORD-1024', 'PWR-10K', 'Power Bank 10000 mAh', 3, 3990),
    ('ORD-1025', 'BAG-DAY-20', '20 L Daypack', 2, 6500),
    ('ORD-1025', 'LMP-HD-300', 'Rechargeable Head Torch', 2, 3450),
    ('ORD-1026', 'SHOE-CL-40', 'Canvas Low-Top Sneakers', 1, 4950),
    ('ORD-1026', 'PWR-10K', 'Power Bank 10000 mAh', 1, 3990),
    ('ORD-1027', 'CAP-WOOL', 'Wool Beanie', 2, 2200),
    ('ORD-1027', 'TEE-MER-M', 'Merino Crew T-Shirt', 3, 3900),
    ('ORD-1028', 'SOCK-HK-3', 'Hiking Socks (3-pack)', 1, 1800),
    ('ORD-1028', 'WTC-GPS-2', 'GPS Sports Watch', 1, 24900),
    ('ORD-1029', 'JKT-RAIN-M', 'Packable Rain Jacket', 1, 7900),
    ('ORD-1029', 'TEE-MER-M', 'Merino Crew T-Shirt', 1, 3900),
    ('ORD-1030', 'WTC-GPS-2', 'GPS Sports Watch', 1, 24900),
    ('ORD-1030', 'JKT-DOWN-L', 'Lightweight Down Jacket', 1, 14900),
    ('ORD-1031', 'TEE-MER-M', 'Merino Crew T-Shirt', 1, 3900),
    ('ORD-1031', 'SHOE-CL-40', 'Canvas Low-Top Sneakers', 1, 4950),
    ('ORD-1032', 'TEE-MER-M', 'Merino Crew T-Shirt', 1, 3900),
    ('ORD-1032', 'CBL-USBC-2', 'USB-C Cable 2 m', 1, 1299),
    ('ORD-1033', 'CBL-USBC-2', 'USB-C Cable 2 m', 1, 1299),
    ('ORD-1033', 'SHOE-TR-42', 'Trail Runner Shoes', 3, 8995),
    ('ORD-1034', 'PWR-10K', 'Power Bank 10000 mAh', 1, 3990),
    ('ORD-1034', 'SHOE-CL-40', 'Canvas Low-Top Sneakers', 1, 4950),
    ('ORD-1035', 'JKT-RAIN-M', 'Packable Rain Jacket', 3, 7900),
    ('ORD-1035', 'BTL-STL-75', 'Steel Water Bottle 750 ml', 1, 2400),
    ('ORD-1036', 'MUG-ENM-35', 'Enamel Camp Mug', 2, 1500),
    ('ORD-1036', 'SHOE-CL-40', 'Canvas Low-Top Sneakers', 1, 4950),
    ('ORD-1037', 'SHOE-TR-42', 'Trail Runner Shoes', 2, 8995),
    ('ORD-1037', 'CBL-USBC-2', 'USB-C Cable 2 m', 2, 1299),
    ('ORD-1038', 'JKT-RAIN-M', 'Packable Rain Jacket', 1, 7900),
    ('ORD-1038', 'LMP-HD-300', 'Rechargeable Head Torch', 1, 3450),
    ('ORD-1039', 'WTC-GPS-2', 'GPS Sports Watch', 2, 24900),
    ('ORD-1039', 'BTL-STL-75', 'Steel Water Bottle 750 ml', 3, 2400),
    ('ORD-1040', 'SHOE-TR-42', 'Trail Runner Shoes', 3, 8995),
    ('ORD-1040', 'TEE-MER-M', 'Merino Crew T-Shirt', 1, 3900);
