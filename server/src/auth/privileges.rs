//! Privileges granted on catalogs, schemas and tables, and what a role may
//! do with them.
//!
//! Reading or writing a table takes, as in PostgreSQL and Unity Catalog,
//! USAGE on its catalog (a database: the lake or a source), USAGE on its
//! schema, and the privilege itself on the table, on its schema (all its
//! tables, present and future) or on its catalog. Superusers may do
//! everything. New data folders grant USAGE on the lake and on
//! `lake.public` to PUBLIC, as PostgreSQL grants CONNECT on databases and
//! USAGE on `public`.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::roles::{Role, RoleError};

/// The pseudo-role every role belongs to.
pub const PUBLIC: &str = "public";

/// A privilege that can be granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Privilege {
    Usage,
    Create,
    Select,
    Insert,
    Update,
    Delete,
}

impl Privilege {
    /// Every privilege (`GRANT ALL` on a schema or database).
    pub const ALL: [Privilege; 6] = [
        Privilege::Usage,
        Privilege::Create,
        Privilege::Select,
        Privilege::Insert,
        Privilege::Update,
        Privilege::Delete,
    ];

    /// The privileges on tables (`GRANT ALL` on a table).
    pub const TABLE: [Privilege; 4] = [
        Privilege::Select,
        Privilege::Insert,
        Privilege::Update,
        Privilege::Delete,
    ];

    /// The privilege a keyword names (`SELECT`, `usage`).
    pub fn parse(word: &str) -> Option<Self> {
        Some(match word.to_ascii_uppercase().as_str() {
            "USAGE" => Privilege::Usage,
            "CREATE" => Privilege::Create,
            "SELECT" => Privilege::Select,
            "INSERT" => Privilege::Insert,
            "UPDATE" => Privilege::Update,
            "DELETE" | "TRUNCATE" => Privilege::Delete,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Privilege::Usage => "USAGE",
            Privilege::Create => "CREATE",
            Privilege::Select => "SELECT",
            Privilege::Insert => "INSERT",
            Privilege::Update => "UPDATE",
            Privilege::Delete => "DELETE",
        }
    }
}

/// What privileges are granted on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "on", rename_all = "lowercase")]
pub enum Securable {
    /// A database: the lake or a source. Table privileges granted here
    /// cover all of its tables.
    Catalog { catalog: String },
    /// Table privileges granted here cover all of the schema's tables.
    Schema { catalog: String, schema: String },
    Table {
        catalog: String,
        schema: String,
        table: String,
    },
}

impl Securable {
    /// True if `other` is this object or lies in it (a schema's tables, a
    /// database's schemas and tables).
    pub fn holds(&self, other: &Securable) -> bool {
        other.covering().contains(self)
    }

    pub fn table(catalog: &str, schema: &str, table: &str) -> Self {
        Securable::Table {
            catalog: catalog.to_owned(),
            schema: schema.to_owned(),
            table: table.to_owned(),
        }
    }

    pub fn schema(catalog: &str, schema: &str) -> Self {
        Securable::Schema {
            catalog: catalog.to_owned(),
            schema: schema.to_owned(),
        }
    }

    pub fn catalog(catalog: &str) -> Self {
        Securable::Catalog {
            catalog: catalog.to_owned(),
        }
    }

    /// The privileges that may be granted on this kind of object.
    pub fn grantable(&self, privilege: Privilege) -> bool {
        match self {
            Securable::Catalog { .. } | Securable::Schema { .. } => true,
            Securable::Table { .. } => Privilege::TABLE.contains(&privilege),
        }
    }

    /// The objects whose grants also apply to this one, itself first.
    fn covering(&self) -> Vec<Securable> {
        match self {
            Securable::Catalog { .. } => vec![self.clone()],
            Securable::Schema { catalog, .. } => vec![self.clone(), Securable::catalog(catalog)],
            Securable::Table {
                catalog, schema, ..
            } => vec![
                self.clone(),
                Securable::schema(catalog, schema),
                Securable::catalog(catalog),
            ],
        }
    }
}

impl fmt::Display for Securable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Securable::Catalog { catalog } => write!(f, "database {catalog}"),
            Securable::Schema { catalog, schema } => write!(f, "schema {catalog}.{schema}"),
            Securable::Table {
                catalog,
                schema,
                table,
            } => write!(f, "table {catalog}.{schema}.{table}"),
        }
    }
}

/// Privileges one grantee holds on one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantEntry {
    /// A role's name or [`PUBLIC`].
    pub grantee: String,
    pub object: Securable,
    pub privileges: BTreeSet<Privilege>,
}

/// The grants a new data folder starts with.
pub fn default_grants(lake: &str) -> Vec<GrantEntry> {
    [Securable::catalog(lake), Securable::schema(lake, "public")]
        .into_iter()
        .map(|object| GrantEntry {
            grantee: PUBLIC.to_owned(),
            object,
            privileges: BTreeSet::from([Privilege::Usage]),
        })
        .collect()
}

/// What a session's role may do, read from the grants when a statement
/// starts.
#[derive(Debug, Clone)]
pub struct Principal {
    pub name: String,
    pub superuser: bool,
    /// CREATEROLE: may manage roles that are not superusers.
    pub create_role: bool,
    /// The grants to the role, to the roles it inherits from and to PUBLIC.
    pub grants: Vec<GrantEntry>,
}

impl Principal {
    /// A principal that may do everything.
    pub fn superuser(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            superuser: true,
            create_role: true,
            grants: Vec::new(),
        }
    }

    /// Whether this role may create, change, drop or grant `target`, as
    /// PostgreSQL decides: superusers any role, CREATEROLE roles the others.
    pub fn may_manage(&self, target: &Role) -> bool {
        self.superuser || (self.create_role && !target.superuser)
    }

    /// True if `privilege` was granted on `object` or on what contains it.
    pub fn holds(&self, privilege: Privilege, object: &Securable) -> bool {
        if self.superuser {
            return true;
        }
        let covering = object.covering();
        self.grants
            .iter()
            .any(|g| g.privileges.contains(&privilege) && covering.contains(&g.object))
    }

    /// USAGE on the catalog and, for a schema or table, on the schema.
    pub fn check_usage(&self, object: &Securable) -> Result<(), RoleError> {
        let (catalog, schema) = match object {
            Securable::Catalog { catalog } => (catalog, None),
            Securable::Schema { catalog, schema }
            | Securable::Table {
                catalog, schema, ..
            } => (catalog, Some(schema)),
        };
        let database = Securable::catalog(catalog);
        if !self.holds_exactly(Privilege::Usage, &database) {
            return Err(denied(&database));
        }
        if let Some(schema) = schema {
            let schema = Securable::schema(catalog, schema);
            if !self.holds_exactly(Privilege::Usage, &schema) {
                return Err(denied(&schema));
            }
        }
        Ok(())
    }

    /// `privilege` on `object`, with the USAGE that reaching it takes.
    pub fn check(&self, privilege: Privilege, object: &Securable) -> Result<(), RoleError> {
        if self.superuser {
            return Ok(());
        }
        self.check_usage(object)?;
        if privilege != Privilege::Usage && !self.holds(privilege, object) {
            return Err(denied(object));
        }
        Ok(())
    }

    /// USAGE is granted on the object itself, never inherited from the
    /// catalog a schema is in.
    fn holds_exactly(&self, privilege: Privilege, object: &Securable) -> bool {
        self.superuser
            || self
                .grants
                .iter()
                .any(|g| g.privileges.contains(&privilege) && &g.object == object)
    }

    /// Whether catalog listings show the schema: one the role may use.
    pub fn sees_schema(&self, catalog: &str, schema: &str) -> bool {
        self.check_usage(&Securable::schema(catalog, schema))
            .is_ok()
    }

    /// Whether catalog listings show the table: one the role may reach and
    /// holds a privilege on.
    pub fn sees_table(&self, catalog: &str, schema: &str, table: &str) -> bool {
        let table = Securable::table(catalog, schema, table);
        self.check_usage(&table).is_ok() && Privilege::TABLE.iter().any(|p| self.holds(*p, &table))
    }

    /// Only superusers may do `what`.
    pub fn check_superuser(&self, what: &str) -> Result<(), RoleError> {
        if self.superuser {
            Ok(())
        } else {
            Err(RoleError::PermissionDenied(format!(
                "permission denied to {what}: only superusers may"
            )))
        }
    }
}

fn denied(object: &Securable) -> RoleError {
    RoleError::PermissionDenied(format!("permission denied for {object}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analyst(grants: &[(Privilege, Securable)]) -> Principal {
        let mut all = default_grants("lake");
        all.extend(grants.iter().map(|(p, o)| GrantEntry {
            grantee: "analyst".to_owned(),
            object: o.clone(),
            privileges: BTreeSet::from([*p]),
        }));
        Principal {
            name: "analyst".to_owned(),
            superuser: false,
            create_role: false,
            grants: all,
        }
    }

    #[test]
    fn reading_a_table_takes_usage_on_its_schema_and_select() {
        let orders = Securable::table("lake", "gold", "orders");
        let none = analyst(&[]);
        assert_eq!(
            none.check(Privilege::Select, &orders)
                .unwrap_err()
                .to_string(),
            "permission denied for schema lake.gold"
        );
        let usage = analyst(&[(Privilege::Usage, Securable::schema("lake", "gold"))]);
        assert_eq!(
            usage
                .check(Privilege::Select, &orders)
                .unwrap_err()
                .to_string(),
            "permission denied for table lake.gold.orders"
        );
        let reader = analyst(&[
            (Privilege::Usage, Securable::schema("lake", "gold")),
            (Privilege::Select, Securable::schema("lake", "gold")),
        ]);
        assert!(reader.check(Privilege::Select, &orders).is_ok());
        assert!(reader.check(Privilege::Insert, &orders).is_err());
        assert!(
            reader
                .check(
                    Privilege::Select,
                    &Securable::table("lake", "silver", "orders")
                )
                .is_err()
        );
        // A source needs USAGE on its database.
        let source = Securable::table("pg", "public", "t");
        assert_eq!(
            reader
                .check(Privilege::Select, &source)
                .unwrap_err()
                .to_string(),
            "permission denied for database pg"
        );
        assert!(
            Principal::superuser("strata")
                .check(Privilege::Delete, &source)
                .is_ok()
        );
    }
}
