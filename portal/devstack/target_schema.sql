-- The demo target database: a small shop whose tables the demo roles grant access to.
CREATE TABLE IF NOT EXISTS customers (
    id          integer PRIMARY KEY,
    name        text NOT NULL,
    email       text NOT NULL,
    country     text NOT NULL,
    created_at  timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS orders (
    id           integer PRIMARY KEY,
    customer_id  integer NOT NULL REFERENCES customers (id),
    status       text NOT NULL,
    total_cents  integer NOT NULL,
    placed_at    timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS analytics (
    day          date NOT NULL,
    country      text NOT NULL,
    orders       integer NOT NULL,
    revenue_cents bigint NOT NULL,
    PRIMARY KEY (day, country)
);

INSERT INTO customers (id, name, email, country, created_at)
SELECT n,
       'Customer ' || n,
       'customer' || n || '@shop.example',
       (ARRAY['DE', 'FR', 'GB', 'NL', 'US'])[1 + n % 5],
       timestamptz '2026-01-01' + n * interval '7 hours'
FROM generate_series(1, 300) AS n
ON CONFLICT DO NOTHING;

INSERT INTO orders (id, customer_id, status, total_cents, placed_at)
SELECT n,
       1 + (n * 7) % 300,
       (ARRAY['placed', 'paid', 'shipped', 'delivered', 'returned'])[1 + n % 5],
       500 + (n * 137) % 20000,
       timestamptz '2026-03-01' + n * interval '3 hours'
FROM generate_series(1, 600) AS n
ON CONFLICT DO NOTHING;

INSERT INTO analytics (day, country, orders, revenue_cents)
SELECT o.placed_at::date, c.country, count(*), sum(o.total_cents)
FROM orders o JOIN customers c ON c.id = o.customer_id
GROUP BY 1, 2
ON CONFLICT DO NOTHING;

-- Nobody but the owner may do anything until a role grants it.
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
