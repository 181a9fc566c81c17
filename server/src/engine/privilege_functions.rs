//! `has_table_privilege`, `has_schema_privilege`, `has_database_privilege`
//! and `has_any_column_privilege`, answered from the grants (the
//! datafusion-pg-catalog versions say yes to everything).
//!
//! As in PostgreSQL: the role is the session's user unless named first (by
//! name or oid); the object is a name or an oid; the privilege text may
//! list several (`'SELECT, INSERT'`), any of which is enough; a table
//! privilege holds however it was granted (on the table, its schema or its
//! database), USAGE on a schema only if granted on that schema.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::CatalogOptions;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::catalog::CatalogStore;
use super::pg_relations::identifier_parts;
use crate::auth::privileges::{Principal, Privilege, Securable};
use crate::auth::roles::RoleStore;

/// What kind of object a function asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Object {
    Table,
    Schema,
    Database,
}

/// One `has_*_privilege` function of one session.
struct HasPrivilege {
    name: &'static str,
    object: Object,
    signature: Signature,
    user: String,
    roles: Arc<RoleStore>,
    store: Arc<CatalogStore>,
}

impl std::fmt::Debug for HasPrivilege {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HasPrivilege")
            .field("name", &self.name)
            .finish()
    }
}

impl PartialEq for HasPrivilege {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.user == other.user
    }
}

impl Eq for HasPrivilege {}

impl std::hash::Hash for HasPrivilege {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.user.hash(state);
    }
}

/// The session's privilege functions for `user`.
pub fn privilege_functions(
    user: &str,
    roles: &Arc<RoleStore>,
    store: &Arc<CatalogStore>,
) -> Vec<ScalarUDF> {
    [
        ("has_table_privilege", Object::Table),
        ("has_any_column_privilege", Object::Table),
        ("has_schema_privilege", Object::Schema),
        ("has_database_privilege", Object::Database),
    ]
    .into_iter()
    .map(|(name, object)| {
        ScalarUDF::new_from_impl(HasPrivilege {
            name,
            object,
            signature: Signature::variadic_any(Volatility::Stable),
            user: user.to_owned(),
            roles: Arc::clone(roles),
            store: Arc::clone(store),
        })
    })
    .collect()
}

impl ScalarUDFImpl for HasPrivilege {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let texts = args
            .args
            .iter()
            .map(|arg| cast(&arg.to_array(rows)?, &DataType::Utf8))
            .collect::<std::result::Result<Vec<ArrayRef>, _>>()?;
        let (user, object, privilege) = match texts.as_slice() {
            [object, privilege] => (None, object, privilege),
            [user, object, privilege] => (Some(user), object, privilege),
            _ => {
                return Err(datafusion::error::DataFusionError::Plan(format!(
                    "{} takes 2 or 3 arguments",
                    self.name
                )));
            }
        };
        let catalog = &args.config_options.catalog;
        let answers: BooleanArray = (0..rows)
            .map(|row| {
                let text = |array: &ArrayRef| {
                    (!array.is_null(row)).then(|| array.as_string::<i32>().value(row).to_owned())
                };
                let principal = match user {
                    None => self.roles.principal(&self.user),
                    Some(user) => self.principal_of(&text(user)?),
                };
                let object = self.object(&text(object)?, catalog)?;
                Some(self.holds(&principal, &object, &text(privilege)?))
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(answers)))
    }
}

impl HasPrivilege {
    /// A role named or given by oid.
    fn principal_of(&self, user: &str) -> Principal {
        let name = match user.trim().parse::<u32>() {
            Ok(oid) => self
                .roles
                .roles()
                .into_iter()
                .find(|r| r.oid == oid)
                .map_or_else(|| user.to_owned(), |r| r.name),
            Err(_) => user.to_owned(),
        };
        self.roles.principal(&name)
    }

    /// The object a name or oid stands for, in the session's database and
    /// schema when not qualified.
    fn object(&self, text: &str, session: &CatalogOptions) -> Option<Securable> {
        let name = match text.trim().parse::<u32>() {
            Ok(oid) => {
                let key = self.store.object_of(oid)?;
                let (_, name) = key.split_once(' ')?;
                name.to_owned()
            }
            Err(_) => text.to_owned(),
        };
        let parts = identifier_parts(&name)?;
        let catalog = session.default_catalog.as_str();
        let schema = session.default_schema.as_str();
        Some(match (self.object, parts.as_slice()) {
            (Object::Table, [t]) => Securable::table(catalog, schema, t),
            (Object::Table, [s, t]) => Securable::table(catalog, s, t),
            (Object::Table, [c, s, t]) => Securable::table(c, s, t),
            (Object::Schema, [s]) => Securable::schema(catalog, s),
            (Object::Schema, [c, s]) => Securable::schema(c, s),
            (Object::Database, [c]) => Securable::catalog(c),
            _ => return None,
        })
    }

    fn holds(&self, principal: &Principal, object: &Securable, privileges: &str) -> bool {
        privileges.split(',').any(|privilege| {
            let privilege = privilege.trim().to_ascii_uppercase();
            if privilege.ends_with("WITH GRANT OPTION") {
                // Only superusers grant.
                return principal.superuser;
            }
            let privilege = match (self.object, privilege.as_str()) {
                (Object::Database, "CONNECT") => Some(Privilege::Usage),
                (Object::Database, "TEMP" | "TEMPORARY") => None,
                (_, other) => Privilege::parse(other),
            };
            match privilege {
                Some(Privilege::Usage) => principal.check_usage(object).is_ok(),
                Some(privilege) => principal.holds(privilege, object),
                None => principal.superuser,
            }
        })
    }
}
