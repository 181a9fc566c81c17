//! Privilege checks on what a statement really touches: the resolved
//! logical plan, walked with its subqueries, every table scanned (and the
//! tables inside every view scanned, as PostgreSQL's `security_invoker`
//! views check them) and every write target. No query shape gets around
//! it: a scan is a scan wherever it sits in the plan.
//!
//! DDL takes CREATE on the schema (tables and views) or on the database
//! (schemas); what reaches files on the server (external tables, COPY to
//! a file, COPY INTO from a local path) and sources (ATTACH, DETACH,
//! their read options) only superusers may do.

use datafusion::catalog::default_table_source::source_as_provider;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{SchemaReference, TableReference};
use datafusion::datasource::ViewTable;
use datafusion::logical_expr::{DdlStatement, LogicalPlan, WriteOp};
use strata_connectors::lake::catalog::SYSTEM_SCHEMAS;

use std::sync::Arc;

use super::Session;
use super::lake_syntax::LakeCommand;
use crate::auth::privileges::{Principal, Privilege, Securable};
use crate::auth::roles::{RoleError, RoleStore};
use crate::error::{Result, StrataError};

/// The session's user on its configuration, so that the catalog tables
/// show each role only what it may use.
#[derive(Debug)]
pub struct SessionRole {
    pub user: String,
    pub roles: Arc<RoleStore>,
}

/// Who is looking at a catalog table: `None` for a superuser, who sees
/// everything (and for a scan outside a session).
pub(super) fn viewer(state: &dyn datafusion::catalog::Session) -> Option<Principal> {
    let role = state.config().get_extension::<SessionRole>()?;
    let principal = role.roles.principal(&role.user);
    (!principal.superuser).then_some(principal)
}

/// Whether `viewer` sees the table (system schemas' are seen by all).
pub(super) fn sees_table(
    viewer: Option<&Principal>,
    catalog: &str,
    schema: &str,
    table: &str,
) -> bool {
    SYSTEM_SCHEMAS.contains(&schema) || viewer.is_none_or(|v| v.sees_table(catalog, schema, table))
}

/// Whether `viewer` sees the schema.
pub(super) fn sees_schema(viewer: Option<&Principal>, catalog: &str, schema: &str) -> bool {
    SYSTEM_SCHEMAS.contains(&schema) || viewer.is_none_or(|v| v.sees_schema(catalog, schema))
}

impl Session {
    /// What this session's role may do now.
    pub(super) fn principal(&self) -> Principal {
        self.engine.roles.principal(&self.info.user)
    }

    /// Checks that this session's role may run `plan`.
    pub(super) fn authorize(&self, plan: &LogicalPlan) -> Result<()> {
        let principal = self.principal();
        if principal.superuser {
            return Ok(());
        }
        self.check_plan(&principal, plan)
    }

    fn check_plan(&self, principal: &Principal, plan: &LogicalPlan) -> Result<()> {
        let mut failure: Option<StrataError> = None;
        let mut views: Vec<LogicalPlan> = Vec::new();
        plan.apply_with_subqueries(|node| match self.check_node(principal, node, &mut views) {
            Ok(()) => Ok(TreeNodeRecursion::Continue),
            Err(e) => {
                failure = Some(e);
                Ok(TreeNodeRecursion::Stop)
            }
        })?;
        if let Some(failure) = failure {
            return Err(failure);
        }
        for view in views {
            self.check_plan(principal, &view)?;
        }
        Ok(())
    }

    fn check_node(
        &self,
        principal: &Principal,
        node: &LogicalPlan,
        views: &mut Vec<LogicalPlan>,
    ) -> Result<()> {
        match node {
            LogicalPlan::TableScan(scan) => {
                let Some(table) = self.securable(&scan.table_name) else {
                    return Ok(());
                };
                principal.check(Privilege::Select, &table)?;
                if let Ok(provider) = source_as_provider(&scan.source)
                    && let Some(view) = provider.downcast_ref::<ViewTable>()
                {
                    views.push(view.logical_plan().clone());
                }
            }
            LogicalPlan::Dml(dml) => {
                let privilege = match dml.op {
                    WriteOp::Insert(_) => Privilege::Insert,
                    WriteOp::Update => Privilege::Update,
                    WriteOp::Delete | WriteOp::Truncate => Privilege::Delete,
                    WriteOp::Ctas => return self.check_create_in(principal, &dml.table_name),
                    // A kind of write DataFusion may add later.
                    _ => {
                        principal.check_superuser(&format!("run {}", dml.op.name()))?;
                        return Ok(());
                    }
                };
                if let Some(table) = self.securable(&dml.table_name) {
                    principal.check(privilege, &table)?;
                }
            }
            LogicalPlan::Ddl(ddl) => match ddl {
                DdlStatement::CreateMemoryTable(create) => {
                    self.check_create_in(principal, &create.name)?;
                }
                DdlStatement::CreateView(create) => {
                    self.check_create_in(principal, &create.name)?;
                }
                DdlStatement::DropTable(drop) => self.check_create_in(principal, &drop.name)?,
                DdlStatement::DropView(drop) => self.check_create_in(principal, &drop.name)?,
                DdlStatement::CreateCatalogSchema(create) => {
                    let catalog = match create.schema_name.split_once('.') {
                        Some((catalog, _)) => catalog.to_owned(),
                        None => self.default_catalog(),
                    };
                    principal.check(Privilege::Create, &Securable::catalog(&catalog))?;
                }
                DdlStatement::DropCatalogSchema(drop) => {
                    let catalog = match &drop.name {
                        SchemaReference::Bare { .. } => self.default_catalog(),
                        SchemaReference::Full { catalog, .. } => catalog.to_string(),
                    };
                    principal.check(Privilege::Create, &Securable::catalog(&catalog))?;
                }
                DdlStatement::CreateExternalTable(_) => {
                    principal.check_superuser("create an external table (it reads server files)")?
                }
                other => principal.check_superuser(&format!("run {}", other.name()))?,
            },
            LogicalPlan::Copy(_) => {
                principal.check_superuser("COPY to a file on the server")?;
            }
            _ => {}
        }
        Ok(())
    }

    /// CREATE on the schema `table` is (to be) in.
    fn check_create_in(&self, principal: &Principal, table: &TableReference) -> Result<()> {
        let resolved = self.resolve(table);
        if SYSTEM_SCHEMAS.contains(&resolved.schema.as_ref()) {
            return Err(RoleError::PermissionDenied(format!(
                "permission denied for schema {}",
                resolved.schema
            ))
            .into());
        }
        principal.check(
            Privilege::Create,
            &Securable::schema(&resolved.catalog, &resolved.schema),
        )?;
        Ok(())
    }

    /// The table a reference names, or `None` for the catalog tables.
    fn securable(&self, table: &TableReference) -> Option<Securable> {
        let resolved = self.resolve(table);
        (!SYSTEM_SCHEMAS.contains(&resolved.schema.as_ref()))
            .then(|| Securable::table(&resolved.catalog, &resolved.schema, &resolved.table))
    }

    /// Checks `privilege` on the table `name` (as a statement wrote it).
    pub(super) fn authorize_table(&self, name: &str, privilege: Privilege) -> Result<()> {
        self.check_table(&self.principal(), name, privilege)
    }

    fn check_table(&self, principal: &Principal, name: &str, privilege: Privilege) -> Result<()> {
        if let Some(table) = self.securable(&TableReference::from(name)) {
            principal.check(privilege, &table)?;
        }
        Ok(())
    }

    /// Checks a lake command: reading history takes SELECT, maintenance
    /// and column changes CREATE on the schema, COPY INTO INSERT (and, from
    /// a path on the server, being a superuser).
    pub(super) fn authorize_lake_command(&self, command: &LakeCommand) -> Result<()> {
        let principal = self.principal();
        if principal.superuser {
            return Ok(());
        }
        match command {
            LakeCommand::History { table, .. } => {
                self.check_table(&principal, table, Privilege::Select)?;
            }
            LakeCommand::Optimize { table }
            | LakeCommand::Vacuum { table, .. }
            | LakeCommand::AddColumns { table, .. }
            | LakeCommand::Comment { table, .. } => {
                self.check_create_in(&principal, &TableReference::from(table.as_str()))?;
            }
            LakeCommand::CopyInto { table, from, .. } => {
                self.check_table(&principal, table, Privilege::Insert)?;
                let remote = [
                    "s3://", "s3a://", "gs://", "az://", "abfss://", "http://", "https://",
                ]
                .iter()
                .any(|scheme| from.to_ascii_lowercase().starts_with(scheme));
                if !remote {
                    principal.check_superuser("COPY INTO from a path on the server")?;
                }
            }
        }
        Ok(())
    }
}
