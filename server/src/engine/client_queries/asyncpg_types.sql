-- What asyncpg asks pg_type when it meets a type it has no codec for (its
-- "typeinfo_tree" introspection), in a form DataFusion can plan: the type and,
-- one level down, its element type. Strata has no domains, ranges or composite
-- column types, so those columns are NULL.
SELECT t.oid AS oid, ns.nspname AS ns, t.typname AS name, t.typtype AS kind,
       CAST(NULL AS oid) AS basetype, t.typelem AS elemtype, t.typdelim AS elemdelim,
       CAST(NULL AS oid) AS range_subtype, CAST(NULL AS oid[]) AS attrtypoids,
       CAST(NULL AS text[]) AS attrnames, 0 AS depth, CAST(NULL AS text) AS basetype_name,
       elem_t.typname AS elemtype_name, CAST(NULL AS text) AS range_subtype_name
FROM pg_catalog.pg_type t
JOIN pg_catalog.pg_namespace ns ON ns.oid = t.typnamespace
LEFT JOIN pg_catalog.pg_type elem_t ON elem_t.oid = t.typelem
WHERE t.oid = ANY($1::oid[])
UNION ALL
SELECT e.oid, ns.nspname, e.typname, e.typtype, CAST(NULL AS oid), e.typelem, e.typdelim,
       CAST(NULL AS oid), CAST(NULL AS oid[]), CAST(NULL AS text[]), 1, CAST(NULL AS text),
       ee.typname, CAST(NULL AS text)
FROM pg_catalog.pg_type t
JOIN pg_catalog.pg_type e ON e.oid = t.typelem
JOIN pg_catalog.pg_namespace ns ON ns.oid = e.typnamespace
LEFT JOIN pg_catalog.pg_type ee ON ee.oid = e.typelem
WHERE t.oid = ANY($1::oid[])
ORDER BY depth DESC
