//! Splitting a query string into statements and telling session commands
//! (SET, SHOW, BEGIN, ...) from statements DataFusion plans.

use std::borrow::Cow;

use datafusion::sql::parser::{DFParserBuilder, ResetStatement, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{
    self, DiscardObject, Expr, ObjectNamePart, Set, Statement as SqlStatement, UnaryOperator, Value,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::ParserError;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use strata_connectors::postgres::source::{PasswordRef, PgSource};
use strata_connectors::session::DEFAULT_CATALOG;

use crate::error::{Result, StrataError};

/// One statement of a query string.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The statement as SQL, for logs and error context.
    pub sql: String,
    pub command: Command,
    /// PostgreSQL's names for result columns the query leaves unnamed
    /// (`count(*)` is `count`, `1` is `?column?`); `None` keeps the name.
    pub column_names: Option<Vec<Option<String>>>,
}

/// What a statement asks for.
#[derive(Debug, Clone)]
pub enum Command {
    /// `SET name = value`; `None` is `DEFAULT`.
    Set {
        name: String,
        value: Option<String>,
    },
    /// `SET TRANSACTION ...` and `SET SESSION CHARACTERISTICS ...`.
    SetTransaction,
    Show(String),
    ShowAll,
    Reset(String),
    ResetAll,
    Begin,
    Commit,
    Rollback,
    DiscardAll,
    /// `DEALLOCATE name`; `None` is `DEALLOCATE ALL`.
    Deallocate(Option<String>),
    /// `LISTEN channel` and `UNLISTEN channel | *`: accepted, as pools
    /// reset sessions with them; Strata sends no notifications.
    Listen,
    Unlisten,
    /// `CLOSE name`; `None` is `CLOSE ALL`.
    CloseCursor(Option<String>),
    /// `DECLARE name [NO SCROLL] CURSOR [WITH[OUT] HOLD] FOR query`.
    DeclareCursor {
        name: String,
        query: Box<DFStatement>,
        hold: bool,
    },
    /// `FETCH [NEXT | FORWARD] [n | ALL] [FROM | IN] name`; a `None`
    /// count is ALL.
    Fetch {
        name: String,
        count: Option<usize>,
    },
    /// `ATTACH 'postgres://...' AS name (TYPE postgres, PASSWORD_ENV '...')`.
    Attach {
        source: PgSource,
        if_not_exists: bool,
    },
    /// `DETACH name`.
    Detach {
        name: String,
        if_exists: bool,
    },
    /// `ALTER TABLE name SET (option = value, ...)` (or Spark's `SET
    /// TBLPROPERTIES`): read options of a source's table; a `None` value
    /// (`NULL` or `DEFAULT`) clears the option.
    SetTableOptions {
        table: String,
        options: Vec<(String, Option<String>)>,
    },
    /// `COPY table [(columns)] FROM STDIN`: rows the client sends next.
    CopyIn {
        table: String,
        columns: Vec<String>,
        options: CopyOutOptions,
    },
    /// `COPY (query) TO STDOUT` and `COPY table [(columns)] TO STDOUT`.
    CopyOut {
        query: Box<DFStatement>,
        options: CopyOutOptions,
    },
    /// `DESCRIBE HISTORY`, `OPTIMIZE`, `VACUUM` on a lake table.
    Lake(super::lake_syntax::LakeCommand),
    /// `CREATE`, `ALTER` and `DROP ROLE`.
    Role(super::role_commands::RoleCommand),
    /// `GRANT` and `REVOKE`.
    Grant(super::grant_commands::GrantCommand),
    /// A statement for DataFusion.
    Sql(Box<DFStatement>),
}

/// The format of `COPY ... TO STDOUT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyFormat {
    Text,
    Csv,
    Binary,
}

/// How `COPY ... TO STDOUT` writes rows, with PostgreSQL's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOutOptions {
    pub format: CopyFormat,
    pub header: bool,
    pub delimiter: char,
    pub null: String,
    pub quote: char,
    pub escape: char,
}

impl CopyOutOptions {
    /// The options of a COPY statement (the parenthesized list and the
    /// older bare words psql's `\copy` sends).
    fn of(options: &[ast::CopyOption], legacy: &[ast::CopyLegacyOption]) -> Result<Self> {
        let mut format = CopyFormat::Text;
        let (mut header, mut delimiter, mut null, mut quote, mut escape) =
            (false, None, None, None, None);
        let not_supported = |what: String| Err(StrataError::NotSupported(format!("COPY {what}")));
        for option in options {
            match option {
                ast::CopyOption::Format(name) => {
                    format = match name.value.to_ascii_lowercase().as_str() {
                        "text" => CopyFormat::Text,
                        "csv" => CopyFormat::Csv,
                        "binary" => CopyFormat::Binary,
                        other => {
                            return Err(StrataError::InvalidParameterValue(format!(
                                "COPY format \"{other}\" not recognized"
                            )));
                        }
                    }
                }
                ast::CopyOption::Header(on) => header = *on,
                ast::CopyOption::Delimiter(c) => delimiter = Some(*c),
                ast::CopyOption::Null(text) => null = Some(text.clone()),
                ast::CopyOption::Quote(c) => quote = Some(*c),
                ast::CopyOption::Escape(c) => escape = Some(*c),
                ast::CopyOption::Encoding(e) if e.eq_ignore_ascii_case("utf8") => {}
                ast::CopyOption::Encoding(e) if e.eq_ignore_ascii_case("utf-8") => {}
                other => return not_supported(format!("with {other}")),
            }
        }
        for option in legacy {
            match option {
                ast::CopyLegacyOption::Binary => format = CopyFormat::Binary,
                ast::CopyLegacyOption::Delimiter(c) => delimiter = Some(*c),
                ast::CopyLegacyOption::Null(text) => null = Some(text.clone()),
                ast::CopyLegacyOption::Header => header = true,
                ast::CopyLegacyOption::Csv(csv) => {
                    format = CopyFormat::Csv;
                    for option in csv {
                        match option {
                            ast::CopyLegacyCsvOption::Header => header = true,
                            ast::CopyLegacyCsvOption::Quote(c) => quote = Some(*c),
                            ast::CopyLegacyCsvOption::Escape(c) => escape = Some(*c),
                            other => return not_supported(format!("with {other}")),
                        }
                    }
                }
                other => return not_supported(format!("with {other}")),
            }
        }
        let csv = format == CopyFormat::Csv;
        if format == CopyFormat::Binary && (delimiter.is_some() || null.is_some() || header) {
            return Err(StrataError::Syntax(ParserError::ParserError(
                "cannot specify DELIMITER, NULL or HEADER in BINARY mode".to_owned(),
            )));
        }
        if !csv && (quote.is_some() || escape.is_some()) {
            return Err(StrataError::Syntax(ParserError::ParserError(
                "COPY QUOTE and ESCAPE are available only in CSV mode".to_owned(),
            )));
        }
        let quote = quote.unwrap_or('"');
        Ok(Self {
            format,
            header,
            delimiter: delimiter.unwrap_or(if csv { ',' } else { '\t' }),
            null: null.unwrap_or_else(|| if csv { String::new() } else { "\\N".to_owned() }),
            quote,
            escape: escape.unwrap_or(quote),
        })
    }
}

impl Command {
    /// True for the commands a failed transaction block still accepts.
    pub fn ends_transaction(&self) -> bool {
        matches!(self, Command::Commit | Command::Rollback)
    }
}

/// Client queries DataFusion cannot plan as written, answered by an
/// equivalent: whole queries recognised by their opening (asyncpg's type
/// introspection), and fragments replaced where they stand (pgjdbc's type
/// queries, psql's `\d+` and `\du`). Other queries pass untouched, at the cost of a prefix check and
/// a substring search.
fn known_client_query(sql: &str) -> Cow<'_, str> {
    // asyncpg's type introspection (correlated scalar subqueries in CASE).
    const ASYNCPG_TYPES: &str = "WITH RECURSIVE typeinfo_tree( oid, ns, name, kind, basetype, \
        elemtype, elemdelim, range_subtype, attrtypoids, attrnames, depth)";
    // pgjdbc's type queries (getTypeInfo, its type cache): a correlated
    // scalar subquery, and a regproc comparison with pg_type's `typinput`,
    // which the catalog holds as the function's name. psql's `\d+` (a
    // table's storage options with its TOAST table's, which Strata's tables
    // have neither of) and `\du` (role memberships, as an aggregate, which
    // DataFusion decorrelates): correlated array subqueries.
    const CLIENT_FRAGMENTS: [(&str, &str); 9] = [
        (
            "(SELECT c.relkind = 'c' FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid)",
            "(t.typrelid IN (SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relkind = 'c'))",
        ),
        (
            "typinput='pg_catalog.array_in'::regproc",
            "typinput='array_in'",
        ),
        (
            "pg_catalog.array_to_string(c.reloptions || array(select 'toast.' || x \
             from pg_catalog.unnest(tc.reloptions) x), ', ')",
            "''",
        ),
        (
            "ARRAY(SELECT b.rolname\n        FROM pg_catalog.pg_auth_members m\n        \
             JOIN pg_catalog.pg_roles b ON (m.roleid = b.oid)\n        \
             WHERE m.member = r.oid) as memberof",
            "coalesce((SELECT array_agg(b.rolname ORDER BY b.rolname) \
             FROM pg_catalog.pg_auth_members m \
             JOIN pg_catalog.pg_roles b ON (m.roleid = b.oid) \
             WHERE m.member = r.oid), CAST(make_array() AS text[])) as memberof",
        ),
        // psql's `\d` of a table with triggers (a source table in a foreign
        // key): an inherited trigger's parent table, from a lateral
        // pg_partition_ancestors. Strata lists no triggers.
        (
            "CASE WHEN t.tgparentid != 0 THEN\n    \
             (SELECT u.tgrelid::pg_catalog.regclass\n     \
             FROM pg_catalog.pg_trigger AS u,\n          \
             pg_catalog.pg_partition_ancestors(t.tgrelid) WITH ORDINALITY AS a(relid, depth)\n     \
             WHERE u.tgname = t.tgname AND u.tgrelid = a.relid\n           \
             AND u.tgparentid = 0\n     \
             ORDER BY a.depth LIMIT 1)\n  \
             END AS parent",
            "CAST(NULL AS TEXT) AS parent",
        ),
        // psql's `\dp`: a policy's roles against an array literal in text.
        ("polroles <> '{0}'", "polroles <> make_array(0)"),
        // ... and the names of a policy's roles, a subquery nested in a
        // correlated one (Strata has no row security policies).
        (
            "ARRAY(\n                   SELECT rolname\n                   \
             FROM pg_catalog.pg_roles\n                   \
             WHERE oid = ANY (polroles)\n                   ORDER BY 1\n               )",
            "CAST(NULL AS TEXT[])",
        ),
        // psql's `\dP+`: partition sizes from pg_partition_tree in a lateral
        // subquery. A partitioned lake table is one relation holding all its
        // partitions, so its size is the total and the leaves' sum.
        (
            ",\n     LATERAL (SELECT pg_catalog.pg_size_pretty(sum(\n                 \
             CASE WHEN ppt.isleaf AND ppt.level = 1\n                      \
             THEN pg_catalog.pg_table_size(ppt.relid) ELSE 0 END)) AS dps,\n                     \
             pg_catalog.pg_size_pretty(sum(pg_catalog.pg_table_size(ppt.relid))) AS tps\n              \
             FROM pg_catalog.pg_partition_tree(c.oid) ppt) s",
            "",
        ),
        (
            "s.tps as \"Total size\"",
            "pg_catalog.pg_size_pretty(pg_catalog.pg_table_size(c.oid)) as \"Total size\"",
        ),
    ];
    let opening = sql.trim_start().get(..4).unwrap_or_default();
    if opening.eq_ignore_ascii_case("with") {
        let normalized: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
        if normalized.starts_with(ASYNCPG_TYPES) {
            return Cow::Borrowed(include_str!("client_queries/asyncpg_types.sql"));
        }
    }
    if sql.contains("pg_catalog.") && CLIENT_FRAGMENTS.iter().any(|(from, _)| sql.contains(from)) {
        return Cow::Owned(
            CLIENT_FRAGMENTS
                .iter()
                .fold(sql.to_owned(), |sql, (from, to)| sql.replace(from, to)),
        );
    }
    Cow::Borrowed(sql)
}

/// Parses a query string into its statements.
pub fn parse(sql: &str, pg: &PostgresCompatibilityParser) -> Result<Vec<Parsed>> {
    if let Some(parsed) = parse_copy(sql)? {
        return Ok(vec![parsed]);
    }
    if let Some(command) = super::lake_syntax::parse_command(sql)? {
        return Ok(vec![Parsed {
            sql: sql.trim().to_owned(),
            command: Command::Lake(command),
            column_names: None,
        }]);
    }
    if let Some(parsed) = role_statements(sql, pg)? {
        return Ok(parsed);
    }
    if let Some(command) = parse_attach(sql)? {
        return Ok(vec![Parsed {
            sql: sql.trim().to_owned(),
            command,
            column_names: None,
        }]);
    }
    let sql = known_client_query(sql);
    let sql = super::lake_syntax::rewrite(sql.as_ref())?;
    let sql = sql.as_ref();
    // Catalog queries go through the compatibility parser first: it replaces
    // a few client queries DataFusion cannot plan (psql's policy and
    // publication lookups) with equivalents, then applies its rewrites.
    let lower = sql.to_ascii_lowercase();
    let catalog_query = PG_MARKERS.iter().any(|m| lower.contains(m));
    // Strata's rewrites that the compatibility parser's would undo go
    // first: it takes every `'name'::regclass` for a table of `public` and
    // replaces a correlated lookup among the output columns by NULL.
    // Only a query with a `::regclass` or a subquery can need it.
    let may_need = lower.contains("regclass")
        || lower.contains("current_user")
        || lower.contains("current_role")
        || lower.matches("select").nth(1).is_some();
    let protected = (catalog_query && may_need)
        .then(|| protect_catalog_query(sql))
        .flatten();
    let sql = protected.as_deref().unwrap_or(sql);
    let (statements, rewritten) = match catalog_query.then(|| pg.parse(sql)) {
        Some(Ok(statements)) => (
            statements
                .into_iter()
                .map(|s| DFStatement::Statement(Box::new(s)))
                .collect(),
            true,
        ),
        _ => {
            let dialect = PostgreSqlDialect {};
            let mut parser = DFParserBuilder::new(sql).with_dialect(&dialect).build()?;
            (Vec::from(parser.parse_statements()?), false)
        }
    };
    statements
        .into_iter()
        .map(|statement| {
            let sql = super::redact::redact_secrets(&statement.to_string()).into_owned();
            let command = classify(statement, (!rewritten).then_some(pg))?;
            let (command, column_names) = match command {
                Command::Sql(mut statement) => {
                    let names = name_select_list(&mut statement);
                    (Command::Sql(statement), names)
                }
                Command::DeclareCursor {
                    name,
                    mut query,
                    hold,
                } => {
                    let names = name_select_list(&mut query);
                    (Command::DeclareCursor { name, query, hold }, names)
                }
                other => (other, None),
            };
            Ok(Parsed {
                sql,
                command,
                column_names,
            })
        })
        .collect()
}

/// A query string holding a role statement or GRANT/REVOKE: its
/// statements one by one, those parsed here, the others as any others.
fn role_statements(sql: &str, pg: &PostgresCompatibilityParser) -> Result<Option<Vec<Parsed>>> {
    // The statements' first words decide; every query string passes here,
    // so the check allocates nothing until one is found.
    let mut pieces = Vec::new();
    let mut found = false;
    let mut rest = sql;
    while !rest.trim().is_empty() {
        let (first, after) = split_first_statement(rest);
        found |= role_command(first).is_some();
        pieces.push(first);
        rest = after;
    }
    if !found {
        return Ok(None);
    }
    let mut parsed = Vec::new();
    for piece in pieces {
        let command = match role_command(piece) {
            Some(RoleKind::Role) => super::role_commands::parse(piece)?.map(Command::Role),
            Some(RoleKind::Grant) => super::grant_commands::parse(piece)?.map(Command::Grant),
            None => None,
        };
        match command {
            Some(command) => parsed.push(Parsed {
                sql: super::redact::redact_secrets(piece.trim()).into_owned(),
                command,
                column_names: None,
            }),
            None => parsed.extend(parse(piece, pg)?),
        }
    }
    Ok(Some(parsed))
}

enum RoleKind {
    Role,
    Grant,
}

/// What kind of role statement `sql` opens with, if any.
fn role_command(sql: &str) -> Option<RoleKind> {
    let mut words = sql.split_whitespace();
    let is = |word: Option<&str>, choices: &[&str]| {
        word.is_some_and(|w| choices.iter().any(|c| w.eq_ignore_ascii_case(c)))
    };
    let first = words.next();
    if is(first, &["GRANT", "REVOKE"]) {
        return Some(RoleKind::Grant);
    }
    (is(first, &["CREATE", "ALTER", "DROP"]) && is(words.next(), &["ROLE", "USER", "GROUP"]))
        .then_some(RoleKind::Role)
}

/// `sql` cut after its first `;` outside quotes and comments.
fn split_first_statement(sql: &str) -> (&str, &str) {
    let bytes = sql.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'\'' | b'"') => {
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == quote {
                        if bytes.get(i + 1) == Some(&quote) {
                            i += 1;
                        } else {
                            break;
                        }
                    }
                    i += 1;
                }
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b';' => return (&sql[..=i], &sql[i + 1..]),
            _ => {}
        }
        i += 1;
    }
    (sql, "")
}

/// `ATTACH` and `DETACH` (DuckDB's syntax, with Strata's options), which
/// neither DataFusion nor the PostgreSQL dialect parse:
///
/// ```sql
/// ATTACH [DATABASE] [IF NOT EXISTS] 'postgres://user@host:port/db' AS name
///     [(TYPE postgres, PASSWORD_ENV 'VAR' | PASSWORD_FILE '/path',
///       SESSION_INIT 'SET ...')]
/// DETACH [DATABASE] [IF EXISTS] name
/// ```
fn parse_attach(sql: &str) -> Result<Option<Command>> {
    // Every query passes here: only these two words are worth tokenizing.
    let first = sql.trim_start().get(..6).unwrap_or_default();
    if !first.eq_ignore_ascii_case("attach") && !first.eq_ignore_ascii_case("detach") {
        return Ok(None);
    }
    let dialect = PostgreSqlDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize()
        .map_err(|e| StrataError::Syntax(e.into()))?;
    let mut words = tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_) | Token::SemiColon))
        .peekable();
    let syntax = |message: &str| StrataError::Syntax(ParserError::ParserError(message.to_owned()));
    let keyword = |token: Option<&Token>, word: &str| matches!(token, Some(Token::Word(w)) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word));
    let attach = keyword(words.peek(), "attach");
    if !attach && !keyword(words.peek(), "detach") {
        return Ok(None);
    }
    words.next();
    if keyword(words.peek(), "database") {
        words.next();
    }
    let mut optional = false;
    if keyword(words.peek(), "if") {
        words.next();
        let expected = if attach {
            ["not", "exists"].as_slice()
        } else {
            ["exists"].as_slice()
        };
        for word in expected {
            if !keyword(words.next().as_ref(), word) {
                return Err(syntax(if attach {
                    "expected IF NOT EXISTS"
                } else {
                    "expected IF EXISTS"
                }));
            }
        }
        optional = true;
    }
    let name = |token: Option<Token>| match token {
        Some(Token::Word(w)) if w.quote_style.is_some() => Some(w.value),
        Some(Token::Word(w)) => Some(w.value.to_ascii_lowercase()),
        _ => None,
    };
    if !attach {
        let source = name(words.next()).ok_or_else(|| syntax("DETACH needs a source name"))?;
        if words.next().is_some() {
            return Err(syntax("unexpected text after DETACH name"));
        }
        return Ok(Some(Command::Detach {
            name: source,
            if_exists: optional,
        }));
    }
    let Some(Token::SingleQuotedString(url)) = words.next() else {
        return Err(syntax("ATTACH needs the connection URL as a string"));
    };
    if !keyword(words.next().as_ref(), "as") {
        return Err(syntax("expected AS name after the URL"));
    }
    let source_name = name(words.next()).ok_or_else(|| syntax("ATTACH needs a name after AS"))?;
    let mut password = PasswordRef::None;
    let mut session_init = None;
    if words.peek() == Some(&Token::LParen) {
        words.next();
        loop {
            let option = name(words.next()).ok_or_else(|| syntax("expected an ATTACH option"))?;
            let value = match words.next() {
                Some(Token::SingleQuotedString(v)) => v,
                Some(Token::Word(w)) => w.value,
                _ => return Err(syntax("expected a value for the ATTACH option")),
            };
            match option.as_str() {
                "type"
                    if value.eq_ignore_ascii_case("postgres")
                        || value.eq_ignore_ascii_case("postgresql") => {}
                "type" => {
                    return Err(StrataError::NotSupported(format!(
                        "sources of type {value} (the types are: postgres)"
                    )));
                }
                "password_env" => password = PasswordRef::Env(value),
                "password_file" => password = PasswordRef::File(value.into()),
                "session_init" => session_init = Some(value),
                other => return Err(syntax(&format!("unknown ATTACH option {other}"))),
            }
            match words.next() {
                Some(Token::Comma) => continue,
                Some(Token::RParen) => break,
                _ => return Err(syntax("expected , or ) in the ATTACH options")),
            }
        }
    }
    if words.next().is_some() {
        return Err(syntax("unexpected text after ATTACH"));
    }
    if source_name == DEFAULT_CATALOG {
        return Err(StrataError::InvalidParameterValue(format!(
            "the name \"{source_name}\" is taken by the lake"
        )));
    }
    let source = PgSource::new(&source_name, &url, password)
        .map_err(|e| StrataError::InvalidParameterValue(e.to_string()))?
        .with_session_init(session_init);
    Ok(Some(Command::Attach {
        source,
        if_not_exists: optional,
    }))
}

/// `pg` rewrites catalog statements; `None` when that already happened.
fn classify(statement: DFStatement, pg: Option<&PostgresCompatibilityParser>) -> Result<Command> {
    let sql = match statement {
        DFStatement::Statement(sql) => *sql,
        DFStatement::Reset(ResetStatement::Variable(name)) => {
            let name = object_name(&name);
            return Ok(if name.eq_ignore_ascii_case("all") {
                Command::ResetAll
            } else {
                Command::Reset(name)
            });
        }
        other => return Ok(Command::Sql(Box::new(other))),
    };
    if let Some(command) = super::lake_syntax::LakeCommand::of(&sql)? {
        return Ok(Command::Lake(command));
    }
    Ok(match sql {
        SqlStatement::Set(set) => match set {
            Set::SingleAssignment {
                variable, values, ..
            } => Command::Set {
                name: object_name(&variable),
                value: set_value(&values),
            },
            Set::SetTimeZone { value, .. } => Command::Set {
                name: "TimeZone".to_owned(),
                value: set_value(std::slice::from_ref(&value)),
            },
            Set::SetNames { charset_name, .. } => Command::Set {
                name: "client_encoding".to_owned(),
                value: Some(charset_name.value),
            },
            Set::SetTransaction { .. } => Command::SetTransaction,
            other => {
                return Err(StrataError::NotSupported(format!("{other}")));
            }
        },
        SqlStatement::ShowVariable { variable } => {
            let name = variable
                .iter()
                .map(|i| i.value.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            match name.to_ascii_lowercase().as_str() {
                "all" => Command::ShowAll,
                "time zone" => Command::Show("TimeZone".to_owned()),
                "transaction isolation level" => Command::Show("transaction_isolation".to_owned()),
                _ => Command::Show(
                    variable
                        .iter()
                        .map(|i| i.value.as_str())
                        .collect::<Vec<_>>()
                        .join("."),
                ),
            }
        }
        SqlStatement::StartTransaction { .. } => Command::Begin,
        SqlStatement::Commit { .. } => Command::Commit,
        SqlStatement::Rollback {
            savepoint: None, ..
        } => Command::Rollback,
        SqlStatement::Rollback {
            savepoint: Some(_), ..
        } => return Err(StrataError::NotSupported("savepoints".to_owned())),
        SqlStatement::Savepoint { .. } | SqlStatement::ReleaseSavepoint { .. } => {
            return Err(StrataError::NotSupported("savepoints".to_owned()));
        }
        SqlStatement::Discard { object_type } => match object_type {
            DiscardObject::ALL => Command::DiscardAll,
            other => return Err(StrataError::NotSupported(format!("DISCARD {other}"))),
        },
        SqlStatement::Deallocate { name, .. } => {
            if name.value.eq_ignore_ascii_case("all") && name.quote_style.is_none() {
                Command::Deallocate(None)
            } else {
                Command::Deallocate(Some(name.value))
            }
        }
        SqlStatement::AlterTable(alter)
            if matches!(
                alter.operations.as_slice(),
                [ast::AlterTableOperation::SetOptionsParens { .. }
                    | ast::AlterTableOperation::SetTblProperties { .. }]
            ) =>
        {
            let (ast::AlterTableOperation::SetOptionsParens { options }
            | ast::AlterTableOperation::SetTblProperties {
                table_properties: options,
            }) = &alter.operations[0]
            else {
                unreachable!("matched above");
            };
            Command::SetTableOptions {
                table: alter.name.to_string(),
                options: options.iter().map(table_option).collect::<Result<_>>()?,
            }
        }
        SqlStatement::LISTEN { .. } => Command::Listen,
        SqlStatement::UNLISTEN { .. } => Command::Unlisten,
        SqlStatement::NOTIFY { .. } => {
            return Err(StrataError::NotSupported(
                "NOTIFY (Strata delivers no notifications)".to_owned(),
            ));
        }
        SqlStatement::Declare { stmts } => declare_cursor(stmts)?,
        SqlStatement::Fetch {
            name,
            direction,
            into: None,
            ..
        } => {
            let count = |limit: &ast::ValueWithSpan| match &limit.value {
                Value::Number(n, _) => n
                    .parse::<usize>()
                    .map_err(|_| StrataError::InvalidParameterValue(format!("FETCH count {n}"))),
                other => Err(StrataError::InvalidParameterValue(format!(
                    "FETCH count {other}"
                ))),
            };
            let count = match direction {
                ast::FetchDirection::Next | ast::FetchDirection::Forward { limit: None } => Some(1),
                ast::FetchDirection::Count { limit }
                | ast::FetchDirection::Forward { limit: Some(limit) } => Some(count(&limit)?),
                ast::FetchDirection::All | ast::FetchDirection::ForwardAll => None,
                other => {
                    return Err(StrataError::NotSupported(format!(
                        "FETCH {other} (Strata's cursors move forward only)"
                    )));
                }
            };
            Command::Fetch {
                name: name.value,
                count,
            }
        }
        SqlStatement::Close { cursor } => Command::CloseCursor(match cursor {
            ast::CloseCursor::All => None,
            ast::CloseCursor::Specific { name } => Some(name.value),
        }),
        SqlStatement::Reset(reset) => match reset.reset {
            ast::Reset::ALL => Command::ResetAll,
            ast::Reset::ConfigurationParameter(name) => Command::Reset(object_name(&name)),
        },
        mut other => {
            // Before datafusion-pg-catalog's rewrites, which take every
            // `::regclass` for an oid already and name `current_user`
            // `session_user`.
            rewrite_regclass(&mut other);
            rewrite_current_role(&mut other);
            let other = match pg {
                Some(pg) if needs_pg_rewrites(&other) => pg.rewrite(other),
                _ => other,
            };
            let mut other = other;
            rewrite_for_datafusion(&mut other);
            Command::Sql(Box::new(DFStatement::Statement(Box::new(other))))
        }
    })
}

/// `COPY ... TO STDOUT` and `COPY ... FROM STDIN`, which DataFusion's parser (its COPY writes
/// files) does not take: parsed with the PostgreSQL dialect.
fn parse_copy(sql: &str) -> Result<Option<Parsed>> {
    let start = sql.trim_start();
    let lower = sql.to_ascii_lowercase();
    if !start
        .get(..4)
        .is_some_and(|w| w.eq_ignore_ascii_case("copy"))
        || !(lower.contains("stdout") || lower.contains("stdin"))
    {
        return Ok(None);
    }
    // Not a PostgreSQL COPY (DataFusion's COPY ... STORED AS, say): left
    // to DataFusion's parser, which also reports the errors.
    let Ok(statements) =
        datafusion::sql::sqlparser::parser::Parser::parse_sql(&PostgreSqlDialect {}, sql)
    else {
        return Ok(None);
    };
    if let [
        SqlStatement::Copy {
            source:
                ast::CopySource::Table {
                    table_name,
                    columns,
                },
            to: false,
            target: ast::CopyTarget::Stdin,
            options,
            legacy_options,
            ..
        },
    ] = statements.as_slice()
    {
        return Ok(Some(Parsed {
            sql: sql.trim().to_owned(),
            command: Command::CopyIn {
                table: table_name.to_string(),
                columns: columns.iter().map(|c| c.value.clone()).collect(),
                options: CopyOutOptions::of(options, legacy_options)?,
            },
            column_names: None,
        }));
    }
    let [
        SqlStatement::Copy {
            source,
            to: true,
            target: ast::CopyTarget::Stdout,
            options,
            legacy_options,
            ..
        },
    ] = statements.as_slice()
    else {
        return Ok(None);
    };
    let query = match source {
        ast::CopySource::Query(query) => query.clone(),
        ast::CopySource::Table {
            table_name,
            columns,
        } => {
            let list = if columns.is_empty() {
                "*".to_owned()
            } else {
                columns
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let select = format!("SELECT {list} FROM {table_name}");
            match datafusion::sql::sqlparser::parser::Parser::parse_sql(
                &PostgreSqlDialect {},
                &select,
            )
            .map_err(StrataError::Syntax)?
            .pop()
            {
                Some(SqlStatement::Query(query)) => query,
                _ => return Err(StrataError::Internal(format!("cannot read {select}"))),
            }
        }
    };
    let options = CopyOutOptions::of(options, legacy_options)?;
    let mut query = Box::new(DFStatement::Statement(Box::new(SqlStatement::Query(query))));
    let column_names = name_select_list(&mut query);
    Ok(Some(Parsed {
        sql: sql.trim().to_owned(),
        command: Command::CopyOut { query, options },
        column_names,
    }))
}

/// `DECLARE name CURSOR ... FOR query` as a command.
fn declare_cursor(stmts: Vec<ast::Declare>) -> Result<Command> {
    let not_supported = |what: &str| Err(StrataError::NotSupported(what.to_owned()));
    let [declare] = stmts.as_slice() else {
        return not_supported("DECLARE of several cursors at once");
    };
    let (Some(ast::DeclareType::Cursor), Some(query), [name]) = (
        &declare.declare_type,
        &declare.for_query,
        declare.names.as_slice(),
    ) else {
        return not_supported("DECLARE other than DECLARE name CURSOR FOR query");
    };
    if declare.scroll == Some(true) {
        return not_supported("SCROLL cursors (Strata's cursors move forward only)");
    }
    if declare.binary == Some(true) {
        return not_supported("BINARY cursors");
    }
    Ok(Command::DeclareCursor {
        name: name.value.clone(),
        query: Box::new(DFStatement::Statement(Box::new(SqlStatement::Query(
            query.clone(),
        )))),
        hold: declare.hold == Some(true),
    })
}

/// A table option as a name and a value (`None`: `NULL` or `DEFAULT`).
/// Spark's camel-case names (`'numPartitions'`) are accepted too.
fn table_option(option: &ast::SqlOption) -> Result<(String, Option<String>)> {
    let ast::SqlOption::KeyValue { key, value } = option else {
        return Err(StrataError::Syntax(ParserError::ParserError(format!(
            "expected name = value, not {option}"
        ))));
    };
    let name = match key.value.to_ascii_lowercase().as_str() {
        "partitioncolumn" => "partition_column".to_owned(),
        "lowerbound" => "lower_bound".to_owned(),
        "upperbound" => "upper_bound".to_owned(),
        "numpartitions" => "num_partitions".to_owned(),
        other => other.to_owned(),
    };
    let value = match value {
        Expr::Value(v) => match &v.value {
            Value::Null => None,
            Value::SingleQuotedString(s) | Value::Number(s, _) => Some(s.clone()),
            other => Some(other.to_string()),
        },
        Expr::Identifier(ident)
            if ident.quote_style.is_none() && ident.value.eq_ignore_ascii_case("default") =>
        {
            None
        }
        Expr::Identifier(ident) => Some(ident.value.clone()),
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match expr.as_ref() {
            Expr::Value(v) => match &v.value {
                Value::Number(n, _) => Some(format!("-{n}")),
                _ => None,
            },
            _ => None,
        }
        .map(Some)
        .ok_or_else(|| {
            StrataError::InvalidParameterValue(format!("{name}: expected a value, not {value}"))
        })?,
        other => {
            return Err(StrataError::InvalidParameterValue(format!(
                "{name}: expected a value, not {other}"
            )));
        }
    };
    Ok((name, value))
}

/// PostgreSQL forms DataFusion reads differently or not at all, rewritten
/// in one pass over the expressions and one over the relations:
/// - `'\x00ff'::bytea` is hex in PostgreSQL, where DataFusion would cast the
///   text's own bytes: such literal casts become hex literals;
/// - `'…'::uuid` and `uuid '…'` become a cast of the UUID's bytes, which
///   Arrow casts where it cannot cast text (psycopg2 sends UUIDs so);
/// - `information_schema._pg_expandarray(array)` (pgjdbc's key metadata)
///   becomes `unnest(_pg_expandarray(array))`;
/// - `alias.tableoid` of a pg_catalog table becomes that table's oid (psql's
///   `\dd` and `\dL` join pg_description on it);
/// - `ARRAY(SELECT x FROM ... ORDER BY ...)` becomes the scalar subquery
///   `(SELECT array_agg(x ORDER BY ...) FROM ...)` (psql's `\dp`, `\dD`);
/// - `column::regproc` becomes the function's name from pg_proc, as
///   PostgreSQL prints a regproc (psql's `\dFt+`);
/// - `(SELECT col FROM pg_x WHERE ...)`, a catalog lookup by key that
///   DataFusion will not plan unaggregated when correlated, becomes
///   `(SELECT min(col) ...)`: one row or none, the same answer (Npgsql's
///   type loading);
/// - `ORDER BY name`, where `name` is an output column `t.name`, orders by
///   that column, as PostgreSQL resolves it before the input columns
///   (Npgsql's enum query, where `oid` is in two joined tables);
/// - `(composite).field` becomes `(composite)['field']`, the form
///   DataFusion reads;
/// - `generate_subscripts(array, dim)` (SQLAlchemy's key reflection pairs it
///   with `unnest(array)`) becomes `unnest(generate_series(1,
///   array_length(array, dim)))`, which DataFusion unnests beside the other;
/// - pg_catalog relations Strata adds to datafusion-pg-catalog's
///   (`pg_stat_activity`), which its rewrites do not know to qualify, are
///   found without `pg_catalog.` as in PostgreSQL.
fn rewrite_for_datafusion(statement: &mut SqlStatement) {
    use std::ops::ControlFlow;
    rewrite_tableoid(statement);
    rewrite_order_by_output(statement);
    rewrite_projected_exists(statement);
    let _ = ast::visit_expressions_mut(statement, |expr| {
        rewrite_bytea_literal(expr);
        rewrite_uuid_literal(expr);
        rewrite_pg_expandarray(expr);
        rewrite_array_subquery(expr);
        rewrite_generate_subscripts(expr);
        rewrite_field_selection(expr);
        rewrite_regproc_cast(expr);
        rewrite_catalog_lookup(expr);
        ControlFlow::<()>::Continue(())
    });
    let _ = ast::visit_relations_mut(statement, |name| {
        if let [ObjectNamePart::Identifier(ident)] = name.0.as_slice()
            && super::lake_pg_catalog::strata_catalog_table(&ident.value)
        {
            name.0
                .insert(0, ObjectNamePart::Identifier(ast::Ident::new("pg_catalog")));
        }
        ControlFlow::<()>::Continue(())
    });
}

/// `x.tableoid`, where `x` names or aliases a pg_catalog table, becomes the
/// table's oid, and `x.xmin` the transaction that wrote every catalog row
/// (1, PostgreSQL's bootstrap transaction; DataGrip reads it as a state
/// number): DataFusion's tables have no system columns.
fn rewrite_tableoid(statement: &mut SqlStatement) {
    use std::collections::HashMap;
    use std::ops::ControlFlow;

    struct CatalogTables(HashMap<String, Option<i64>>);
    impl ast::Visitor for CatalogTables {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &ast::TableFactor) -> ControlFlow<()> {
            if let ast::TableFactor::Table { name, alias, .. } = factor
                && let Some(ObjectNamePart::Identifier(table)) = name.0.last()
                && table.value.to_ascii_lowercase().starts_with("pg_")
            {
                let key = alias.as_ref().map_or(&table.value, |a| &a.name.value);
                self.0.insert(
                    key.to_ascii_lowercase(),
                    super::pg_relations::catalog_table_oid(&table.value),
                );
            }
            ControlFlow::Continue(())
        }
    }
    // Statements that read no catalog table (almost all) end here, after
    // one walk and without formatting the statement.
    let mut tables = CatalogTables(HashMap::new());
    let _ = ast::Visit::visit(statement, &mut tables);
    if tables.0.is_empty() {
        return;
    }
    let _ = ast::visit_expressions_mut(statement, |expr| {
        if let Expr::CompoundIdentifier(parts) = expr
            && let [table, column] = parts.as_slice()
            && let Some(oid) = tables.0.get(&table.value.to_ascii_lowercase())
        {
            let value = match column.value.to_ascii_lowercase().as_str() {
                "tableoid" => *oid,
                "xmin" => Some(1),
                _ => None,
            };
            if let Some(value) = value {
                *expr = Expr::Value(Value::Number(value.to_string(), false).into());
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

fn rewrite_array_subquery(expr: &mut Expr) {
    let Expr::Function(function) = expr else {
        return;
    };
    let named = matches!(function.name.0.as_slice(),
        [ObjectNamePart::Identifier(ident)] if ident.value.eq_ignore_ascii_case("array"));
    let ast::FunctionArguments::Subquery(query) = &function.args else {
        return;
    };
    if !named {
        return;
    }
    let mut query = query.clone();
    let order_by = query.order_by.take();
    let ast::SetExpr::Select(select) = query.body.as_mut() else {
        return;
    };
    let element = match select.projection.as_slice() {
        [ast::SelectItem::UnnamedExpr(e) | ast::SelectItem::ExprWithAlias { expr: e, .. }] => {
            e.clone()
        }
        _ => return,
    };
    // Options of foreign servers, wrappers, tables and user mappings, which
    // Strata does not have (psql's `\des+`, `\det+`, `\dew+`, `\deu+`).
    if reads_table_function(select, "pg_options_to_table") {
        *expr = Expr::Cast {
            kind: ast::CastKind::Cast,
            expr: Box::new(Expr::Value(Value::Null.into())),
            data_type: ast::DataType::Array(ast::ArrayElemTypeDef::SquareBracket(
                Box::new(ast::DataType::Text),
                None,
            )),
            array: false,
            format: None,
        };
        return;
    }
    // `ARRAY(SELECT x FROM unnest(a) AS t(x))` is `a` (psql's `\dy`).
    if let Some(array) = unnested_array(select, &element) {
        *expr = array;
        return;
    }
    let order = match order_by.map(|o| o.kind) {
        Some(ast::OrderByKind::Expressions(terms)) => {
            let terms: Vec<String> = terms
                .into_iter()
                .map(|mut term| {
                    // `ORDER BY 1` is the element itself.
                    if matches!(&term.expr, Expr::Value(v) if v.value == Value::Number("1".into(), false))
                    {
                        term.expr = element.clone();
                    }
                    term.to_string()
                })
                .collect();
            format!(" ORDER BY {}", terms.join(", "))
        }
        _ => String::new(),
    };
    let Ok(aggregate) = datafusion::sql::sqlparser::parser::Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&format!("array_agg({element}{order})"))
        .and_then(|mut parser| parser.parse_expr())
    else {
        return;
    };
    select.projection = vec![ast::SelectItem::UnnamedExpr(aggregate)];
    *expr = Expr::Subquery(query);
}

/// True when `select` reads only the table function `name`.
fn reads_table_function(select: &ast::Select, name: &str) -> bool {
    matches!(select.from.as_slice(),
        [ast::TableWithJoins { relation: ast::TableFactor::Table { name: table, args: Some(_), .. }, joins }]
            if joins.is_empty()
                && matches!(table.0.last(),
                    Some(ObjectNamePart::Identifier(ident)) if ident.value.eq_ignore_ascii_case(name)))
}

/// `a`, when `select` is `SELECT x FROM [pg_catalog.]unnest(a) AS t(x)`.
fn unnested_array(select: &ast::Select, element: &Expr) -> Option<Expr> {
    let [from] = select.from.as_slice() else {
        return None;
    };
    if select.selection.is_some() || !from.joins.is_empty() {
        return None;
    }
    let ast::TableFactor::Table {
        name,
        alias: Some(alias),
        args: Some(args),
        ..
    } = &from.relation
    else {
        return None;
    };
    let unnest = matches!(name.0.last(),
        Some(ObjectNamePart::Identifier(ident)) if ident.value.eq_ignore_ascii_case("unnest"));
    let [ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(array))] = args.args.as_slice()
    else {
        return None;
    };
    let [column] = alias.columns.as_slice() else {
        return None;
    };
    let selects_column =
        matches!(element, Expr::Identifier(ident) if ident.value == column.name.value);
    (unnest && selects_column).then(|| array.clone())
}

fn rewrite_regproc_cast(expr: &mut Expr) {
    let Expr::Cast {
        expr: inner,
        data_type: ast::DataType::Custom(name, modifiers),
        ..
    } = expr
    else {
        return;
    };
    let regproc = modifiers.is_empty()
        && matches!(name.0.last(),
            Some(ObjectNamePart::Identifier(ident)) if ident.value.eq_ignore_ascii_case("regproc"));
    if !regproc
        || !matches!(
            inner.as_ref(),
            Expr::Identifier(_) | Expr::CompoundIdentifier(_)
        )
    {
        return;
    }
    let sql = format!("(SELECT min(p.proname) FROM pg_catalog.pg_proc p WHERE p.oid = {inner})");
    if let Ok(lookup) = datafusion::sql::sqlparser::parser::Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&sql)
        .and_then(|mut parser| parser.parse_expr())
    {
        *expr = lookup;
    }
}

/// `sql` with [`rewrite_regclass`] and [`protect_projected_lookups`]
/// applied, if it parses and either changes it.
fn protect_catalog_query(sql: &str) -> Option<String> {
    let mut statements =
        datafusion::sql::sqlparser::parser::Parser::parse_sql(&PostgreSqlDialect {}, sql).ok()?;
    let mut changed = false;
    let lower = sql.to_ascii_lowercase();
    let regclass = lower.contains("regclass");
    let role = lower.contains("current_user") || lower.contains("current_role");
    for statement in &mut statements {
        if regclass {
            rewrite_regclass(statement);
            changed = true;
        }
        if role {
            rewrite_current_role(statement);
            changed = true;
        }
        changed |= protect_projected_lookups(statement);
    }
    if !changed {
        return None;
    }
    let texts: Vec<String> = statements.iter().map(ToString::to_string).collect();
    Some(texts.join(";\n"))
}

/// Strata's regclass rewrites: names shown for regclass output columns,
/// text cast to regclass looked up by `to_regclass`.
fn rewrite_regclass(statement: &mut SqlStatement) {
    if let SqlStatement::Query(query) = statement {
        rewrite_regclass_output(query);
    }
    let _ = ast::visit_expressions_mut(statement, |expr| {
        rewrite_regclass_cast(expr);
        std::ops::ControlFlow::<()>::Continue(())
    });
}

/// `current_role` (PostgreSQL's other spelling of `current_user`, which
/// DataFusion does not know) becomes `current_user`, and a select list's
/// `current_user` or `current_role` keeps its name as its column's title
/// (the compatibility rewrites call it `session_user`).
fn rewrite_current_role(statement: &mut SqlStatement) {
    fn spelled(expr: &Expr) -> Option<&'static str> {
        match expr {
            Expr::Identifier(ident)
                if ident.quote_style.is_none()
                    && ident.value.eq_ignore_ascii_case("current_role") =>
            {
                Some("current_role")
            }
            Expr::Function(function)
                if matches!(function.args, ast::FunctionArguments::None)
                    && function
                        .name
                        .to_string()
                        .eq_ignore_ascii_case("current_user") =>
            {
                Some("current_user")
            }
            _ => None,
        }
    }
    if let SqlStatement::Query(query) = statement
        && let ast::SetExpr::Select(select) = query.body.as_mut()
    {
        for item in &mut select.projection {
            if let ast::SelectItem::UnnamedExpr(expr) = item
                && let Some(name) = spelled(expr)
            {
                *item = ast::SelectItem::ExprWithAlias {
                    expr: expr.clone(),
                    alias: ast::Ident::new(name),
                };
            }
        }
    }
    let _ = ast::visit_expressions_mut(statement, |expr| {
        if spelled(expr) == Some("current_role")
            && let Ok(current_user) =
                datafusion::sql::sqlparser::parser::Parser::new(&PostgreSqlDialect {})
                    .try_with_sql("current_user")
                    .and_then(|mut parser| parser.parse_expr())
        {
            *expr = current_user;
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
}

/// `text::regclass` of a literal or computed name (`'silver.orders'`,
/// Metabase's `CAST(format('%I.%I', schema, table) AS regclass)`) becomes
/// `to_regclass(text)`, which looks pg_catalog tables up first and the
/// rest in the session's database; a column cast to regclass is an oid
/// already.
fn rewrite_regclass_cast(expr: &mut Expr) {
    let regclass = is_regclass_cast(expr);
    let Expr::Cast { expr: inner, .. } = expr else {
        return;
    };
    let computed_text = matches!(
        inner.as_ref(),
        Expr::Function(_)
            | Expr::BinaryOp {
                op: ast::BinaryOperator::StringConcat,
                ..
            }
            | Expr::Value(ast::ValueWithSpan {
                value: ast::Value::SingleQuotedString(_),
                ..
            })
    );
    if !regclass || !computed_text {
        return;
    }
    if let Ok(lookup) = datafusion::sql::sqlparser::parser::Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&format!("to_regclass({inner})"))
        .and_then(|mut parser| parser.parse_expr())
    {
        *expr = lookup;
    }
}

/// A column cast to regclass among a query's output columns
/// (`SELECT c.oid::regclass`) becomes `regclass_name(column)`: PostgreSQL
/// prints a regclass as the relation's name. Elsewhere (a comparison, a
/// join) the cast stays an oid. The output keeps the column's name unless
/// the query is ordered: DataFusion takes a qualified ORDER BY column
/// (`c.oid`) for an output column of the same name, and calls it ambiguous.
fn rewrite_regclass_output(query: &mut ast::Query) {
    let keep_name = query.order_by.is_none();
    rewrite_regclass_items(query.body.as_mut(), keep_name);
}

fn rewrite_regclass_items(body: &mut ast::SetExpr, keep_name: bool) {
    match body {
        ast::SetExpr::Select(select) => {
            for item in &mut select.projection {
                let (expr, alias) = match item {
                    ast::SelectItem::UnnamedExpr(expr) => (&*expr, None),
                    ast::SelectItem::ExprWithAlias { expr, alias } => (&*expr, Some(alias.clone())),
                    _ => continue,
                };
                let column = match expr {
                    Expr::Cast { expr: inner, .. } if is_regclass_cast(expr) => inner.as_ref(),
                    _ => continue,
                };
                // PostgreSQL names the output after the column.
                let alias = match column {
                    Expr::Identifier(ident) => alias.or_else(|| keep_name.then(|| ident.clone())),
                    Expr::CompoundIdentifier(parts) => {
                        alias.or_else(|| parts.last().filter(|_| keep_name).cloned())
                    }
                    _ => continue,
                };
                let Ok(name) =
                    datafusion::sql::sqlparser::parser::Parser::new(&PostgreSqlDialect {})
                        .try_with_sql(&format!("regclass_name({column})"))
                        .and_then(|mut parser| parser.parse_expr())
                else {
                    continue;
                };
                *item = match alias {
                    Some(alias) => ast::SelectItem::ExprWithAlias { expr: name, alias },
                    None => ast::SelectItem::UnnamedExpr(name),
                };
            }
        }
        ast::SetExpr::SetOperation { left, right, .. } => {
            rewrite_regclass_items(left, keep_name);
            rewrite_regclass_items(right, keep_name);
        }
        ast::SetExpr::Query(query) => rewrite_regclass_output(query),
        _ => {}
    }
}

/// Whether `expr` is `x::regclass`.
fn is_regclass_cast(expr: &Expr) -> bool {
    let Expr::Cast { data_type, .. } = expr else {
        return false;
    };
    match data_type {
        ast::DataType::Regclass => true,
        ast::DataType::Custom(name, modifiers) => {
            modifiers.is_empty()
                && matches!(name.0.last(),
                    Some(ObjectNamePart::Identifier(ident)) if ident.value.eq_ignore_ascii_case("regclass"))
        }
        _ => false,
    }
}

/// Whether `expr` is a column, or a call of a function that is not an
/// aggregate, which a catalog lookup can take the `min` of.
fn unaggregated(expr: &Expr) -> bool {
    const AGGREGATES: [&str; 12] = [
        "count",
        "sum",
        "min",
        "max",
        "avg",
        "array_agg",
        "string_agg",
        "bool_and",
        "bool_or",
        "every",
        "json_agg",
        "jsonb_agg",
    ];
    match expr {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => true,
        Expr::Function(function) => !matches!(function.name.0.last(),
            Some(ObjectNamePart::Identifier(ident))
                if AGGREGATES.contains(&ident.value.to_ascii_lowercase().as_str())),
        _ => false,
    }
}

/// A catalog lookup among a query's output columns (psql's `\d` asks for a
/// column's default so: `(SELECT pg_get_expr(d.adbin, ...) FROM
/// pg_catalog.pg_attrdef d WHERE d.adrelid = a.attrelid ...)`) becomes the
/// `min` of its one row, in parentheses: datafusion-pg-catalog's rewrites
/// replace a correlated subquery standing as an output column by NULL,
/// while DataFusion plans an aggregated one. Returns whether any changed.
fn protect_projected_lookups(statement: &mut SqlStatement) -> bool {
    let mut changed = false;
    for_each_output_column(statement, |expr| {
        if !matches!(expr, Expr::Subquery(_)) {
            return;
        }
        rewrite_catalog_lookup(expr);
        let Expr::Subquery(query) = expr else {
            return;
        };
        if !one_row_lookup(query) {
            return;
        }
        let outer = take_outer_conditions(query);
        let lookup = Expr::Nested(Box::new(expr.clone()));
        *expr = match outer {
            // DataFusion decorrelates a subquery whose filter compares
            // inner and outer columns, not one that tests the outer row
            // alone: that test moves outside.
            Some(condition) => Expr::Case {
                case_token: ast::helpers::attached_token::AttachedToken::empty(),
                end_token: ast::helpers::attached_token::AttachedToken::empty(),
                operand: None,
                conditions: vec![ast::CaseWhen {
                    condition,
                    result: lookup,
                }],
                else_result: None,
            },
            None => lookup,
        };
        changed = true;
    });
    changed
}

/// Calls `change` on the expression of every output column of every query
/// in `statement`, subqueries included.
fn for_each_output_column(statement: &mut SqlStatement, change: impl FnMut(&mut Expr)) {
    use std::ops::ControlFlow;

    struct Outputs<F>(F);
    impl<F: FnMut(&mut Expr)> ast::VisitorMut for Outputs<F> {
        type Break = ();
        fn pre_visit_query(&mut self, query: &mut ast::Query) -> ControlFlow<()> {
            if let ast::SetExpr::Select(select) = query.body.as_mut() {
                for item in &mut select.projection {
                    if let ast::SelectItem::UnnamedExpr(expr)
                    | ast::SelectItem::ExprWithAlias { expr, .. } = item
                    {
                        (self.0)(expr);
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = ast::VisitMut::visit(statement, &mut Outputs(change));
}

/// Whether `query` is `SELECT aggregate(...) FROM pg_x ...` without GROUP
/// BY: one row.
fn one_row_lookup(query: &ast::Query) -> bool {
    let ast::SetExpr::Select(select) = query.body.as_ref() else {
        return false;
    };
    matches!(select.projection.as_slice(), [ast::SelectItem::UnnamedExpr(e)] if !unaggregated(e) && matches!(e, Expr::Function(_)))
        && ungrouped_catalog_select(select)
}

/// Whether `select` reads one pg_catalog table, without joins or GROUP BY.
fn ungrouped_catalog_select(select: &ast::Select) -> bool {
    let grouped = !matches!(&select.group_by, ast::GroupByExpr::Expressions(e, _) if e.is_empty());
    let catalog_table = matches!(select.from.as_slice(),
        [ast::TableWithJoins { relation: ast::TableFactor::Table { name, args: None, .. }, joins }]
            if joins.is_empty()
                && matches!(name.0.last(),
                    Some(ObjectNamePart::Identifier(ident)) if ident.value.to_ascii_lowercase().starts_with("pg_")));
    catalog_table && !grouped
}

/// Takes out of `query`'s filter the conditions that name only columns of
/// other tables than its own (`a.atthasdef` in psql's default lookup), and
/// returns them joined by AND.
fn take_outer_conditions(query: &mut ast::Query) -> Option<Expr> {
    let ast::SetExpr::Select(select) = query.body.as_mut() else {
        return None;
    };
    let own: Vec<String> = select
        .from
        .iter()
        .filter_map(|from| match &from.relation {
            ast::TableFactor::Table { name, alias, .. } => Some(match alias {
                Some(alias) => alias.name.value.to_ascii_lowercase(),
                None => name.0.last()?.as_ident()?.value.to_ascii_lowercase(),
            }),
            _ => None,
        })
        .collect();
    let outer_only = |condition: &Expr| {
        let mut qualifiers = Vec::new();
        let _ = ast::visit_expressions(condition, |e| {
            match e {
                Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                    qualifiers.push(parts[parts.len() - 2].value.to_ascii_lowercase())
                }
                Expr::Identifier(_) => qualifiers.push(String::new()),
                _ => {}
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
        !qualifiers.is_empty() && qualifiers.iter().all(|q| !q.is_empty() && !own.contains(q))
    };
    let mut conditions = Vec::new();
    split_and(select.selection.take()?, &mut conditions);
    let (outer, inner): (Vec<Expr>, Vec<Expr>) = conditions.into_iter().partition(outer_only);
    select.selection = join_and(inner);
    join_and(outer)
}

fn split_and(expr: Expr, into: &mut Vec<Expr>) {
    match expr {
        Expr::BinaryOp {
            left,
            op: ast::BinaryOperator::And,
            right,
        } => {
            split_and(*left, into);
            split_and(*right, into);
        }
        Expr::Nested(inner)
            if matches!(
                inner.as_ref(),
                Expr::BinaryOp {
                    op: ast::BinaryOperator::And,
                    ..
                }
            ) =>
        {
            split_and(*inner, into)
        }
        other => into.push(other),
    }
}

fn join_and(conditions: Vec<Expr>) -> Option<Expr> {
    conditions.into_iter().reduce(|left, right| Expr::BinaryOp {
        left: Box::new(left),
        op: ast::BinaryOperator::And,
        right: Box::new(right),
    })
}

fn rewrite_catalog_lookup(expr: &mut Expr) {
    let Expr::Subquery(query) = expr else {
        return;
    };
    let ast::SetExpr::Select(select) = query.body.as_mut() else {
        return;
    };
    if !ungrouped_catalog_select(select) || select.selection.is_none() {
        return;
    }
    if let [ast::SelectItem::UnnamedExpr(column)] = select.projection.as_mut_slice()
        && unaggregated(column)
    {
        let sql = format!("min({column})");
        if let Ok(aggregate) =
            datafusion::sql::sqlparser::parser::Parser::new(&PostgreSqlDialect {})
                .try_with_sql(&sql)
                .and_then(|mut parser| parser.parse_expr())
        {
            *column = aggregate;
        }
    }
}

/// `EXISTS (SELECT ... WHERE ...)` among a query's output columns (psql's
/// `\d` of an index asks whether its constraint is deferrable so) becomes
/// `(SELECT count(*) ... WHERE ...) > 0`: DataFusion plans EXISTS only in
/// a filter, a correlated count anywhere. In WHERE it stays as it is.
fn rewrite_projected_exists(statement: &mut SqlStatement) {
    for_each_output_column(statement, |expr| {
        let _ = ast::visit_expressions_mut(expr, |expr| {
            if let Expr::Exists { subquery, negated } = expr
                && let Some(count) = exists_as_count(subquery, *negated)
            {
                *expr = count;
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
    });
}

/// `(SELECT count(*) FROM ... WHERE ...) > 0` (`= 0` when `negated`) for a
/// plain `SELECT ... FROM ... WHERE ...` subquery.
fn exists_as_count(subquery: &ast::Query, negated: bool) -> Option<Expr> {
    let ast::SetExpr::Select(select) = subquery.body.as_ref() else {
        return None;
    };
    let plain = subquery.with.is_none()
        && subquery.order_by.is_none()
        && subquery.limit_clause.is_none()
        && select.distinct.is_none()
        && select.having.is_none()
        && matches!(&select.group_by, ast::GroupByExpr::Expressions(e, _) if e.is_empty());
    if !plain || select.from.is_empty() {
        return None;
    }
    let from: Vec<String> = select.from.iter().map(ToString::to_string).collect();
    let filter = select
        .selection
        .as_ref()
        .map(|e| format!(" WHERE {e}"))
        .unwrap_or_default();
    let test = if negated { "= 0" } else { "> 0" };
    let sql = format!(
        "((SELECT count(*) FROM {}{filter}) {test})",
        from.join(", ")
    );
    datafusion::sql::sqlparser::parser::Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&sql)
        .and_then(|mut parser| parser.parse_expr())
        .ok()
}

fn rewrite_order_by_output(statement: &mut SqlStatement) {
    use std::ops::ControlFlow;

    struct OrderByOutput;
    impl ast::VisitorMut for OrderByOutput {
        type Break = ();
        fn pre_visit_query(&mut self, query: &mut ast::Query) -> ControlFlow<()> {
            let ast::SetExpr::Select(select) = query.body.as_ref() else {
                return ControlFlow::Continue(());
            };
            let Some(ast::OrderBy {
                kind: ast::OrderByKind::Expressions(terms),
                ..
            }) = query.order_by.as_mut()
            else {
                return ControlFlow::Continue(());
            };
            for term in terms {
                let Expr::Identifier(name) = &term.expr else {
                    continue;
                };
                let outputs: Vec<&Expr> = select
                    .projection
                    .iter()
                    .filter_map(|item| match item {
                        ast::SelectItem::UnnamedExpr(e @ Expr::CompoundIdentifier(parts))
                            if parts
                                .last()
                                .is_some_and(|p| p.value.eq_ignore_ascii_case(&name.value)) =>
                        {
                            Some(e)
                        }
                        _ => None,
                    })
                    .collect();
                if let [output] = outputs.as_slice() {
                    term.expr = (*output).clone();
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = ast::VisitMut::visit(statement, &mut OrderByOutput);
}

fn rewrite_bytea_literal(expr: &mut Expr) {
    let hex = match expr {
        Expr::Cast {
            expr: inner,
            data_type: ast::DataType::Bytea,
            ..
        } => match inner.as_ref() {
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(text) => text.strip_prefix("\\x").map(str::to_owned),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    };
    if let Some(hex) =
        hex.filter(|h| h.len().is_multiple_of(2) && h.chars().all(|c| c.is_ascii_hexdigit()))
    {
        *expr = Expr::Value(Value::HexStringLiteral(hex).into());
    }
}

fn rewrite_uuid_literal(expr: &mut Expr) {
    let text = match expr {
        Expr::Cast {
            expr: inner,
            data_type: ast::DataType::Uuid,
            ..
        } => match inner.as_ref() {
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(text) => text.clone(),
                _ => return,
            },
            _ => return,
        },
        Expr::TypedString(typed) if typed.data_type == ast::DataType::Uuid => {
            match &typed.value.value {
                Value::SingleQuotedString(text) => text.clone(),
                _ => return,
            }
        }
        _ => return,
    };
    if let Some(hex) = uuid_hex(&text) {
        *expr = Expr::Cast {
            kind: ast::CastKind::DoubleColon,
            expr: Box::new(Expr::Value(Value::HexStringLiteral(hex).into())),
            data_type: ast::DataType::Uuid,
            array: false,
            format: None,
        };
    }
}

/// The 32 hex digits of a UUID in any form PostgreSQL reads: hyphens
/// anywhere between groups of four digits, optional braces, either case.
fn uuid_hex(text: &str) -> Option<String> {
    let text = text.trim();
    let text = text
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or(text);
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    (hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()) && !text.starts_with('-'))
        .then(|| hex.to_ascii_lowercase())
}

/// `information_schema._pg_expandarray(a)`, a set-returning function in
/// PostgreSQL, becomes `unnest(_pg_expandarray(a))` over Strata's
/// array-returning function of the same name.
fn rewrite_pg_expandarray(expr: &mut Expr) {
    let Expr::Function(function) = expr else {
        return;
    };
    let named = matches!(function.name.0.as_slice(),
        [.., ObjectNamePart::Identifier(ident)] if ident.value.eq_ignore_ascii_case("_pg_expandarray"));
    if !named {
        return;
    }
    let mut inner = function.clone();
    inner.name = ast::ObjectName::from(vec![ast::Ident::new("_pg_expandarray")]);
    let mut unnest = inner.clone();
    unnest.name = ast::ObjectName::from(vec![ast::Ident::new("unnest")]);
    unnest.args = ast::FunctionArguments::List(ast::FunctionArgumentList {
        duplicate_treatment: None,
        args: vec![ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(
            Expr::Function(inner),
        ))],
        clauses: Vec::new(),
    });
    *expr = Expr::Function(unnest);
}

fn rewrite_field_selection(expr: &mut Expr) {
    let Expr::CompoundFieldAccess { root, access_chain } = expr else {
        return;
    };
    // `t.col[1]` is a qualified column, which DataFusion reads itself; only
    // a parenthesised composite's fields are selected.
    if !matches!(root.as_ref(), Expr::Nested(_) | Expr::Function(_)) {
        return;
    }
    for access in access_chain.iter_mut() {
        if let ast::AccessExpr::Dot(Expr::Identifier(ident)) = access {
            let name = match ident.quote_style {
                Some(_) => ident.value.clone(),
                None => ident.value.to_ascii_lowercase(),
            };
            *access = ast::AccessExpr::Subscript(ast::Subscript::Index {
                index: Expr::Value(Value::SingleQuotedString(name).into()),
            });
        }
    }
}

fn rewrite_generate_subscripts(expr: &mut Expr) {
    let Expr::Function(function) = expr else {
        return;
    };
    let named = matches!(function.name.0.as_slice(),
        [.., ObjectNamePart::Identifier(ident)] if ident.value.eq_ignore_ascii_case("generate_subscripts"));
    if !named {
        return;
    }
    let ast::FunctionArguments::List(list) = &function.args else {
        return;
    };
    let [array, dim] = list.args.as_slice() else {
        return;
    };
    let sql = format!("unnest(generate_series(1, array_length({array}, {dim})))");
    if let Ok(rewritten) = datafusion::sql::sqlparser::parser::Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&sql)
        .and_then(|mut parser| parser.parse_expr())
    {
        *expr = rewritten;
    }
}

/// The PostgreSQL compatibility rewrites make client catalog queries
/// plannable; they are meant for those and are applied only to statements
/// that touch the catalog or use PostgreSQL-only syntax.
fn needs_pg_rewrites(statement: &SqlStatement) -> bool {
    let text = statement.to_string().to_ascii_lowercase();
    PG_MARKERS.iter().any(|marker| text.contains(marker))
}

/// Text that marks a statement as a catalog query.
const PG_MARKERS: &[&str] = &[
    "pg_",
    "information_schema",
    "::reg",
    "operator(",
    "current_user",
    "current_role",
];

/// Gives the top-level select list unique internal names and returns the
/// names PostgreSQL shows for those columns. PostgreSQL allows duplicate
/// result names (`SELECT 1, 1`) and names unnamed expressions by function or
/// type (`count`, `?column?`, `int4`); DataFusion rejects duplicates and
/// names columns after the whole expression. `None` (nothing changed) when
/// the list has a wildcard, whose names come from the tables.
fn name_select_list(statement: &mut DFStatement) -> Option<Vec<Option<String>>> {
    let DFStatement::Statement(sql) = statement else {
        return None;
    };
    let SqlStatement::Query(query) = sql.as_mut() else {
        return None;
    };
    let mut body = query.body.as_mut();
    while let ast::SetExpr::SetOperation { left, .. } = body {
        body = left.as_mut();
    }
    let ast::SetExpr::Select(select) = body else {
        return None;
    };
    if select.projection.iter().any(|item| {
        !matches!(
            item,
            ast::SelectItem::UnnamedExpr(_) | ast::SelectItem::ExprWithAlias { .. }
        )
    }) {
        return None;
    }
    let mut names = Vec::with_capacity(select.projection.len());
    for (i, item) in select.projection.iter_mut().enumerate() {
        if let ast::SelectItem::UnnamedExpr(expr) = item {
            let name = column_name(expr).or_else(|| match expr {
                Expr::Identifier(ident) => Some(ident.value.clone()),
                Expr::CompoundIdentifier(parts) => parts.last().map(|p| p.value.clone()),
                _ => None,
            });
            names.push(name);
            *item = ast::SelectItem::ExprWithAlias {
                expr: expr.clone(),
                alias: ast::Ident::new(format!("__strata_column_{i}")),
            };
        } else {
            names.push(None);
        }
    }
    Some(names)
}

/// PostgreSQL's name for an unnamed select-list expression; `None` where
/// DataFusion already uses the same name (plain column references).
fn column_name(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => None,
        Expr::Function(function) => function.name.0.last().map(|part| match part {
            ObjectNamePart::Identifier(ident) if ident.quote_style.is_none() => {
                ident.value.to_ascii_lowercase()
            }
            ObjectNamePart::Identifier(ident) => ident.value.clone(),
            other => other.to_string(),
        }),
        Expr::Cast {
            expr, data_type, ..
        } => match column_name(expr) {
            Some(name) if name == "?column?" => Some(type_column_name(data_type)),
            None => match expr.as_ref() {
                Expr::Identifier(ident) => Some(ident.value.clone()),
                Expr::CompoundIdentifier(parts) => parts.last().map(|p| p.value.clone()),
                _ => Some("?column?".to_owned()),
            },
            other => other,
        },
        Expr::Nested(inner) => column_name(inner),
        Expr::Case { .. } => Some("case".to_owned()),
        Expr::Exists { .. } => Some("exists".to_owned()),
        Expr::Array(_) => Some("array".to_owned()),
        Expr::Subquery(query) => match query.body.as_ref() {
            ast::SetExpr::Select(select) => match select.projection.as_slice() {
                [ast::SelectItem::UnnamedExpr(inner)] => match inner {
                    Expr::Identifier(ident) => Some(ident.value.clone()),
                    Expr::CompoundIdentifier(parts) => parts.last().map(|p| p.value.clone()),
                    other => column_name(other),
                },
                [ast::SelectItem::ExprWithAlias { alias, .. }] => Some(alias.value.clone()),
                _ => Some("?column?".to_owned()),
            },
            _ => Some("?column?".to_owned()),
        },
        _ => Some("?column?".to_owned()),
    }
}

/// The name PostgreSQL gives `'1'::int` and friends: the type's own name.
fn type_column_name(data_type: &ast::DataType) -> String {
    use ast::DataType as T;
    match data_type {
        T::Int(_) | T::Integer(_) | T::Int4(_) => "int4",
        T::BigInt(_) | T::Int8(_) => "int8",
        T::SmallInt(_) | T::Int2(_) => "int2",
        T::Real | T::Float4 => "float4",
        T::Double(_) | T::DoublePrecision | T::Float8 | T::Float(_) => "float8",
        T::Numeric(_) | T::Decimal(_) => "numeric",
        T::Boolean | T::Bool => "bool",
        T::Text | T::String(_) => "text",
        T::Varchar(_) | T::CharacterVarying(_) => "varchar",
        T::Char(_) | T::Character(_) => "bpchar",
        T::Date => "date",
        T::Time(_, _) => "time",
        T::Timestamp(_, ast::TimezoneInfo::WithTimeZone | ast::TimezoneInfo::Tz) => "timestamptz",
        T::Timestamp(_, _) => "timestamp",
        T::Interval { .. } => "interval",
        T::Bytea => "bytea",
        T::Uuid => "uuid",
        T::JSON => "json",
        T::JSONB => "jsonb",
        _ => "?column?",
    }
    .to_owned()
}

fn object_name(name: &ast::ObjectName) -> String {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) => ident.value.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The text of a SET value list; `None` for `DEFAULT`.
fn set_value(values: &[Expr]) -> Option<String> {
    if let [Expr::Identifier(ident)] = values
        && ident.quote_style.is_none()
        && ident.value.eq_ignore_ascii_case("default")
    {
        return None;
    }
    Some(values.iter().map(expr_text).collect::<Vec<_>>().join(", "))
}

fn expr_text(expr: &Expr) -> String {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s)
            | Value::DoubleQuotedString(s)
            | Value::EscapedStringLiteral(s)
            | Value::NationalStringLiteral(s) => s.clone(),
            Value::Number(n, _) => n.clone(),
            Value::Boolean(b) => if *b { "on" } else { "off" }.to_owned(),
            other => other.to_string(),
        },
        Expr::Identifier(ident) => ident.value.clone(),
        Expr::CompoundIdentifier(parts) => parts
            .iter()
            .map(|p| p.value.as_str())
            .collect::<Vec<_>>()
            .join("."),
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => format!("-{}", expr_text(expr)),
        Expr::UnaryOp {
            op: UnaryOperator::Plus,
            expr,
        } => expr_text(expr),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(sql: &str) -> Command {
        let pg = PostgresCompatibilityParser::new();
        let mut parsed = parse(sql, &pg).unwrap();
        assert_eq!(parsed.len(), 1, "{sql}");
        parsed.remove(0).command
    }

    #[test]
    fn session_commands_are_recognised() {
        assert!(matches!(one("SET search_path TO a, b"),
            Command::Set { name, value: Some(v) } if name == "search_path" && v == "a, b"));
        assert!(matches!(one("SET statement_timeout = '5s'"),
            Command::Set { value: Some(v), .. } if v == "5s"));
        assert!(matches!(one("SET extra_float_digits = -2"),
            Command::Set { value: Some(v), .. } if v == "-2"));
        assert!(matches!(one("SET TIME ZONE 'Europe/Paris'"),
            Command::Set { name, .. } if name == "TimeZone"));
        assert!(matches!(
            one("SET application_name TO DEFAULT"),
            Command::Set { value: None, .. }
        ));
        assert!(matches!(one("SET datafusion.execution.batch_size = 100"),
            Command::Set { name, value: Some(v) } if name == "datafusion.execution.batch_size" && v == "100"));
        assert!(matches!(one("SHOW TRANSACTION ISOLATION LEVEL"),
            Command::Show(n) if n == "transaction_isolation"));
        assert!(matches!(one("SHOW ALL"), Command::ShowAll));
        assert!(matches!(one("RESET ALL"), Command::ResetAll));
        assert!(matches!(one("RESET timezone"), Command::Reset(n) if n == "timezone"));
        assert!(matches!(one("BEGIN"), Command::Begin));
        assert!(matches!(
            one("START TRANSACTION ISOLATION LEVEL REPEATABLE READ"),
            Command::Begin
        ));
        assert!(matches!(one("COMMIT"), Command::Commit));
        assert!(matches!(one("END"), Command::Commit));
        assert!(matches!(one("ROLLBACK"), Command::Rollback));
        assert!(matches!(one("DISCARD ALL"), Command::DiscardAll));
        assert!(matches!(one("DEALLOCATE ALL"), Command::Deallocate(None)));
        assert!(matches!(one("SELECT 1"), Command::Sql(_)));
        assert!(matches!(one("LISTEN jobs"), Command::Listen));
        assert!(matches!(one("UNLISTEN *"), Command::Unlisten));
        assert!(matches!(one("CLOSE ALL"), Command::CloseCursor(None)));
        assert!(matches!(one("CLOSE c1"), Command::CloseCursor(Some(n)) if n == "c1"));
        assert!(matches!(
            one("DECLARE c1 NO SCROLL CURSOR WITH HOLD FOR SELECT 1"),
            Command::DeclareCursor { name, hold: true, .. } if name == "c1"
        ));
        assert!(matches!(
            one("DECLARE c2 CURSOR FOR SELECT 1"),
            Command::DeclareCursor { hold: false, .. }
        ));
        assert!(matches!(
            one("FETCH 10 FROM c1"),
            Command::Fetch {
                count: Some(10),
                ..
            }
        ));
        assert!(matches!(
            one("FETCH FORWARD 3 IN c1"),
            Command::Fetch { count: Some(3), .. }
        ));
        assert!(matches!(
            one("FETCH NEXT FROM c1"),
            Command::Fetch { count: Some(1), .. }
        ));
        assert!(matches!(
            one("FETCH ALL FROM c1"),
            Command::Fetch { count: None, .. }
        ));
        assert!(matches!(
            one("FETCH FORWARD ALL FROM c1"),
            Command::Fetch { count: None, .. }
        ));
        match one(
            "ALTER TABLE pg.public.t SET (partition_column = id, lower_bound = -5, \
             upper_bound = '2024-01-01', num_partitions = 4, x = NULL, y = DEFAULT)",
        ) {
            Command::SetTableOptions { table, options } => {
                assert_eq!(table, "pg.public.t");
                let expected = [
                    ("partition_column", Some("id")),
                    ("lower_bound", Some("-5")),
                    ("upper_bound", Some("2024-01-01")),
                    ("num_partitions", Some("4")),
                    ("x", None),
                    ("y", None),
                ];
                let expected: Vec<(String, Option<String>)> = expected
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.map(str::to_owned)))
                    .collect();
                assert_eq!(options, expected);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            one("ALTER TABLE t SET TBLPROPERTIES ('numPartitions' = '8')"),
            Command::SetTableOptions { options, .. } if options == [("num_partitions".to_owned(), Some("8".to_owned()))]
        ));
        assert!(matches!(
            one("CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '/tmp/x'"),
            Command::Sql(s) if matches!(*s, DFStatement::CreateExternalTable(_))
        ));
    }

    #[test]
    fn several_statements_and_syntax_errors() {
        let pg = PostgresCompatibilityParser::new();
        assert_eq!(parse("SELECT 1; SELECT 2;", &pg).unwrap().len(), 2);
        let err = parse("SELEC 1", &pg).unwrap_err();
        assert_eq!(err.sqlstate(), crate::error::SqlState::SYNTAX_ERROR);
    }
}
