-- A medallion pipeline in plain SQL: raw CSV files land in bronze, silver
-- holds each order once (the latest version, typed, valid), gold the daily
-- revenue per region, and the gold table is served from PostgreSQL.
-- `$LANDING` is the folder the files land in, `$SERVING` the PostgreSQL
-- table gold is copied to. Running it again loads only new files.

-- bronze: the raw rows of each file, loaded once.
COPY INTO bronze.orders_raw FROM '$LANDING/' FILEFORMAT = CSV PATTERN = '*.csv'
  FORMAT_OPTIONS ('header' = 'true');

-- silver: the latest version of each order, with its types; rows whose
-- amount does not parse are left out.
CREATE TABLE IF NOT EXISTS silver.orders (
  order_id BIGINT NOT NULL, customer TEXT, region TEXT, amount DECIMAL(12, 2),
  status TEXT, ordered_at TIMESTAMP, updated_at TIMESTAMP
) PARTITIONED BY (region);

MERGE INTO silver.orders t
USING (
  SELECT order_id, customer, region, amount, status, ordered_at, updated_at
  FROM (
    SELECT CAST(order_id AS BIGINT) AS order_id, customer, region,
           TRY_CAST(amount AS DECIMAL(12, 2)) AS amount, status,
           CAST(ordered_at AS TIMESTAMP) AS ordered_at,
           CAST(updated_at AS TIMESTAMP) AS updated_at,
           ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY updated_at DESC) AS version
    FROM bronze.orders_raw
  ) latest
  WHERE version = 1 AND amount IS NOT NULL
) s
ON t.order_id = s.order_id
WHEN MATCHED AND s.updated_at > t.updated_at THEN
  UPDATE SET amount = s.amount, status = s.status, updated_at = s.updated_at
WHEN NOT MATCHED THEN
  INSERT VALUES (s.order_id, s.customer, s.region, s.amount, s.status, s.ordered_at, s.updated_at);

-- gold: paid revenue per day and region, rebuilt whole.
CREATE TABLE IF NOT EXISTS gold.daily_revenue (
  day DATE, region TEXT, orders BIGINT, revenue DECIMAL(14, 2)
);

INSERT OVERWRITE gold.daily_revenue
SELECT CAST(ordered_at AS DATE), region, count(*), sum(amount)
FROM silver.orders WHERE status = 'paid' GROUP BY 1, 2;

-- serving: gold in PostgreSQL, replaced in one transaction.
INSERT OVERWRITE $SERVING SELECT day, region, orders, revenue FROM gold.daily_revenue;
