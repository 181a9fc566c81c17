//! `pg_roles`, `pg_authid`, `pg_user` and `pg_auth_members` from Strata's
//! roles, so psql's `\du` and tools' user lists show them and whom they
//! are members of. Passwords are never shown:
//! `rolpassword` and `passwd` read `********` for a role with one (as
//! PostgreSQL's views do) and `pg_authid.rolpassword` is NULL, where
//! PostgreSQL would expose the verifier.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int32Array, ListBuilder, RecordBatch, StringArray, StringBuilder,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::error::Result;

use crate::auth::roles::{Role, RoleStore};

const PG_ROLES: &str = "pg_roles";
const PG_AUTHID: &str = "pg_authid";
const PG_USER: &str = "pg_user";
const PG_AUTH_MEMBERS: &str = "pg_auth_members";
const TABLES: [&str; 4] = [PG_ROLES, PG_AUTHID, PG_USER, PG_AUTH_MEMBERS];
const HIDDEN_PASSWORD: &str = "********";

/// pg_catalog with the role tables answered from Strata's roles.
#[derive(Debug)]
pub struct PgCatalogWithRoles {
    inner: Arc<dyn SchemaProvider>,
    roles: Arc<RoleStore>,
}

impl PgCatalogWithRoles {
    pub fn new(inner: Arc<dyn SchemaProvider>, roles: Arc<RoleStore>) -> Self {
        Self { inner, roles }
    }

    fn batch(&self, table: &str) -> Result<Option<RecordBatch>> {
        let roles = self.roles.roles();
        Ok(Some(match table {
            PG_ROLES => roles_batch(&roles, false)?,
            PG_AUTHID => roles_batch(&roles, true)?,
            PG_USER => users_batch(&roles)?,
            PG_AUTH_MEMBERS => members_batch(&roles)?,
            _ => return Ok(None),
        }))
    }
}

fn is_role_table(name: &str) -> Option<&'static str> {
    TABLES
        .into_iter()
        .find(|table| name.eq_ignore_ascii_case(table))
}

#[async_trait]
impl SchemaProvider for PgCatalogWithRoles {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.inner.table_names();
        for table in TABLES {
            if !names.iter().any(|n| n == table) {
                names.push(table.to_owned());
            }
        }
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(table) = is_role_table(name)
            && let Some(batch) = self.batch(table)?
        {
            let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
            return Ok(Some(Arc::new(table)));
        }
        self.inner.table(name).await
    }

    fn table_exist(&self, name: &str) -> bool {
        is_role_table(name).is_some() || self.inner.table_exist(name)
    }
}

fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC")))
}

fn text_list() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

/// pg_roles' columns (PostgreSQL's order), or pg_authid's.
fn roles_schema(authid: bool) -> SchemaRef {
    let flag = |name: &str| Field::new(name, DataType::Boolean, false);
    let mut fields = vec![
        Field::new("rolname", DataType::Utf8, false),
        flag("rolsuper"),
        flag("rolinherit"),
        flag("rolcreaterole"),
        flag("rolcreatedb"),
        flag("rolcanlogin"),
        flag("rolreplication"),
    ];
    if authid {
        fields.insert(0, Field::new("oid", DataType::Int32, false));
        fields.push(flag("rolbypassrls"));
        fields.push(Field::new("rolconnlimit", DataType::Int32, false));
        fields.push(Field::new("rolpassword", DataType::Utf8, true));
        fields.push(Field::new("rolvaliduntil", timestamp(), true));
    } else {
        fields.push(Field::new("rolconnlimit", DataType::Int32, false));
        fields.push(Field::new("rolpassword", DataType::Utf8, true));
        fields.push(Field::new("rolvaliduntil", timestamp(), true));
        fields.push(flag("rolbypassrls"));
        fields.push(Field::new("rolconfig", text_list(), true));
        fields.push(Field::new("oid", DataType::Int32, false));
    }
    Arc::new(Schema::new(fields))
}

fn roles_batch(roles: &[Role], authid: bool) -> Result<RecordBatch> {
    let schema = roles_schema(authid);
    let flag = |f: fn(&Role) -> bool| -> ArrayRef {
        Arc::new(BooleanArray::from_iter(roles.iter().map(|r| Some(f(r)))))
    };
    let columns = schema
        .fields()
        .iter()
        .map(|field| -> ArrayRef {
            match field.name().as_str() {
                "oid" => Arc::new(Int32Array::from_iter_values(
                    roles.iter().map(|r| r.oid as i32),
                )),
                "rolname" => Arc::new(StringArray::from_iter_values(
                    roles.iter().map(|r| r.name.as_str()),
                )),
                "rolsuper" => flag(|r| r.superuser),
                "rolinherit" => flag(|r| r.inherit),
                "rolcreaterole" => flag(|r| r.create_role),
                "rolcreatedb" => flag(|r| r.create_db),
                "rolcanlogin" => flag(|r| r.login),
                "rolreplication" => flag(|r| r.replication),
                "rolbypassrls" => flag(|r| r.bypass_rls),
                "rolconnlimit" => Arc::new(Int32Array::from_iter_values(
                    roles.iter().map(|r| r.connection_limit),
                )),
                "rolpassword" => {
                    Arc::new(StringArray::from_iter(roles.iter().map(|r| {
                        (!authid && r.verifier.is_some()).then_some(HIDDEN_PASSWORD)
                    })))
                }
                "rolvaliduntil" => Arc::new(
                    TimestampMicrosecondArray::from(vec![None; roles.len()]).with_timezone("UTC"),
                ),
                _ => null_text_lists(roles.len()),
            }
        })
        .collect();
    Ok(RecordBatch::try_new(schema, columns)?)
}

fn null_text_lists(rows: usize) -> ArrayRef {
    let mut builder = ListBuilder::new(StringBuilder::new());
    for _ in 0..rows {
        builder.append(false);
    }
    Arc::new(builder.finish())
}

/// pg_user: the roles that can log in.
fn users_batch(roles: &[Role]) -> Result<RecordBatch> {
    let users: Vec<&Role> = roles.iter().filter(|r| r.login).collect();
    let flag = |name: &str| Field::new(name, DataType::Boolean, false);
    let schema = Arc::new(Schema::new(vec![
        Field::new("usename", DataType::Utf8, false),
        Field::new("usesysid", DataType::Int32, false),
        flag("usecreatedb"),
        flag("usesuper"),
        flag("userepl"),
        flag("usebypassrls"),
        Field::new("passwd", DataType::Utf8, true),
        Field::new("valuntil", timestamp(), true),
        Field::new("useconfig", text_list(), true),
    ]));
    let flags = |f: fn(&Role) -> bool| -> ArrayRef {
        Arc::new(BooleanArray::from_iter(users.iter().map(|r| Some(f(r)))))
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            users.iter().map(|r| r.name.as_str()),
        )),
        Arc::new(Int32Array::from_iter_values(
            users.iter().map(|r| r.oid as i32),
        )),
        flags(|r| r.create_db),
        flags(|r| r.superuser),
        flags(|r| r.replication),
        flags(|r| r.bypass_rls),
        Arc::new(StringArray::from_iter(
            users
                .iter()
                .map(|r| r.verifier.is_some().then_some(HIDDEN_PASSWORD)),
        )),
        Arc::new(TimestampMicrosecondArray::from(vec![None; users.len()]).with_timezone("UTC")),
        null_text_lists(users.len()),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// pg_auth_members: one row per membership (`GRANT role TO member`), the
/// administrator as grantor; no admin option, inherit and set as PostgreSQL
/// 16 defaults them.
fn members_batch(roles: &[Role]) -> Result<RecordBatch> {
    let oid_of = |name: &str| roles.iter().find(|r| r.name == name).map(|r| r.oid as i32);
    let mut pairs: Vec<(i32, i32)> = Vec::new();
    for member in roles {
        for granted in &member.member_of {
            if let Some(role) = oid_of(granted) {
                pairs.push((role, member.oid as i32));
            }
        }
    }
    let flag = |name: &str| Field::new(name, DataType::Boolean, false);
    let int = |name: &str| Field::new(name, DataType::Int32, false);
    let schema = Arc::new(Schema::new(vec![
        int("oid"),
        int("roleid"),
        int("member"),
        int("grantor"),
        flag("admin_option"),
        flag("inherit_option"),
        flag("set_option"),
    ]));
    let n = pairs.len();
    let bools = |value: bool| -> ArrayRef { Arc::new(BooleanArray::from(vec![value; n])) };
    let columns: Vec<ArrayRef> = vec![
        // Memberships have no oids of their own in Strata; 0 as a catalog
        // row without one.
        Arc::new(Int32Array::from(vec![0; n])),
        Arc::new(Int32Array::from_iter_values(pairs.iter().map(|p| p.0))),
        Arc::new(Int32Array::from_iter_values(pairs.iter().map(|p| p.1))),
        Arc::new(Int32Array::from(vec![
            crate::auth::roles::ADMIN_OID as i32;
            n
        ])),
        bools(false),
        bools(true),
        bools(true),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}
