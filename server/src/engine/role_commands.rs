//! `CREATE ROLE`, `ALTER ROLE` and `DROP ROLE` (and their `USER` and
//! `GROUP` spellings), in PostgreSQL's grammar, with PostgreSQL's rules on
//! who may do what.
//!
//! They are parsed here rather than by sqlparser, which reads `CREATE
//! USER` and `ALTER USER` as Snowflake's statements; and so that no error
//! message ever repeats a password literal.

use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Word};

use super::Engine;
use super::catalog::object_key;
use crate::auth::roles::{Role, RoleError, RoleOptions, Secret};
use crate::error::{Result, StrataError};

/// A role statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleCommand {
    /// `CREATE ROLE` (`login` false) or `CREATE USER` (true).
    Create {
        name: String,
        login: bool,
        options: RoleOptions,
    },
    Alter {
        name: RoleSpec,
        options: RoleOptions,
    },
    Rename {
        name: RoleSpec,
        to: String,
    },
    Drop {
        names: Vec<String>,
        if_exists: bool,
    },
}

impl RoleCommand {
    /// The command tag PostgreSQL answers with.
    pub fn tag(&self) -> &'static str {
        match self {
            RoleCommand::Create { .. } => "CREATE ROLE",
            RoleCommand::Alter { .. } | RoleCommand::Rename { .. } => "ALTER ROLE",
            RoleCommand::Drop { .. } => "DROP ROLE",
        }
    }
}

/// A role named in `ALTER ROLE`: by name or as the session's user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleSpec {
    Name(String),
    SessionUser,
}

impl RoleSpec {
    pub fn resolve(&self, session_user: &str) -> String {
        match self {
            RoleSpec::Name(name) => name.clone(),
            RoleSpec::SessionUser => session_user.to_owned(),
        }
    }
}

/// Reads `sql` as a role statement; `None` if it is another statement.
/// `sql` holds one statement (a trailing `;` allowed).
pub fn parse(sql: &str) -> Result<Option<RoleCommand>> {
    let Some(mut words) = Words::of(sql) else {
        return Ok(None);
    };
    let verb = match words.peek_keyword() {
        Some(k @ (Keyword::CREATE | Keyword::ALTER | Keyword::DROP)) => k,
        _ => return Ok(None),
    };
    let login = match words.peek_keyword_at(1) {
        Some(Keyword::ROLE | Keyword::GROUP) => false,
        Some(Keyword::USER) => true,
        _ => return Ok(None),
    };
    words.at = 2;
    let command = match verb {
        Keyword::CREATE => {
            let name = words.name()?;
            RoleCommand::Create {
                name,
                login,
                options: words.options()?,
            }
        }
        Keyword::ALTER => {
            let name = match words.peek_keyword() {
                Some(Keyword::CURRENT_USER | Keyword::SESSION_USER | Keyword::CURRENT_ROLE) => {
                    words.at += 1;
                    RoleSpec::SessionUser
                }
                _ => RoleSpec::Name(words.name()?),
            };
            if words.eat_keyword(Keyword::RENAME) {
                if !words.eat_keyword(Keyword::TO) {
                    return Err(syntax("expected TO after RENAME"));
                }
                RoleCommand::Rename {
                    name,
                    to: words.name()?,
                }
            } else if matches!(
                words.peek_keyword(),
                Some(Keyword::SET | Keyword::RESET | Keyword::IN)
            ) {
                return Err(StrataError::NotSupported(
                    "per-role settings (ALTER ROLE ... SET)".to_owned(),
                ));
            } else {
                RoleCommand::Alter {
                    name,
                    options: words.options()?,
                }
            }
        }
        _ => {
            let if_exists = words.eat_keyword(Keyword::IF);
            if if_exists && !words.eat_keyword(Keyword::EXISTS) {
                return Err(syntax("expected EXISTS after IF"));
            }
            let mut names = vec![words.name()?];
            while words.eat(&Token::Comma) {
                names.push(words.name()?);
            }
            RoleCommand::Drop { names, if_exists }
        }
    };
    words.finish()?;
    Ok(Some(command))
}

pub(super) fn syntax(message: &str) -> StrataError {
    StrataError::Syntax(
        datafusion::sql::sqlparser::parser::ParserError::ParserError(message.to_owned()),
    )
}

/// The statement's tokens and a cursor. Errors name what was expected,
/// never the token found (it may be a password).
pub(super) struct Words {
    tokens: Vec<Token>,
    at: usize,
}

impl Words {
    /// The tokens of `sql` without whitespace; `None` if it does not
    /// tokenize (the regular parser reports why).
    pub(super) fn of(sql: &str) -> Option<Self> {
        let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize().ok()?;
        let tokens = tokens
            .into_iter()
            .filter(|t| !matches!(t, Token::Whitespace(_)))
            .collect();
        Some(Self { tokens, at: 0 })
    }

    pub(super) fn advance(&mut self) {
        self.at += 1;
    }

    pub(super) fn eat_comma(&mut self) -> bool {
        self.eat(&Token::Comma)
    }

    pub(super) fn at_paren(&self) -> bool {
        self.tokens.get(self.at) == Some(&Token::LParen)
    }

    /// The end of the statement: nothing but a `;` may be left.
    pub(super) fn finish(&mut self) -> Result<()> {
        self.eat(&Token::SemiColon);
        if self.at < self.tokens.len() && self.tokens[self.at] != Token::EOF {
            return Err(syntax("unexpected words at the end of the statement"));
        }
        Ok(())
    }

    /// A dotted name of up to three parts.
    pub(super) fn qualified_name(&mut self) -> Result<Vec<String>> {
        let mut parts = vec![self.name()?];
        while self.eat(&Token::Period) {
            parts.push(self.name()?);
        }
        if parts.len() > 3 {
            return Err(syntax("a name has at most three parts"));
        }
        Ok(parts)
    }

    fn peek_keyword_at(&self, offset: usize) -> Option<Keyword> {
        match self.tokens.get(self.at + offset) {
            Some(Token::Word(Word {
                keyword,
                quote_style: None,
                ..
            })) => Some(*keyword),
            _ => None,
        }
    }

    pub(super) fn peek_keyword(&self) -> Option<Keyword> {
        self.peek_keyword_at(0)
    }

    /// The next word if it is one of `words` (compared without case).
    pub(super) fn peek_word(&self) -> Option<String> {
        match self.tokens.get(self.at) {
            Some(Token::Word(Word {
                value,
                quote_style: None,
                ..
            })) => Some(value.to_ascii_uppercase()),
            _ => None,
        }
    }

    pub(super) fn eat_keyword(&mut self, keyword: Keyword) -> bool {
        let found = self.peek_keyword() == Some(keyword);
        if found {
            self.at += 1;
        }
        found
    }

    fn eat(&mut self, token: &Token) -> bool {
        let found = self.tokens.get(self.at) == Some(token);
        if found {
            self.at += 1;
        }
        found
    }

    /// A role name: an identifier, folded to lower case unless quoted.
    pub(super) fn name(&mut self) -> Result<String> {
        match self.tokens.get(self.at) {
            Some(Token::Word(word)) => {
                self.at += 1;
                Ok(match word.quote_style {
                    Some(_) => word.value.clone(),
                    None => word.value.to_lowercase(),
                })
            }
            _ => Err(syntax("expected a role name")),
        }
    }

    /// The option list of CREATE or ALTER ROLE.
    fn options(&mut self) -> Result<RoleOptions> {
        let mut options = RoleOptions::default();
        self.eat_keyword(Keyword::WITH);
        while let Some(word) = self.peek_word() {
            self.at += 1;
            let (flag, value) = match word.strip_prefix("NO") {
                Some(rest) if is_flag(rest) => (rest.to_owned(), false),
                _ => (word.clone(), true),
            };
            match flag.as_str() {
                "SUPERUSER" => options.superuser = Some(value),
                "CREATEROLE" => options.create_role = Some(value),
                "CREATEDB" => options.create_db = Some(value),
                "LOGIN" => options.login = Some(value),
                "INHERIT" => options.inherit = Some(value),
                "REPLICATION" => options.replication = Some(value),
                "BYPASSRLS" => options.bypass_rls = Some(value),
                "CONNECTION" => {
                    if self.peek_word().as_deref() != Some("LIMIT") {
                        return Err(syntax("expected LIMIT after CONNECTION"));
                    }
                    self.at += 1;
                    options.connection_limit = Some(self.integer()?);
                }
                "ENCRYPTED" | "PASSWORD" => {
                    if word == "ENCRYPTED" && !self.eat_keyword(Keyword::PASSWORD) {
                        return Err(syntax("expected PASSWORD after ENCRYPTED"));
                    }
                    options.password = Some(self.password()?);
                }
                "UNENCRYPTED" => {
                    return Err(StrataError::NotSupported(
                        "UNENCRYPTED PASSWORD (passwords are always stored as SCRAM verifiers)"
                            .to_owned(),
                    ));
                }
                "VALID" => {
                    if self.peek_word().as_deref() != Some("UNTIL") {
                        return Err(syntax("expected UNTIL after VALID"));
                    }
                    self.at += 1;
                    match self.tokens.get(self.at) {
                        Some(Token::SingleQuotedString(s))
                            if s.eq_ignore_ascii_case("infinity") =>
                        {
                            self.at += 1;
                        }
                        _ => {
                            return Err(StrataError::NotSupported(
                                "VALID UNTIL other than 'infinity'".to_owned(),
                            ));
                        }
                    }
                }
                "IN" | "ROLE" | "USER" | "ADMIN" | "SYSID" => {
                    return Err(StrataError::NotSupported(format!(
                        "{word} in a role statement (role membership)"
                    )));
                }
                _ => return Err(syntax("unrecognized role option")),
            }
        }
        Ok(options)
    }

    fn integer(&mut self) -> Result<i32> {
        let negative = self.eat(&Token::Minus);
        match self.tokens.get(self.at) {
            Some(Token::Number(n, _)) => {
                self.at += 1;
                let n: i32 = n
                    .parse()
                    .map_err(|_| syntax("expected an integer connection limit"))?;
                let n = if negative { -n } else { n };
                if n < -1 {
                    return Err(StrataError::InvalidParameterValue(format!(
                        "invalid connection limit: {n}"
                    )));
                }
                Ok(n)
            }
            _ => Err(syntax("expected an integer connection limit")),
        }
    }

    /// `'text'` or `NULL` after PASSWORD.
    fn password(&mut self) -> Result<Option<Secret>> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        match token {
            Some(
                Token::SingleQuotedString(s)
                | Token::EscapedStringLiteral(s)
                | Token::NationalStringLiteral(s),
            ) => Ok(Some(Secret::new(s))),
            Some(Token::DollarQuotedString(s)) => Ok(Some(Secret::new(s.value))),
            Some(Token::Word(Word {
                keyword: Keyword::NULL,
                quote_style: None,
                ..
            })) => Ok(None),
            _ => Err(syntax("expected a string or NULL after PASSWORD")),
        }
    }
}

fn is_flag(word: &str) -> bool {
    [
        "SUPERUSER",
        "CREATEROLE",
        "CREATEDB",
        "LOGIN",
        "INHERIT",
        "REPLICATION",
        "BYPASSRLS",
    ]
    .contains(&word)
}

impl Engine {
    /// Runs a role statement for `session_user`, with PostgreSQL's checks:
    /// superusers manage every role, CREATEROLE roles the others, and any
    /// role may change its own password.
    pub fn run_role_command(&self, session_user: &str, command: &RoleCommand) -> Result<()> {
        let actor = self.roles.principal(session_user);
        let denied = |what: &str| StrataError::Role(RoleError::PermissionDenied(what.to_owned()));
        match command {
            RoleCommand::Create {
                name,
                login,
                options,
            } => {
                if !(actor.superuser || actor.create_role) {
                    return Err(denied("permission denied to create role"));
                }
                if options.superuser == Some(true) && !actor.superuser {
                    return Err(denied(
                        "permission denied to create role: only superusers may create \
                         superuser roles",
                    ));
                }
                let oid = self.store.oids(&[object_key("role", &[name])])?[0];
                self.roles.create(name, oid, *login, options)?;
            }
            RoleCommand::Alter { name, options } => {
                let name = name.resolve(session_user);
                let target = self.role(&name)?;
                let own_password = name == actor.name
                    && *options
                        == RoleOptions {
                            password: options.password.clone(),
                            ..Default::default()
                        };
                if !(own_password || actor.may_manage(&target)) {
                    return Err(denied("permission denied to alter role"));
                }
                if options.superuser.is_some() && !actor.superuser {
                    return Err(denied(
                        "permission denied to alter role: only superusers may change the \
                         SUPERUSER attribute",
                    ));
                }
                self.roles.alter(&name, options)?;
            }
            RoleCommand::Rename { name, to } => {
                let name = name.resolve(session_user);
                let target = self.role(&name)?;
                if !actor.may_manage(&target) {
                    return Err(denied("permission denied to rename role"));
                }
                if name == session_user {
                    return Err(StrataError::NotSupported(
                        "renaming the session user".to_owned(),
                    ));
                }
                self.roles.rename(&name, to)?;
            }
            RoleCommand::Drop { names, if_exists } => {
                // Every role is checked before any is dropped: the statement
                // drops all of them or none.
                let mut targets = Vec::new();
                for name in names {
                    let target = match self.roles.get(name) {
                        Some(role) => role,
                        None if *if_exists => continue,
                        None => return Err(RoleError::Undefined(name.clone()).into()),
                    };
                    if !actor.may_manage(&target) {
                        return Err(denied("permission denied to drop role"));
                    }
                    if name == session_user {
                        return Err(
                            RoleError::InUse("current user cannot be dropped".to_owned()).into(),
                        );
                    }
                    targets.push(target.name);
                }
                for name in targets {
                    self.roles.drop_role(&name)?;
                }
            }
        }
        Ok(())
    }

    fn role(&self, name: &str) -> Result<Role> {
        self.roles
            .get(name)
            .ok_or_else(|| RoleError::Undefined(name.to_owned()).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(sql: &str) -> RoleCommand {
        parse(sql).unwrap().unwrap()
    }

    #[test]
    fn postgres_role_grammar() {
        assert_eq!(
            parsed("CREATE USER Alice WITH PASSWORD 'pw' CREATEDB CONNECTION LIMIT 3;"),
            RoleCommand::Create {
                name: "alice".to_owned(),
                login: true,
                options: RoleOptions {
                    password: Some(Some(Secret::new("pw"))),
                    create_db: Some(true),
                    connection_limit: Some(3),
                    ..Default::default()
                },
            }
        );
        assert_eq!(
            parsed("create role \"Etl\" nologin nosuperuser"),
            RoleCommand::Create {
                name: "Etl".to_owned(),
                login: false,
                options: RoleOptions {
                    login: Some(false),
                    superuser: Some(false),
                    ..Default::default()
                },
            }
        );
        assert_eq!(
            parsed("ALTER USER CURRENT_USER ENCRYPTED PASSWORD NULL"),
            RoleCommand::Alter {
                name: RoleSpec::SessionUser,
                options: RoleOptions {
                    password: Some(None),
                    ..Default::default()
                },
            }
        );
        assert_eq!(
            parsed("ALTER ROLE a RENAME TO b"),
            RoleCommand::Rename {
                name: RoleSpec::Name("a".to_owned()),
                to: "b".to_owned()
            }
        );
        assert_eq!(
            parsed("DROP ROLE IF EXISTS a, b"),
            RoleCommand::Drop {
                names: vec!["a".to_owned(), "b".to_owned()],
                if_exists: true
            }
        );
        assert!(parse("CREATE TABLE t (a int)").unwrap().is_none());
        assert!(parse("SELECT 1").unwrap().is_none());
    }

    #[test]
    fn errors_never_repeat_the_password() {
        for sql in [
            "CREATE ROLE a PASSWORD 'sekrit' 'sekrit'",
            "CREATE ROLE a PASSWORD 'sekrit' BOGUS",
            "ALTER ROLE a PASSWORD sekrit",
        ] {
            let error = parse(sql).unwrap_err().to_string();
            assert!(!error.contains("sekrit"), "{error}");
        }
    }
}
