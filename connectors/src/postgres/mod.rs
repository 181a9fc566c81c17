//! Reading PostgreSQL tables: the type mapping ([`types`]), the binary COPY
//! decoder ([`copy`]), and the catalog queries and COPY statements that tie
//! them to a table.

pub mod catalog;
pub mod copy;
pub mod ddl;
pub mod defaults;
pub mod numeric;
pub mod options;
pub mod pushdown;
pub mod sliced;
pub mod source;
pub mod table;
pub mod tls;
pub mod topn;
pub mod types;
pub mod write;

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use futures::{Stream, StreamExt};
use tokio_postgres::{Client, CopyOutStream};

use self::copy::{CopyDecoder, DecodeError};
use self::types::{PgKind, PgTypeInfo};

/// Errors reading from PostgreSQL.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("relation \"{0}\" does not exist")]
    UndefinedTable(String),
    #[error(transparent)]
    Source(#[from] source::SourceError),
}

/// A column of a PostgreSQL table and how it is read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PgColumn {
    pub name: String,
    pub kind: PgKind,
    /// How PostgreSQL compares the column's text, which decides the text
    /// filters that mean the same there as in DataFusion.
    #[serde(default)]
    pub text_order: TextOrder,
    /// PostgreSQL fills the column in when an INSERT leaves it out (a
    /// default, serial, identity or generated column).
    #[serde(default)]
    pub has_default: bool,
    /// Declared NOT NULL.
    #[serde(default)]
    pub not_null: bool,
    /// Its default expression, as PostgreSQL prints it.
    #[serde(default)]
    pub default: Option<String>,
}

/// How PostgreSQL compares the values of a `text` or `varchar` column.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TextOrder {
    /// Not a text column, or one whose comparisons differ from DataFusion's
    /// (`char(n)` ignores trailing blanks, nondeterministic collations).
    #[default]
    Other,
    /// A deterministic collation: equal exactly when the bytes are equal,
    /// but ordered by the collation's rules.
    Equality,
    /// The C (POSIX) collation: ordered by bytes, as DataFusion orders.
    Bytes,
}

/// `ident` quoted for PostgreSQL.
pub fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// `text` as a PostgreSQL string literal (standard_conforming_strings, on
/// since PostgreSQL 9.1, keeps backslashes as they are).
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The columns of `schema.table`, in order, with the kinds they are read as.
pub async fn describe(
    client: &Client,
    schema: &str,
    table: &str,
) -> Result<Vec<PgColumn>, ReadError> {
    const SQL: &str = "\
        SELECT a.attname::text, b.oid::int8, b.typtype::text, \
               CASE WHEN b.typcategory = 'A' THEN e.oid::int8 END, e.typtype::text, \
               CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END, \
               CASE WHEN b.oid IN (25, 1043) THEN \
                 CASE WHEN co.collname IN ('C', 'POSIX') \
                        OR (co.collname = 'default' AND (\
                          SELECT d.datcollate IN ('C', 'POSIX') \
                                 AND coalesce(to_jsonb(d) ->> 'datlocprovider', 'c') = 'c' \
                          FROM pg_database d WHERE d.datname = current_database())) \
                      THEN 'bytes' \
                      WHEN coalesce((to_jsonb(co) ->> 'collisdeterministic')::bool, true) \
                      THEN 'equality' END \
               END, \
               a.atthasdef OR coalesce(to_jsonb(a) ->> 'attidentity', '') <> '', \
               a.attnotnull, pg_get_expr(ad.adbin, ad.adrelid) \
        FROM pg_attribute a \
        LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum \
        JOIN pg_type t ON t.oid = a.atttypid \
        JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END \
        LEFT JOIN pg_type e ON e.oid = b.typelem \
        LEFT JOIN pg_collation co ON co.oid = a.attcollation \
        WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
        ORDER BY a.attnum";
    let qualified = format!("{}.{}", quote_ident(schema), quote_ident(table));
    let rows = client.query(SQL, &[&qualified]).await?;
    if rows.is_empty() {
        return Err(ReadError::UndefinedTable(format!("{schema}.{table}")));
    }
    let typtype = |text: Option<String>| text.and_then(|t| t.bytes().next()).unwrap_or(b'b');
    Ok(rows
        .iter()
        .map(|row| {
            let element: Option<i64> = row.get(3);
            let info = PgTypeInfo {
                oid: row.get::<_, i64>(1) as u32,
                typtype: typtype(row.get(2)),
                element: element.map(|oid| (oid as u32, typtype(row.get(4)))),
                typmod: row.get(5),
            };
            let text_order = match row.get::<_, Option<&str>>(6) {
                Some("bytes") => TextOrder::Bytes,
                Some("equality") => TextOrder::Equality,
                _ => TextOrder::Other,
            };
            PgColumn {
                name: row.get(0),
                kind: PgKind::of(&info),
                text_order,
                has_default: row.get(7),
                not_null: row.get(8),
                default: row.get(9),
            }
        })
        .collect())
}

/// A primary key, unique or foreign key constraint of a PostgreSQL table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PgKey {
    /// The constraint's name.
    pub name: String,
    /// The name of the index that enforces it (for a foreign key, the
    /// referenced table's key index).
    pub index: String,
    /// A primary key, else a unique constraint or a foreign key.
    pub primary: bool,
    /// Its columns' names, in key order.
    pub columns: Vec<String>,
    /// What a foreign key references.
    #[serde(default)]
    pub references: Option<PgReference>,
}

/// The table and columns a foreign key references, and its actions as
/// pg_constraint codes them (`a` no action, `r` restrict, `c` cascade, `n`
/// set null, `d` set default; match `s` simple, `f` full).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PgReference {
    pub schema: String,
    pub table: String,
    pub columns: Vec<String>,
    pub on_update: String,
    pub on_delete: String,
    pub match_type: String,
}

/// The primary key, unique and foreign key constraints of `schema.table`,
/// primary key first.
pub async fn keys(client: &Client, schema: &str, table: &str) -> Result<Vec<PgKey>, ReadError> {
    const SQL: &str = "\
        SELECT con.conname::text, coalesce(i.relname::text, ''), con.contype = 'p', \
               ARRAY(SELECT a.attname::text \
                     FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, n) \
                     JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum \
                     ORDER BY k.n), \
               con.contype = 'f', rn.nspname::text, rc.relname::text, \
               ARRAY(SELECT a.attname::text \
                     FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, n) \
                     JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum \
                     ORDER BY k.n), \
               con.confupdtype::text, con.confdeltype::text, con.confmatchtype::text \
        FROM pg_constraint con \
        LEFT JOIN pg_class i ON i.oid = con.conindid \
        LEFT JOIN pg_class rc ON rc.oid = con.confrelid \
        LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace \
        WHERE con.conrelid = to_regclass($1) AND con.contype IN ('p', 'u', 'f') \
        ORDER BY con.contype <> 'p', con.contype, con.conname";
    let qualified = format!("{}.{}", quote_ident(schema), quote_ident(table));
    let rows = client.query(SQL, &[&qualified]).await?;
    Ok(rows
        .iter()
        .map(|row| PgKey {
            name: row.get(0),
            index: row.get(1),
            primary: row.get(2),
            columns: row.get(3),
            references: row.get::<_, bool>(4).then(|| PgReference {
                schema: row.get::<_, Option<String>>(5).unwrap_or_default(),
                table: row.get::<_, Option<String>>(6).unwrap_or_default(),
                columns: row.get(7),
                on_update: row.get(8),
                on_delete: row.get(9),
                match_type: row.get(10),
            }),
        })
        .collect())
}

/// The Arrow schema `columns` are read as.
pub fn arrow_schema(columns: &[PgColumn]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| {
                let field = c.kind.field(&c.name);
                let mut metadata = field.metadata().clone();
                if c.not_null {
                    metadata.insert(types::NOT_NULL_KEY.to_owned(), "true".to_owned());
                }
                if let Some(default) = &c.default {
                    metadata.insert(types::DEFAULT_KEY.to_owned(), default.clone());
                }
                field.with_metadata(metadata)
            })
            .collect::<Vec<_>>(),
    ))
}

/// The select list that reads `columns`: types without an Arrow form are
/// read as their text.
pub fn select_list(columns: &[PgColumn]) -> String {
    // An empty list (`SELECT FROM t`, for count(*)) is valid PostgreSQL.
    columns
        .iter()
        .map(|c| match c.kind {
            PgKind::TextFallback => format!("{}::text", quote_ident(&c.name)),
            _ => quote_ident(&c.name),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs `COPY (query) TO STDOUT (FORMAT binary)` and decodes its rows into
/// batches of `batch_size` rows of `columns`.
pub fn read_query(
    client: Arc<Client>,
    query: String,
    columns: Vec<PgColumn>,
    batch_size: usize,
) -> impl Stream<Item = Result<RecordBatch, ReadError>> + Send {
    let schema = arrow_schema(&columns);
    let kinds: Vec<PgKind> = columns.into_iter().map(|c| c.kind).collect();
    let start = Read::Start {
        client,
        query,
        decoder: CopyDecoder::new(schema, &kinds, batch_size),
    };
    futures::stream::try_unfold(start, |state| async move {
        let mut reading = match state {
            Read::Start {
                client,
                query,
                decoder,
            } => {
                let copy = format!("COPY ({query}) TO STDOUT (FORMAT binary)");
                Reading {
                    chunks: Box::pin(client.copy_out(copy.as_str()).await?),
                    decoder,
                    ready: VecDeque::new(),
                    ended: false,
                }
            }
            Read::Reading(reading) => reading,
        };
        loop {
            if let Some(batch) = reading.ready.pop_front() {
                return Ok(Some((batch, Read::Reading(reading))));
            }
            if reading.ended {
                return Ok(None);
            }
            match reading.chunks.next().await {
                Some(chunk) => reading.ready.extend(reading.decoder.push(&chunk?)?),
                None => {
                    reading.ended = true;
                    reading.ready.extend(reading.decoder.finish()?);
                }
            }
        }
    })
}

enum Read {
    Start {
        client: Arc<Client>,
        query: String,
        decoder: CopyDecoder,
    },
    Reading(Reading),
}

struct Reading {
    chunks: Pin<Box<CopyOutStream>>,
    decoder: CopyDecoder,
    ready: VecDeque<RecordBatch>,
    ended: bool,
}
