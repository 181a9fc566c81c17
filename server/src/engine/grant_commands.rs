//! `GRANT` and `REVOKE`: privileges on catalogs (databases), schemas and
//! tables, and role membership.
//!
//! ```sql
//! GRANT USAGE ON SCHEMA lake.gold TO analyst;
//! GRANT SELECT ON ALL TABLES IN SCHEMA lake.gold TO analyst;   -- present and future
//! GRANT SELECT, INSERT ON lake.silver.orders TO etl;
//! GRANT USAGE ON CATALOG pg TO etl;                            -- or ON DATABASE pg
//! GRANT analyst TO alice;                                      -- membership
//! REVOKE INSERT ON lake.silver.orders FROM etl;
//! ```
//!
//! Object privileges are granted by superusers; role membership by
//! superusers and CREATEROLE roles.

use std::collections::BTreeSet;

use datafusion::common::TableReference;
use datafusion::sql::sqlparser::keywords::Keyword;

use super::Session;
use super::role_commands::{RoleSpec, Words, syntax};
use crate::auth::privileges::{PUBLIC, Privilege, Securable};
use crate::auth::roles::RoleError;
use crate::error::{Result, StrataError};

/// A GRANT or REVOKE statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantCommand {
    Privileges {
        revoke: bool,
        /// `None` is ALL PRIVILEGES.
        privileges: Option<BTreeSet<Privilege>>,
        on: GrantTarget,
        grantees: Vec<Grantee>,
    },
    Membership {
        revoke: bool,
        roles: Vec<String>,
        members: Vec<RoleSpec>,
    },
}

impl GrantCommand {
    pub fn tag(&self) -> &'static str {
        match self {
            GrantCommand::Privileges { revoke: false, .. }
            | GrantCommand::Membership { revoke: false, .. } => "GRANT",
            _ => "REVOKE",
        }
    }
}

/// What privileges are granted on, as written (names not yet resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantTarget {
    Tables(Vec<Vec<String>>),
    /// `ALL TABLES IN SCHEMA s`: every table of the schema, now and later.
    AllTablesIn(Vec<Vec<String>>),
    Schemas(Vec<Vec<String>>),
    Catalogs(Vec<String>),
}

/// Who receives privileges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grantee {
    Public,
    Role(RoleSpec),
}

/// Reads `sql` as GRANT or REVOKE; `None` if it is another statement.
pub fn parse(sql: &str) -> Result<Option<GrantCommand>> {
    let Some(mut words) = Words::of(sql) else {
        return Ok(None);
    };
    let revoke = match words.peek_keyword() {
        Some(Keyword::GRANT) => false,
        Some(Keyword::REVOKE) => true,
        _ => return Ok(None),
    };
    words.advance();
    if revoke && words.peek_keyword() == Some(Keyword::GRANT) {
        return Err(StrataError::NotSupported(
            "REVOKE GRANT OPTION FOR (there is no grant option)".to_owned(),
        ));
    }
    // A privilege list is followed by ON; a role list by TO or FROM.
    let mut listed = Vec::new();
    loop {
        let Some(word) = words.peek_word() else {
            return Err(syntax("expected privileges or role names"));
        };
        words.advance();
        if word == "ALL" {
            words.eat_keyword(Keyword::PRIVILEGES);
        }
        if words.at_paren() {
            return Err(StrataError::NotSupported(
                "column privileges (GRANT ... (columns))".to_owned(),
            ));
        }
        listed.push(word);
        if !words.eat_comma() {
            break;
        }
    }
    let command = if words.eat_keyword(Keyword::ON) {
        let privileges = if listed == ["ALL"] {
            None
        } else {
            let mut set = BTreeSet::new();
            for word in &listed {
                let privilege = Privilege::parse(word).ok_or_else(|| {
                    StrataError::Role(RoleError::InvalidGrant(format!(
                        "unrecognized privilege type \"{}\"",
                        word.to_lowercase()
                    )))
                })?;
                set.insert(privilege);
            }
            Some(set)
        };
        let on = target(&mut words)?;
        if !words.eat_keyword(if revoke { Keyword::FROM } else { Keyword::TO }) {
            return Err(syntax(if revoke {
                "expected FROM"
            } else {
                "expected TO"
            }));
        }
        let grantees = grantees(&mut words)?;
        GrantCommand::Privileges {
            revoke,
            privileges,
            on,
            grantees,
        }
    } else if words.eat_keyword(if revoke { Keyword::FROM } else { Keyword::TO }) {
        let members = grantees(&mut words)?
            .into_iter()
            .map(|g| match g {
                Grantee::Role(spec) => Ok(spec),
                Grantee::Public => Err(StrataError::Role(RoleError::InvalidGrant(
                    "PUBLIC cannot be a member of a role".to_owned(),
                ))),
            })
            .collect::<Result<Vec<_>>>()?;
        GrantCommand::Membership {
            revoke,
            roles: listed.iter().map(|r| r.to_lowercase()).collect(),
            members,
        }
    } else {
        return Err(syntax("expected ON, TO or FROM"));
    };
    if words.eat_keyword(Keyword::WITH) {
        return Err(StrataError::NotSupported(
            "WITH GRANT OPTION and WITH ADMIN OPTION".to_owned(),
        ));
    }
    if words.peek_word().as_deref() == Some("GRANTED") {
        return Err(StrataError::NotSupported("GRANTED BY".to_owned()));
    }
    if revoke {
        let _ = words.eat_keyword(Keyword::CASCADE) || words.eat_keyword(Keyword::RESTRICT);
    }
    words.finish()?;
    Ok(Some(command))
}

fn target(words: &mut Words) -> Result<GrantTarget> {
    let names = |words: &mut Words| -> Result<Vec<Vec<String>>> {
        let mut names = vec![words.qualified_name()?];
        while words.eat_comma() {
            names.push(words.qualified_name()?);
        }
        Ok(names)
    };
    Ok(match words.peek_word().as_deref() {
        Some("TABLE") => {
            words.advance();
            GrantTarget::Tables(names(words)?)
        }
        Some("ALL") => {
            words.advance();
            if words.peek_word().as_deref() != Some("TABLES")
                || !{
                    words.advance();
                    words.eat_keyword(Keyword::IN)
                }
                || !words.eat_keyword(Keyword::SCHEMA)
            {
                return Err(syntax("expected ALL TABLES IN SCHEMA"));
            }
            GrantTarget::AllTablesIn(names(words)?)
        }
        Some("SCHEMA") => {
            words.advance();
            GrantTarget::Schemas(names(words)?)
        }
        Some("CATALOG" | "DATABASE") => {
            words.advance();
            let mut catalogs = vec![words.name()?];
            while words.eat_comma() {
                catalogs.push(words.name()?);
            }
            GrantTarget::Catalogs(catalogs)
        }
        Some(
            "SEQUENCE" | "FUNCTION" | "PROCEDURE" | "ROUTINE" | "TYPE" | "DOMAIN" | "LANGUAGE"
            | "FOREIGN" | "TABLESPACE" | "LARGE",
        ) => {
            return Err(StrataError::NotSupported(
                "privileges on objects other than catalogs, schemas and tables".to_owned(),
            ));
        }
        _ => GrantTarget::Tables(names(words)?),
    })
}

fn grantees(words: &mut Words) -> Result<Vec<Grantee>> {
    let mut grantees = Vec::new();
    loop {
        words.eat_keyword(Keyword::GROUP);
        let grantee = match words.peek_keyword() {
            Some(Keyword::CURRENT_USER | Keyword::SESSION_USER | Keyword::CURRENT_ROLE) => {
                words.advance();
                Grantee::Role(RoleSpec::SessionUser)
            }
            Some(Keyword::PUBLIC) => {
                words.advance();
                Grantee::Public
            }
            _ => Grantee::Role(RoleSpec::Name(words.name()?)),
        };
        grantees.push(grantee);
        if !words.eat_comma() {
            return Ok(grantees);
        }
    }
}

impl Session {
    /// Runs GRANT or REVOKE for this session's user.
    pub(super) fn run_grant(&self, command: &GrantCommand) -> Result<()> {
        let user = self.info.user.clone();
        let principal = self.engine.roles.principal(&user);
        let roles = &self.engine.roles;
        match command {
            GrantCommand::Privileges {
                revoke,
                privileges,
                on,
                grantees,
            } => {
                principal.check_superuser("grant or revoke privileges")?;
                let grantees: Vec<String> = grantees
                    .iter()
                    .map(|g| match g {
                        Grantee::Public => PUBLIC.to_owned(),
                        Grantee::Role(spec) => spec.resolve(&user),
                    })
                    .collect();
                for object in self.securables(on)? {
                    let privileges = match privileges {
                        Some(set) => set.clone(),
                        None if matches!(object, Securable::Table { .. }) => {
                            BTreeSet::from(Privilege::TABLE)
                        }
                        None => BTreeSet::from(Privilege::ALL),
                    };
                    if let Some(wrong) = privileges.iter().find(|p| !object.grantable(**p)) {
                        return Err(RoleError::InvalidGrant(format!(
                            "invalid privilege type {} for table",
                            wrong.name()
                        ))
                        .into());
                    }
                    roles.change_grants(&grantees, &object, &privileges, *revoke)?;
                }
            }
            GrantCommand::Membership {
                revoke,
                roles: granted,
                members,
            } => {
                let may = granted
                    .iter()
                    .all(|r| roles.get(r).is_none_or(|r| principal.may_manage(&r)));
                if !may {
                    return Err(RoleError::PermissionDenied(
                        "permission denied to grant or revoke role membership".to_owned(),
                    )
                    .into());
                }
                let members: Vec<String> = members.iter().map(|m| m.resolve(&user)).collect();
                roles.change_membership(granted, &members, *revoke)?;
            }
        }
        Ok(())
    }

    /// The objects a GRANT names, resolved against the session's database
    /// and schema, each checked to exist.
    fn securables(&self, on: &GrantTarget) -> Result<Vec<Securable>> {
        let catalog_of = |name: &str| -> Result<()> {
            match self.engine.catalogs.catalog(name) {
                Some(_) => Ok(()),
                None => Err(StrataError::UndefinedDatabase(name.to_owned())),
            }
        };
        let schema_of = |parts: &[String]| -> Result<Securable> {
            let (catalog, schema): (String, String) = match parts {
                [schema] => (self.default_catalog(), schema.clone()),
                [catalog, schema] => (catalog.clone(), schema.clone()),
                _ => return Err(syntax("a schema name has one or two parts")),
            };
            catalog_of(&catalog)?;
            let exists = self
                .engine
                .catalogs
                .catalog(&catalog)
                .is_some_and(|c| c.schema(&schema).is_some());
            if !exists {
                return Err(StrataError::UndefinedSchema(format!("{catalog}.{schema}")));
            }
            Ok(Securable::schema(&catalog, &schema))
        };
        let mut objects = Vec::new();
        match on {
            GrantTarget::Catalogs(names) => {
                for name in names {
                    catalog_of(name)?;
                    objects.push(Securable::catalog(name));
                }
            }
            GrantTarget::Schemas(names) | GrantTarget::AllTablesIn(names) => {
                for parts in names {
                    objects.push(schema_of(parts)?);
                }
            }
            GrantTarget::Tables(names) => {
                for parts in names {
                    let reference = match parts.as_slice() {
                        [t] => TableReference::bare(t.as_str()),
                        [s, t] => TableReference::partial(s.as_str(), t.as_str()),
                        [c, s, t] => TableReference::full(c.as_str(), s.as_str(), t.as_str()),
                        _ => return Err(syntax("a table name has one to three parts")),
                    };
                    let resolved = self.resolve(&reference);
                    let exists = self
                        .engine
                        .catalogs
                        .catalog(&resolved.catalog)
                        .and_then(|c| c.schema(&resolved.schema))
                        .is_some_and(|s| s.table_exist(&resolved.table));
                    if !exists {
                        return Err(StrataError::UndefinedTable(reference.to_string()));
                    }
                    objects.push(Securable::table(
                        &resolved.catalog,
                        &resolved.schema,
                        &resolved.table,
                    ));
                }
            }
        }
        Ok(objects)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(sql: &str) -> GrantCommand {
        parse(sql).unwrap().unwrap()
    }

    #[test]
    fn postgres_and_unity_grant_grammar() {
        assert_eq!(
            parsed("GRANT SELECT ON ALL TABLES IN SCHEMA lake.gold TO analyst, \"Bob\""),
            GrantCommand::Privileges {
                revoke: false,
                privileges: Some(BTreeSet::from([Privilege::Select])),
                on: GrantTarget::AllTablesIn(vec![vec!["lake".into(), "gold".into()]]),
                grantees: vec![
                    Grantee::Role(RoleSpec::Name("analyst".into())),
                    Grantee::Role(RoleSpec::Name("Bob".into()))
                ],
            }
        );
        assert_eq!(
            parsed("grant all privileges on table orders to public"),
            GrantCommand::Privileges {
                revoke: false,
                privileges: None,
                on: GrantTarget::Tables(vec![vec!["orders".into()]]),
                grantees: vec![Grantee::Public],
            }
        );
        assert_eq!(
            parsed("REVOKE USAGE ON CATALOG pg FROM etl CASCADE"),
            GrantCommand::Privileges {
                revoke: true,
                privileges: Some(BTreeSet::from([Privilege::Usage])),
                on: GrantTarget::Catalogs(vec!["pg".into()]),
                grantees: vec![Grantee::Role(RoleSpec::Name("etl".into()))],
            }
        );
        assert_eq!(
            parsed("GRANT analyst TO alice"),
            GrantCommand::Membership {
                revoke: false,
                roles: vec!["analyst".into()],
                members: vec![RoleSpec::Name("alice".into())],
            }
        );
        assert!(parse("GRANT SELECT ON t TO a WITH GRANT OPTION").is_err());
        assert!(parse("GRANT FLY ON t TO a").is_err());
        assert!(parse("SELECT 1").unwrap().is_none());
    }
}
