//! `pg_get_keywords()`: the SQL key words of PostgreSQL 15, whose dialect
//! Strata speaks, with their categories. Drivers read it to know which
//! identifiers to quote (pgjdbc's `getSQLKeywords`, which DBeaver calls on
//! connect).

/// Unreserved key words.
pub const UNRESERVED: &str = concat!(
    "abort absolute access action add admin after aggregate also alter always asensitive ",
    "assertion assignment at atomic attach attribute backward before begin breadth by cache ",
    "call called cascade cascaded catalog chain characteristics checkpoint class close cluster ",
    "columns comment comments commit committed compression configuration conflict connection ",
    "constraints content continue conversion copy cost csv cube current cursor cycle data ",
    "database day deallocate declare defaults deferred definer delete delimiter delimiters ",
    "depends depth detach dictionary disable discard document domain double drop each enable ",
    "encoding encrypted enum escape event exclude excluding exclusive execute explain ",
    "expression extension external family filter finalize first following force forward ",
    "function functions generated global granted groups handler header hold hour identity if ",
    "immediate immutable implicit import include including increment index indexes inherit ",
    "inherits inline input insensitive insert instead invoker isolation key label language ",
    "large last leakproof level listen load local location lock locked logged mapping match ",
    "matched materialized maxvalue merge method minute minvalue mode month move name names new ",
    "next nfc nfd nfkc nfkd no normalized nothing notify nowait nulls object of off oids old ",
    "operator option options ordinality others over overriding owned owner parallel parameter ",
    "parser partial partition passing password plans policy preceding prepare prepared preserve ",
    "prior privileges procedural procedure procedures program publication quote range read ",
    "reassign recheck recursive ref referencing refresh reindex relative release rename ",
    "repeatable replace replica reset restart restrict return returns revoke role rollback ",
    "rollup routine routines rows rule savepoint schema schemas scroll search second security ",
    "sequence sequences serializable server session set sets share show simple skip snapshot ",
    "sql stable standalone start statement statistics stdin stdout storage stored strict strip ",
    "subscription support sysid system tables tablespace temp template temporary text ties ",
    "transaction transform trigger truncate trusted type types uescape unbounded uncommitted ",
    "unencrypted unknown unlisten unlogged until update vacuum valid validate validator value ",
    "varying version view views volatile whitespace within without work wrapper write xml year ",
    "yes zone ",
);

/// Key words that cannot be function or type names.
pub const COLUMN_NAME: &str = concat!(
    "between bigint bit boolean char character coalesce dec decimal exists extract float ",
    "greatest grouping inout int integer interval least national nchar none normalize nullif ",
    "numeric out overlay position precision real row setof smallint substring time timestamp ",
    "treat trim values varchar xmlattributes xmlconcat xmlelement xmlexists xmlforest ",
    "xmlnamespaces xmlparse xmlpi xmlroot xmlserialize xmltable ",
);

/// Reserved key words that can be function or type names.
pub const TYPE_FUNC_NAME: &str = concat!(
    "authorization binary collation concurrently cross current_schema freeze full ilike inner ",
    "is isnull join left like natural notnull outer overlaps right similar tablesample verbose ",
);

/// Reserved key words.
pub const RESERVED: &str = concat!(
    "all analyse analyze and any array as asc asymmetric both case cast check collate column ",
    "constraint create current_catalog current_date current_role current_time current_timestamp ",
    "current_user default deferrable desc distinct do else end except false fetch for foreign ",
    "from grant group having in initially intersect into lateral leading limit localtime ",
    "localtimestamp not null offset on only or order placing primary references returning ",
    "select session_user some symmetric table then to trailing true union unique user using ",
    "variadic when where window with ",
);

/// Key words that cannot be column labels without `AS`.
pub const NOT_BARE_LABELS: &str = concat!(
    "array as char character create day except fetch filter for from grant group having hour ",
    "intersect into isnull limit minute month notnull offset on order over overlaps precision ",
    "returning second to union varying where window with within without year ",
);

/// The `pg_get_keywords()` table function.
#[derive(Debug)]
pub struct PgGetKeywords;

impl datafusion::catalog::TableFunctionImpl for PgGetKeywords {
    fn call(
        &self,
        _args: &[datafusion::logical_expr::Expr],
    ) -> datafusion::error::Result<std::sync::Arc<dyn datafusion::catalog::TableProvider>> {
        use std::sync::Arc;

        use datafusion::arrow::array::{BooleanArray, RecordBatch, StringArray};
        use datafusion::arrow::datatypes::{DataType, Field, Schema};
        use datafusion::datasource::MemTable;

        let not_bare: std::collections::HashSet<&str> =
            NOT_BARE_LABELS.split_whitespace().collect();
        let mut words: Vec<(&str, &str, &str)> = [
            (UNRESERVED, "U", "unreserved"),
            (
                COLUMN_NAME,
                "C",
                "unreserved (cannot be function or type name)",
            ),
            (
                TYPE_FUNC_NAME,
                "T",
                "reserved (can be function or type name)",
            ),
            (RESERVED, "R", "reserved"),
        ]
        .into_iter()
        .flat_map(|(list, code, description)| {
            list.split_whitespace()
                .map(move |word| (word, code, description))
        })
        .collect();
        words.sort_unstable();
        let bare = |word: &str| !not_bare.contains(word);
        let schema = Arc::new(Schema::new(vec![
            Field::new("word", DataType::Utf8, false),
            Field::new("catcode", DataType::Utf8, false),
            Field::new("barelabel", DataType::Boolean, false),
            Field::new("catdesc", DataType::Utf8, false),
            Field::new("baredesc", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from_iter_values(words.iter().map(|w| w.0))),
                Arc::new(StringArray::from_iter_values(words.iter().map(|w| w.1))),
                Arc::new(BooleanArray::from_iter(
                    words.iter().map(|w| Some(bare(w.0))),
                )),
                Arc::new(StringArray::from_iter_values(words.iter().map(|w| w.2))),
                Arc::new(StringArray::from_iter_values(words.iter().map(|w| {
                    if bare(w.0) {
                        "can be bare label"
                    } else {
                        "requires AS"
                    }
                }))),
            ],
        )?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}
