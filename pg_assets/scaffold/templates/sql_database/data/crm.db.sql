-- The example CRM database: `pg-assets init` turns this file into data/crm.db (SQLite).
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    name VARCHAR(80) NOT NULL,
    country CHAR(2),
    tier TEXT NOT NULL,
    revenue NUMERIC(12, 2),
    updated_at DATETIME NOT NULL
);
INSERT INTO accounts VALUES (1, 'Acme Corp', 'US', 'gold', 125000.50, '2024-03-01 09:00:00');
INSERT INTO accounts VALUES (2, 'Globex', 'DE', 'silver', 48200.00, '2024-03-02 10:30:00');
INSERT INTO accounts VALUES (3, 'Initech', 'US', 'bronze', 9100.75, '2024-03-03 11:15:00');
INSERT INTO accounts VALUES (4, 'Umbrella', 'GB', 'gold', 310400.00, '2024-03-04 08:45:00');
INSERT INTO accounts VALUES (5, 'Soylent', 'FR', 'silver', 27500.20, '2024-03-05 16:00:00');
