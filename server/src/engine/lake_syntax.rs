//! Delta Lake's SQL that the PostgreSQL dialect does not parse, turned into
//! what it does before a query is parsed:
//!
//! - `t VERSION AS OF 3` and `t TIMESTAMP AS OF '2024-01-02 03:04:05'`
//!   become Delta's by-name form, `"t@v3"` and `"t@20240102030405000"`,
//!   which the lake catalog resolves to that version;
//! - `USING DELTA` in `CREATE TABLE` is dropped (every lake table is one);
//!
//! and the lake's own statements, parsed here (`DESCRIBE HISTORY`,
//! `OPTIMIZE`, `VACUUM`) or recognised among parsed ones (`ALTER TABLE ...
//! ADD COLUMN`, `COMMENT ON`).

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use datafusion::sql::sqlparser::ast;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Word};
use strata_connectors::lake::catalog::name_at_time;

use crate::error::{Result, StrataError};

/// `sql` with Delta's time travel and `USING DELTA` rewritten; untouched
/// (and not tokenized) when it has neither.
pub fn rewrite(sql: &str) -> Result<Cow<'_, str>> {
    let lower = sql.to_ascii_lowercase();
    let time_travel = lower.contains(" as of") || lower.contains("\nas of");
    let using_delta = lower.contains("using delta");
    if !time_travel && !using_delta {
        return Ok(Cow::Borrowed(sql));
    }
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize()
        .map_err(|e| StrataError::Syntax(e.into()))?;
    let creates = tokens
        .iter()
        .find(|t| !matches!(t, Token::Whitespace(_)))
        .is_some_and(|t| keyword(t, Keyword::CREATE));
    let mut out: Vec<Token> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let token = &tokens[i];
        if creates && keyword(token, Keyword::USING) {
            let next = next_word(&tokens, i + 1);
            if let Some((at, Token::Word(w))) = next
                && w.quote_style.is_none()
                && w.value.eq_ignore_ascii_case("delta")
            {
                i = at + 1;
                if matches!(tokens.get(i), Some(Token::Whitespace(_))) {
                    i += 1;
                }
                continue;
            }
        }
        if (keyword(token, Keyword::VERSION) || keyword(token, Keyword::TIMESTAMP))
            && let Some((end, suffix)) = as_of(&tokens, i)?
        {
            let Some(last) = out.iter().rposition(|t| !matches!(t, Token::Whitespace(_))) else {
                return Err(syntax("AS OF must follow a table name"));
            };
            let Token::Word(name) = &out[last] else {
                return Err(syntax("AS OF must follow a table name"));
            };
            let base = if name.quote_style.is_some() {
                name.value.clone()
            } else {
                name.value.to_ascii_lowercase()
            };
            out.truncate(last);
            out.push(Token::Word(Word {
                value: format!("{base}{suffix}"),
                quote_style: Some('"'),
                keyword: Keyword::NoKeyword,
            }));
            i = end;
            continue;
        }
        out.push(token.clone());
        i += 1;
    }
    Ok(Cow::Owned(out.iter().map(ToString::to_string).collect()))
}

fn syntax(message: &str) -> StrataError {
    StrataError::Syntax(
        datafusion::sql::sqlparser::parser::ParserError::ParserError(message.to_owned()),
    )
}

fn keyword(token: &Token, keyword: Keyword) -> bool {
    matches!(token, Token::Word(w) if w.keyword == keyword && w.quote_style.is_none())
}

/// The next token from `from` that is not whitespace, and where it is.
fn next_word(tokens: &[Token], from: usize) -> Option<(usize, &Token)> {
    tokens
        .iter()
        .enumerate()
        .skip(from)
        .find(|(_, t)| !matches!(t, Token::Whitespace(_)))
}

/// At `VERSION`/`TIMESTAMP` (index `at`): if `AS OF <value>` follows, the
/// index past it and the name suffix that selects the version.
fn as_of(tokens: &[Token], at: usize) -> Result<Option<(usize, String)>> {
    let Some((as_at, as_token)) = next_word(tokens, at + 1) else {
        return Ok(None);
    };
    if !keyword(as_token, Keyword::AS) {
        return Ok(None);
    }
    let Some((of_at, of_token)) = next_word(tokens, as_at + 1) else {
        return Ok(None);
    };
    if !keyword(of_token, Keyword::OF) {
        return Ok(None);
    }
    let Some((mut value_at, mut value)) = next_word(tokens, of_at + 1) else {
        return Err(syntax("AS OF needs a version or a timestamp"));
    };
    if keyword(&tokens[at], Keyword::VERSION) {
        let Token::Number(number, _) = value else {
            return Err(syntax("VERSION AS OF needs a version number"));
        };
        let version: u64 = number
            .parse()
            .map_err(|_| syntax("VERSION AS OF needs a whole version number"))?;
        return Ok(Some((value_at + 1, format!("@v{version}"))));
    }
    // TIMESTAMP AS OF '...' (or TIMESTAMP AS OF TIMESTAMP '...').
    if keyword(value, Keyword::TIMESTAMP)
        && let Some((next_at, next)) = next_word(tokens, value_at + 1)
    {
        value_at = next_at;
        value = next;
    }
    let Token::SingleQuotedString(text) = value else {
        return Err(syntax("TIMESTAMP AS OF needs a timestamp in quotes"));
    };
    let time = parse_time(text).ok_or_else(|| StrataError::InvalidTextRepresentation {
        type_name: "timestamp".to_owned(),
        value: text.clone(),
    })?;
    let name = name_at_time("", time);
    Ok(Some((value_at + 1, name)))
}

/// A timestamp as users write it, in UTC unless it says otherwise.
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%#z"] {
        if let Ok(time) = DateTime::parse_from_str(text, format) {
            return Some(time.with_timezone(&Utc));
        }
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(time) = NaiveDateTime::parse_from_str(text, format) {
            return Some(time.and_utc());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// A statement on a lake table that DataFusion has no plan for.
#[derive(Debug, Clone, PartialEq)]
pub enum LakeCommand {
    /// `DESCRIBE HISTORY t [LIMIT n]`: the table's commits, newest first.
    History { table: String, limit: Option<usize> },
    /// `OPTIMIZE t`: small files of each partition compacted into larger ones.
    Optimize { table: String },
    /// `VACUUM t [RETAIN n HOURS] [DRY RUN]`: files no version within the
    /// retention period reads are deleted.
    Vacuum {
        table: String,
        retain_hours: Option<f64>,
        dry_run: bool,
    },
    /// `COPY INTO t FROM 'path or glob' FILEFORMAT = CSV | JSON | PARQUET
    /// [PATTERN = 'glob'] [FORMAT_OPTIONS (...)] [COPY_OPTIONS (...)]`:
    /// Databricks' idempotent load of files into a table.
    CopyInto {
        table: String,
        from: String,
        format: String,
        pattern: Option<String>,
        format_options: Vec<(String, String)>,
        copy_options: Vec<(String, String)>,
    },
    /// `ALTER TABLE t ADD [COLUMN] [IF NOT EXISTS] c type, ...`.
    AddColumns {
        table: String,
        columns: Vec<ast::ColumnDef>,
        if_not_exists: bool,
    },
    /// `COMMENT ON TABLE t IS '...'` / `COMMENT ON COLUMN t.c IS '...'`
    /// (`IS NULL` clears it).
    Comment {
        table: String,
        column: Option<String>,
        comment: Option<String>,
    },
}

impl LakeCommand {
    /// The lake command a parsed statement is, if it is one.
    pub fn of(statement: &ast::Statement) -> Result<Option<Self>> {
        Ok(match statement {
            ast::Statement::AlterTable(alter)
                if !alter.operations.is_empty()
                    && alter
                        .operations
                        .iter()
                        .all(|op| matches!(op, ast::AlterTableOperation::AddColumn { .. })) =>
            {
                let mut columns = Vec::new();
                let mut if_not_exists = false;
                for operation in &alter.operations {
                    if let ast::AlterTableOperation::AddColumn {
                        column_def,
                        if_not_exists: each,
                        column_position,
                        ..
                    } = operation
                    {
                        if column_position.is_some() {
                            return Err(StrataError::NotSupported(
                                "FIRST / AFTER in ADD COLUMN (columns are added last)".to_owned(),
                            ));
                        }
                        if_not_exists |= *each;
                        columns.push(column_def.clone());
                    }
                }
                Some(LakeCommand::AddColumns {
                    table: alter.name.to_string(),
                    columns,
                    if_not_exists,
                })
            }
            ast::Statement::Comment {
                object_type,
                object_name,
                comment,
                ..
            } => {
                let parts: Vec<String> = object_name.0.iter().map(ToString::to_string).collect();
                match object_type {
                    ast::CommentObject::Table => Some(LakeCommand::Comment {
                        table: object_name.to_string(),
                        column: None,
                        comment: comment.clone(),
                    }),
                    ast::CommentObject::Column if parts.len() >= 2 => {
                        let (column, table) = object_name.0.split_last().map_or_else(
                            || (String::new(), String::new()),
                            |(last, rest)| {
                                (
                                    ast::ObjectName(vec![last.clone()]).to_string(),
                                    ast::ObjectName(rest.to_vec()).to_string(),
                                )
                            },
                        );
                        Some(LakeCommand::Comment {
                            table,
                            column: Some(normalize_name(&column)),
                            comment: comment.clone(),
                        })
                    }
                    other => {
                        return Err(StrataError::NotSupported(format!("COMMENT ON {other}")));
                    }
                }
            }
            _ => None,
        })
    }
}

/// A column name as written (`"Name"` keeps its case, `Name` is `name`).
fn normalize_name(text: &str) -> String {
    match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(quoted) => quoted.replace("\"\"", "\""),
        None => text.to_ascii_lowercase(),
    }
}

/// The lake statement `sql` is, if it is one.
pub fn parse_command(sql: &str) -> Result<Option<LakeCommand>> {
    let first = sql
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    if !matches!(first.as_str(), "DESCRIBE" | "OPTIMIZE" | "VACUUM" | "COPY") {
        return Ok(None);
    }
    let dialect = PostgreSqlDialect {};
    let mut parser = Parser::new(&dialect)
        .try_with_sql(sql)
        .map_err(StrataError::Syntax)?;
    let command = if parser.parse_keyword(Keyword::COPY) {
        if !parser.parse_keyword(Keyword::INTO) {
            return Ok(None);
        }
        parse_copy_into(&mut parser)?
    } else if parser.parse_keyword(Keyword::DESCRIBE) {
        if !parser.parse_keyword(Keyword::HISTORY) {
            return Ok(None);
        }
        let table = parser
            .parse_object_name(false)
            .map_err(StrataError::Syntax)?;
        let limit = if parser.parse_keyword(Keyword::LIMIT) {
            Some(parser.parse_literal_uint().map_err(StrataError::Syntax)? as usize)
        } else {
            None
        };
        LakeCommand::History {
            table: table.to_string(),
            limit,
        }
    } else if parser.parse_keyword(Keyword::OPTIMIZE) {
        let table = parser
            .parse_object_name(false)
            .map_err(StrataError::Syntax)?;
        if parser.parse_keyword(Keyword::ZORDER) {
            return Err(StrataError::NotSupported(
                "OPTIMIZE ... ZORDER BY".to_owned(),
            ));
        }
        if parser.parse_keyword(Keyword::WHERE) {
            return Err(StrataError::NotSupported(
                "OPTIMIZE ... WHERE (OPTIMIZE compacts the whole table)".to_owned(),
            ));
        }
        LakeCommand::Optimize {
            table: table.to_string(),
        }
    } else if parser.parse_keyword(Keyword::VACUUM) {
        let table = parser
            .parse_object_name(false)
            .map_err(StrataError::Syntax)?;
        let mut retain_hours = None;
        if parser.parse_keyword(Keyword::RETAIN) {
            let value = parser.parse_number_value().map_err(StrataError::Syntax)?;
            let hours: f64 = value
                .to_string()
                .parse()
                .map_err(|_| syntax("RETAIN needs a number of hours"))?;
            parser
                .expect_keyword(Keyword::HOURS)
                .map_err(StrataError::Syntax)?;
            retain_hours = Some(hours);
        }
        let dry_run = parser.parse_keyword(Keyword::DRY);
        if dry_run {
            parser
                .expect_keyword(Keyword::RUN)
                .map_err(StrataError::Syntax)?;
        }
        LakeCommand::Vacuum {
            table: table.to_string(),
            retain_hours,
            dry_run,
        }
    } else {
        return Ok(None);
    };
    let _ = parser.consume_token(&Token::SemiColon);
    if parser.peek_token().token != Token::EOF {
        return Err(syntax(&format!(
            "unexpected {} after the statement",
            parser.peek_token().token
        )));
    }
    Ok(Some(command))
}

/// The rest of `COPY INTO`, after its first two words.
fn parse_copy_into(parser: &mut Parser<'_>) -> Result<LakeCommand> {
    let table = parser
        .parse_object_name(false)
        .map_err(StrataError::Syntax)?;
    parser
        .expect_keyword(Keyword::FROM)
        .map_err(StrataError::Syntax)?;
    let from = parser.parse_literal_string().map_err(StrataError::Syntax)?;
    let (mut format, mut pattern) = (None, None);
    let (mut format_options, mut copy_options) = (Vec::new(), Vec::new());
    loop {
        let token = parser.peek_token().token;
        let Token::Word(word) = token else {
            break;
        };
        let name = word.value.to_ascii_uppercase();
        match name.as_str() {
            "FILEFORMAT" | "FORMAT" => {
                parser.next_token();
                let _ = parser.consume_token(&Token::Eq);
                let value = parser.next_token().token;
                format = Some(match value {
                    Token::Word(w) => w.value.to_ascii_lowercase(),
                    Token::SingleQuotedString(s) => s.to_ascii_lowercase(),
                    other => return Err(syntax(&format!("expected a file format, found {other}"))),
                });
            }
            "PATTERN" => {
                parser.next_token();
                let _ = parser.consume_token(&Token::Eq);
                pattern = Some(parser.parse_literal_string().map_err(StrataError::Syntax)?);
            }
            "FORMAT_OPTIONS" | "COPY_OPTIONS" => {
                parser.next_token();
                let options = option_list(parser)?;
                if name == "FORMAT_OPTIONS" {
                    format_options.extend(options);
                } else {
                    copy_options.extend(options);
                }
            }
            _ => break,
        }
    }
    let format =
        format.ok_or_else(|| syntax("COPY INTO needs FILEFORMAT = CSV | JSON | PARQUET"))?;
    Ok(LakeCommand::CopyInto {
        table: table.to_string(),
        from,
        format,
        pattern,
        format_options,
        copy_options,
    })
}

/// `('key' = 'value', ...)`; keys lower-cased, values as written.
fn option_list(parser: &mut Parser<'_>) -> Result<Vec<(String, String)>> {
    parser
        .expect_token(&Token::LParen)
        .map_err(StrataError::Syntax)?;
    let mut options = Vec::new();
    loop {
        if parser.consume_token(&Token::RParen) {
            break;
        }
        let key = match parser.next_token().token {
            Token::SingleQuotedString(s) => s,
            Token::Word(w) => w.value,
            other => return Err(syntax(&format!("expected an option name, found {other}"))),
        };
        let _ = parser.consume_token(&Token::Eq);
        let value = match parser.next_token().token {
            Token::SingleQuotedString(s) => s,
            Token::Word(w) => w.value,
            Token::Number(n, _) => n,
            other => {
                return Err(syntax(&format!(
                    "expected a value for {key}, found {other}"
                )));
            }
        };
        options.push((key.to_ascii_lowercase(), value));
        if !parser.consume_token(&Token::Comma) {
            parser
                .expect_token(&Token::RParen)
                .map_err(StrataError::Syntax)?;
            break;
        }
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_travel_becomes_a_versioned_name() {
        assert_eq!(
            rewrite("SELECT * FROM silver.Orders VERSION AS OF 3 o WHERE x = 1").unwrap(),
            "SELECT * FROM silver.\"orders@v3\" o WHERE x = 1"
        );
        assert_eq!(
            rewrite("select count(*) from t timestamp as of '2024-01-02 03:04:05.5'").unwrap(),
            "select count(*) from \"t@20240102030405500\""
        );
        assert_eq!(
            rewrite("SELECT * FROM \"T\" TIMESTAMP AS OF '2024-01-02T03:04:05+01:00'").unwrap(),
            "SELECT * FROM \"T@20240102020405000\""
        );
        assert!(rewrite("SELECT * FROM t VERSION AS OF 'x'").is_err());
        assert_eq!(rewrite("SELECT 1").unwrap(), "SELECT 1");
    }

    #[test]
    fn lake_statements_are_recognised() {
        assert_eq!(
            parse_command("DESCRIBE HISTORY silver.orders LIMIT 5").unwrap(),
            Some(LakeCommand::History {
                table: "silver.orders".to_owned(),
                limit: Some(5)
            })
        );
        assert_eq!(
            parse_command("vacuum t retain 0 hours dry run;").unwrap(),
            Some(LakeCommand::Vacuum {
                table: "t".to_owned(),
                retain_hours: Some(0.0),
                dry_run: true
            })
        );
        assert_eq!(
            parse_command("OPTIMIZE gold.daily").unwrap(),
            Some(LakeCommand::Optimize {
                table: "gold.daily".to_owned()
            })
        );
        assert_eq!(parse_command("DESCRIBE t").unwrap(), None);
        assert_eq!(
            parse_command(
                "COPY INTO bronze.raw FROM '/in/*.csv' FILEFORMAT = CSV \
                 FORMAT_OPTIONS ('header' = 'true', 'delimiter' = ';') COPY_OPTIONS ('force' = 'true')"
            )
            .unwrap(),
            Some(LakeCommand::CopyInto {
                table: "bronze.raw".to_owned(),
                from: "/in/*.csv".to_owned(),
                format: "csv".to_owned(),
                pattern: None,
                format_options: vec![
                    ("header".to_owned(), "true".to_owned()),
                    ("delimiter".to_owned(), ";".to_owned())
                ],
                copy_options: vec![("force".to_owned(), "true".to_owned())],
            })
        );
        assert_eq!(parse_command("COPY t TO '/x'").unwrap(), None);
        assert!(parse_command("VACUUM t RETAIN x").is_err());
    }

    #[test]
    fn using_delta_is_dropped_from_create_table() {
        assert_eq!(
            rewrite("CREATE TABLE t (a int) USING DELTA PARTITIONED BY (a)").unwrap(),
            "CREATE TABLE t (a int) PARTITIONED BY (a)"
        );
        assert_eq!(
            rewrite("SELECT 'using delta'").unwrap(),
            "SELECT 'using delta'"
        );
    }
}
