//! The query engine behind the wire protocol: the shared [`Engine`] (catalog,
//! cluster, persisted definitions) and one [`Session`] per connection.
//!
//! The protocol layer hands statements here and gets back row streams and
//! command tags; it never plans or executes anything itself.

pub mod activity;
mod authorize;
pub mod catalog;
pub mod control;
mod copy_in;
mod cursor;
mod fast_path;
mod functions;
mod grant_commands;
mod information_schema;
mod keywords;
mod lake;
mod lake_commands;
mod lake_dml;
mod lake_ingest;
mod lake_pg_catalog;
mod lake_syntax;
mod pg_relations;
mod pg_roles;
pub mod planner;
mod privilege_functions;
pub mod redact;
mod role_commands;
pub mod settings;
pub mod statement;
pub mod strata_schema;
mod system_table;
mod types;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ballista_core::extension::{SessionConfigExt, SessionStateExt};
use datafusion::arrow::array::{AsArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef, UInt64Type};
use datafusion::catalog::CatalogProviderList;
use datafusion::catalog::default_table_source::provider_as_source;
use datafusion::common::ParamValues;
use datafusion::common::metadata::ScalarAndMetadata;
use datafusion::common::{ResolvedTableReference, SchemaReference, TableReference};
use datafusion::error::DataFusionError;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{
    DdlStatement, DmlStatement, DropTable, DropView, LogicalPlan, LogicalPlanBuilder,
    Statement as LogicalStatement, WriteOp,
};
use datafusion::physical_plan::{SendableRecordBatchStream, execute_stream};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{Statement as SqlStatement, Visit, Visitor};
use datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_pg_catalog::pg_catalog::{PgCatalogSchemaProvider, PgCatalogStaticTables};
use datafusion_pg_catalog::setup_pg_catalog;
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use strata_connectors::lake::catalog::{LakeCatalog, SYSTEM_SCHEMAS};
use strata_connectors::lake::storage::LakeRoot;
use strata_connectors::options::{ByteCount, QUERY_MEMORY_LIMIT, StrataOptions};
use strata_connectors::postgres::catalog::PgCatalog;
use strata_connectors::postgres::options::TableOptions;
use strata_connectors::postgres::source::PgSource;
use strata_connectors::postgres::table::PgTable;
use strata_connectors::query_memory::{self, Budget};
use strata_connectors::session::{DEFAULT_CATALOG, session_config, session_state};

use crate::auth::privileges::{Privilege, Securable};
use crate::auth::roles::{RoleError, RoleStore};
use crate::error::{Result, StrataError};
use crate::metrics::ServerMetrics;
use catalog::{CatalogStore, ObjectEntry, ObjectKind, SchemaEntry};
use control::{ClusterHandle, QueryControl};
pub use copy_in::CopyIn;
use planner::RoutingQueryPlanner;
use settings::Settings;
pub use statement::{Command, Parsed};

/// What every session shares.
pub struct Engine {
    catalogs: Arc<dyn CatalogProviderList>,
    /// The lake catalog, also registered in `catalogs`.
    lake: Arc<LakeCatalog>,
    /// The PostgreSQL sources, also registered in `catalogs`.
    sources: RwLock<Vec<PgCatalog>>,
    base: SessionState,
    store: Arc<CatalogStore>,
    pg_parser: PostgresCompatibilityParser,
    cluster: ClusterHandle,
    /// Every open session, for pg_stat_activity and pg_cancel_backend.
    activity: Arc<activity::ActivityRegistry>,
    /// What the last catalog listings knew, for the catalog functions.
    relations: Arc<lake_pg_catalog::LakeRelations>,
    /// Who may log in, managed with CREATE/ALTER/DROP ROLE.
    roles: Arc<RoleStore>,
    /// The statements sessions ran, for `strata.queries`.
    history: Arc<strata_schema::QueryHistory>,
    /// What `/metrics` shows.
    metrics: ServerMetrics,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

/// Who a session belongs to.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub user: String,
    pub database: String,
    pub pid: i32,
    /// Startup parameters the client sent (application_name, DateStyle, ...).
    pub startup: Vec<(String, String)>,
    /// Where the client connects from.
    pub client: Option<std::net::SocketAddr>,
}

impl Engine {
    /// Builds the engine over `data_dir`, replaying the persisted catalog, with
    /// data queries sent to the scheduler at `scheduler_url` (`df://host:port`)
    /// and sessions starting from the `strata.*` settings in `defaults`.
    pub async fn new(
        data_dir: &Path,
        lake_root: &LakeRoot,
        cluster: ClusterHandle,
        sources: &[PgSource],
        source_tables: &BTreeMap<String, TableOptions>,
        roles: Arc<RoleStore>,
        defaults: StrataOptions,
    ) -> Result<Self> {
        let lake = Arc::new(LakeCatalog::open(lake_root.clone()).await?);
        let store = Arc::new(CatalogStore::open(data_dir)?);
        let mut config = base_config();
        // The server's defaults of the `strata.*` settings every session
        // starts from.
        *config
            .options_mut()
            .extensions
            .get_mut::<StrataOptions>()
            .ok_or_else(|| StrataError::Internal("Strata's settings are missing".to_owned()))? =
            defaults;
        let ctx = SessionContext::new_with_state(session_state(config)?);
        ctx.register_catalog(
            DEFAULT_CATALOG,
            Arc::clone(&lake) as Arc<dyn datafusion::catalog::CatalogProvider>,
        );
        setup_pg_catalog(&ctx, DEFAULT_CATALOG, EmptyContextProvider)
            .map_err(|e| StrataError::DataFusion(*e))?;
        // datafusion-pg-catalog's tables over Strata's view of the catalogs
        // (lake tables' NOT NULL columns), with partitioned lake tables
        // marked in pg_class and pg_stat_activity added.
        let activity = Arc::new(activity::ActivityRegistry::default());
        let relations = Arc::new(lake_pg_catalog::LakeRelations::default());
        let catalog_info = lake_pg_catalog::StrataCatalogInfo {
            catalogs: Arc::clone(ctx.state().catalog_list()),
        };
        let pg_catalog = PgCatalogSchemaProvider::try_new(
            catalog_info.clone(),
            Arc::new(PgCatalogStaticTables::try_new()?),
            EmptyContextProvider,
        )?;
        let pg_catalog = lake_pg_catalog::PgCatalogWithLake::new(
            Arc::new(pg_catalog),
            Arc::new(pg_relations::Relations::new(
                catalog_info.clone(),
                Arc::clone(&store),
                Arc::clone(&lake),
                Arc::clone(&relations),
            )),
        );
        datafusion::catalog::CatalogProvider::register_schema(
            lake.as_ref(),
            "pg_catalog",
            Arc::new(activity::PgCatalogWithActivity::new(
                Arc::new(pg_roles::PgCatalogWithRoles::new(
                    Arc::new(pg_catalog),
                    Arc::clone(&roles),
                )),
                Arc::clone(&activity),
            )),
        )?;
        let metrics = ServerMetrics::new();
        let history = Arc::new(strata_schema::QueryHistory::new(metrics.clone()));
        datafusion::catalog::CatalogProvider::register_schema(
            lake.as_ref(),
            strata_schema::SCHEMA,
            Arc::new(strata_schema::StrataSchema::new(
                Arc::clone(&history),
                cluster.clone(),
            )),
        )?;
        datafusion::catalog::CatalogProvider::register_schema(
            lake.as_ref(),
            "information_schema",
            Arc::new(information_schema::StrataInformationSchema::new(
                Arc::clone(ctx.state().catalog_list()),
                catalog_info.clone(),
            )),
        )?;
        ctx.register_udf(pg_relations::regclass_name(Arc::clone(&store)));
        ctx.register_udf(pg_relations::to_regclass(
            Arc::clone(&store),
            Arc::clone(ctx.state().catalog_list()),
        ));
        for udf in lake_pg_catalog::relation_functions(Arc::clone(&relations))
            .into_iter()
            .chain(functions::catalog_functions())
        {
            ctx.register_udf(udf);
        }
        ctx.register_udtf(
            "pg_partition_ancestors",
            Arc::new(lake_pg_catalog::PgPartitionAncestors),
        );
        ctx.register_udtf("ts_token_type", Arc::new(lake_pg_catalog::TsTokenType));
        ctx.register_udtf("pg_get_keywords", Arc::new(keywords::PgGetKeywords));
        let ctx = SessionContext::new_with_state(
            SessionStateBuilder::new_from_existing(ctx.state())
                .with_type_planner(Arc::new(types::StrataTypePlanner))
                .build(),
        );
        // Sources from the settings file, then those attached with SQL
        // (the file wins a clash of names).
        let mut all: Vec<PgSource> = sources.to_vec();
        for attached in store.sources() {
            if all.iter().any(|s| s.name == attached.name) {
                tracing::warn!(source = %attached.name, "an attached source is shadowed by the settings file");
            } else {
                all.push(attached);
            }
        }
        let mut catalogs = Vec::new();
        for source in &all {
            let catalog = source_catalog(ctx.state().catalog_list().as_ref(), source);
            // The settings file's read options, under those set with SQL.
            let declared = source_tables.get(&source.name).cloned().unwrap_or_default();
            for (key, options) in declared
                .into_iter()
                .chain(store.table_options(&source.name))
            {
                if let Some((schema, table)) = key.split_once('.') {
                    catalog.set_table_options(schema, table, options);
                }
            }
            if let Err(e) = catalog.refresh(Duration::ZERO).await {
                // The server starts anyway; the source is listed once it answers.
                tracing::warn!(source = %source.name, error = %e, "cannot list a source");
            }
            ctx.register_catalog(&source.name, Arc::new(catalog.clone()));
            catalogs.push(catalog);
        }
        replay(&ctx, &store).await;
        let base = ctx.state();
        Ok(Self {
            catalogs: Arc::clone(base.catalog_list()),
            lake,
            sources: RwLock::new(catalogs),
            base,
            store,
            pg_parser: PostgresCompatibilityParser::new(),
            cluster,
            activity,
            relations,
            roles,
            history,
            metrics,
        })
    }

    /// The server's counters.
    pub fn metrics(&self) -> &ServerMetrics {
        &self.metrics
    }

    /// The statements sessions ran, running ones included.
    pub fn history(&self) -> &Arc<strata_schema::QueryHistory> {
        &self.history
    }

    /// The cluster the engine's jobs run on.
    pub fn cluster(&self) -> &ClusterHandle {
        &self.cluster
    }

    /// Who may log in.
    pub fn roles(&self) -> &Arc<RoleStore> {
        &self.roles
    }

    /// Lists the sources' schemas and tables again, all at once, so that
    /// catalog queries see what exists there now.
    async fn refresh_sources(&self) {
        if let Err(e) = self.lake.refresh().await {
            tracing::warn!(error = %e, "cannot list the lake");
        }
        let sources = self.sources();
        let refreshes = sources.iter().map(|catalog| async move {
            if let Err(e) = catalog.refresh(SOURCE_LISTING_MAX_AGE).await {
                tracing::warn!(source = %catalog.source().name, error = %e, "cannot list a source");
            }
        });
        futures::future::join_all(refreshes).await;
    }

    /// The PostgreSQL sources, as catalogs.
    fn sources(&self) -> Vec<PgCatalog> {
        self.sources
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// `ATTACH`: lists the source (an unreachable one is refused), makes it a
    /// catalog and records it so it is attached again after a restart.
    pub async fn attach(&self, source: PgSource, if_not_exists: bool) -> Result<()> {
        if self
            .sources()
            .iter()
            .any(|c| c.source().name == source.name)
        {
            return if if_not_exists {
                Ok(())
            } else {
                Err(StrataError::DuplicateDatabase(source.name))
            };
        }
        let catalog = source_catalog(self.catalogs.as_ref(), &source);
        catalog.refresh(Duration::ZERO).await?;
        self.store.add_source(source.clone())?;
        self.catalogs
            .register_catalog(source.name.clone(), Arc::new(catalog.clone()));
        self.sources
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(catalog);
        tracing::info!(source = %source.name, "source attached");
        Ok(())
    }

    /// `DETACH`: the name no longer resolves to the source's tables.
    pub fn detach(&self, name: &str, if_exists: bool) -> Result<()> {
        let mut sources = self.sources.write().unwrap_or_else(|p| p.into_inner());
        let Some(at) = sources.iter().position(|c| c.source().name == name) else {
            return if if_exists {
                Ok(())
            } else {
                Err(StrataError::UndefinedDatabase(name.to_owned()))
            };
        };
        self.store.remove_source(name)?;
        sources.remove(at);
        // Privileges on the source and its tables go with it.
        self.roles.forget_object(&Securable::catalog(name))?;
        // DataFusion's catalog list cannot forget a name: an empty catalog
        // takes its place until a source of that name is attached again.
        self.catalogs.register_catalog(
            name.to_owned(),
            Arc::new(datafusion::catalog::MemoryCatalogProvider::new()),
        );
        tracing::info!(source = %name, "source detached");
        Ok(())
    }

    /// The catalogs (PostgreSQL databases) clients can connect to.
    pub fn database_exists(&self, name: &str) -> bool {
        self.catalogs.catalog(name).is_some()
    }

    /// Parses a query string into statements.
    pub fn parse(&self, sql: &str) -> Result<Vec<Parsed>> {
        statement::parse(sql, &self.pg_parser)
    }

    /// Opens a session.
    pub fn session(self: &Arc<Self>, info: SessionInfo) -> Result<Session> {
        if !self.database_exists(&info.database) {
            return Err(StrataError::UndefinedDatabase(info.database));
        }
        // Connecting to a database takes USAGE on it (PostgreSQL's CONNECT).
        self.roles
            .principal(&info.user)
            .check_usage(&crate::auth::privileges::Securable::catalog(&info.database))?;
        let settings = Arc::new(RwLock::new(Settings::new(&info.user, &info.startup)));
        let config = self
            .base
            .config()
            .clone()
            .with_default_catalog_and_schema(&info.database, "public")
            .with_extension(Arc::new(settings::SessionSettings(Arc::clone(&settings))))
            .with_extension(Arc::new(authorize::SessionRole {
                user: info.user.clone(),
                roles: Arc::clone(&self.roles),
            }))
            .with_ballista_query_planner(Arc::new(RoutingQueryPlanner::new(
                self.cluster.url().to_owned(),
            )));
        let state = SessionStateBuilder::new_from_existing(self.base.clone())
            .with_config(config)
            .with_session_id(uuid::Uuid::new_v4().to_string())
            .build()
            .upgrade_for_ballista(self.cluster.url().to_owned())?;
        let ctx = SessionContext::new_with_state(state);
        // Upgrading for Ballista replaces the function registry with
        // Ballista's; the functions the engine added (pg_catalog's) come back.
        let upgraded = ctx.state();
        for (name, udf) in self.base.scalar_functions() {
            if !upgraded.scalar_functions().contains_key(name) {
                ctx.register_udf(udf.as_ref().clone());
            }
        }
        for (name, udaf) in self.base.aggregate_functions() {
            if !upgraded.aggregate_functions().contains_key(name) {
                ctx.register_udaf(udaf.as_ref().clone());
            }
        }
        for (name, udwf) in self.base.window_functions() {
            if !upgraded.window_functions().contains_key(name) {
                ctx.register_udwf(udwf.as_ref().clone());
            }
        }
        // Strata's own version of a function Ballista's registry has.
        ctx.register_udf(functions::ArrayToString::udf());
        for udf in functions::session_functions(
            &info.user,
            &info.database,
            info.pid,
            Arc::clone(&settings),
            Arc::clone(&self.activity),
            Arc::clone(&self.roles),
        ) {
            ctx.register_udf(udf);
        }
        for udf in privilege_functions::privilege_functions(&info.user, &self.roles, &self.store) {
            ctx.register_udf(udf);
        }
        ctx.register_udf(lake_pg_catalog::table_is_visible(
            Arc::clone(&self.relations),
            Arc::clone(&settings),
        ));
        self.activity.open(
            info.pid,
            &info.user,
            &info.database,
            &settings
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get("application_name")
                .unwrap_or_default(),
            info.client,
        );
        let session = Session {
            engine: Arc::clone(self),
            ctx,
            settings,
            info,
            transaction: TransactionState::Idle,
            cursors: cursor::Cursors::default(),
            prepared_plans: std::collections::HashMap::new(),
        };
        session.apply_settings();
        Ok(session)
    }

    /// Every open session, for pg_stat_activity and pg_cancel_backend.
    pub fn activity(&self) -> &Arc<activity::ActivityRegistry> {
        &self.activity
    }
}

/// The DataFusion configuration every session starts from.
fn base_config() -> SessionConfig {
    let mut config = session_config();
    let options = config.options_mut();
    options.sql_parser.dialect = datafusion::config::Dialect::PostgreSQL;
    // now() and friends return timestamptz, in the session's TimeZone.
    options.execution.time_zone = Some("UTC".to_owned());
    // Strata's own information_schema (PostgreSQL's type names), registered
    // as a schema of each catalog, answers instead of DataFusion's.
    options.catalog.information_schema = false;
    // The client learns the job id as soon as the job is accepted, so a
    // cancel can reach the scheduler while the job runs.
    config = config.set_bool("ballista.client.pull", true);
    // Ballista's adaptive planner (AQE) does not survive a lost executor:
    // re-running a finished stage whose shuffle output was on it, the
    // scheduler finds no stage output to record the new tasks in ("Can't
    // find active stage to update stage outputs") and the job never ends
    // (apache/datafusion-ballista#1986). The static planner re-runs lost
    // stages.
    config.set_bool("ballista.planner.adaptive.enabled", false)
}

/// A source as a catalog, answering `pg_catalog` and `information_schema`
/// with the lake's (Strata's own) for sessions connected to the source's
/// database.
fn source_catalog(catalogs: &dyn CatalogProviderList, source: &PgSource) -> PgCatalog {
    let mut catalog = PgCatalog::new(source.clone());
    let lake = catalogs.catalog(DEFAULT_CATALOG);
    for name in SYSTEM_SCHEMAS {
        if let Some(system) = lake.as_ref().and_then(|lake| lake.schema(name)) {
            catalog = catalog.with_system_schema(name, system);
        }
    }
    catalog
}

/// How old a source's listing may be when a catalog query reads it: none,
/// so a table created there is listed by the next catalog query.
const SOURCE_LISTING_MAX_AGE: Duration = Duration::ZERO;

/// True if `statement` reads pg_catalog or information_schema, whose tables
/// list the sources' tables.
fn reads_catalog(state: &SessionState, statement: &DFStatement) -> bool {
    state
        .resolve_table_references(statement)
        .map(|tables| {
            tables.iter().any(|table| {
                matches!(table.schema(), Some("pg_catalog" | "information_schema"))
                    || (table.schema().is_none() && table.table().starts_with("pg_"))
            })
        })
        .unwrap_or(false)
}

/// Recreates the persisted schemas, tables and views. An object that cannot
/// be recreated (its files are gone, say) is logged and left out; its
/// definition stays recorded so it comes back once the files do.
async fn replay(ctx: &SessionContext, store: &CatalogStore) {
    for SchemaEntry { catalog, schema } in store.schemas() {
        let sql = format!(
            "CREATE SCHEMA IF NOT EXISTS {}.{}",
            catalog::quote_ident(&catalog),
            catalog::quote_ident(&schema)
        );
        if let Err(e) = run(ctx, &sql).await {
            tracing::error!(%catalog, %schema, error = %e, "cannot recreate schema");
        }
    }
    for object in store.objects() {
        if let Err(e) = run(ctx, &object.sql).await {
            tracing::error!(
                catalog = %object.catalog,
                schema = %object.schema,
                name = %object.name,
                error = %e,
                "cannot recreate table; its definition is kept"
            );
        }
    }
}

async fn run(ctx: &SessionContext, sql: &str) -> datafusion::error::Result<()> {
    ctx.sql(sql).await?.collect().await.map(|_| ())
}

/// Where a session stands with respect to transaction blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionState {
    Idle,
    InBlock,
    /// A statement failed inside the block; only COMMIT or ROLLBACK are taken.
    Failed,
}

/// What a statement produced.
pub enum Output {
    /// Rows, streamed; `verb` starts the command tag (`SELECT n`, `FETCH n`).
    Rows {
        schema: SchemaRef,
        stream: SendableRecordBatchStream,
        verb: &'static str,
    },
    /// A command tag (`INSERT 0 3`, `SET`, ...).
    Command(CommandDone),
    /// `COPY ... FROM STDIN`: the client sends rows next, which
    /// [`Session::copy_in`] inserts.
    CopyIn(CopyIn),
    /// Rows for `COPY ... TO STDOUT`, written as `options` say.
    CopyOut {
        schema: SchemaRef,
        stream: SendableRecordBatchStream,
        options: statement::CopyOutOptions,
    },
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Output::Rows { schema, .. } => f.debug_struct("Rows").field("schema", schema).finish(),
            Output::Command(done) => done.fmt(f),
            Output::CopyIn(copy) => copy.fmt(f),
            Output::CopyOut {
                schema, options, ..
            } => f
                .debug_struct("CopyOut")
                .field("schema", schema)
                .field("options", options)
                .finish(),
        }
    }
}

/// A finished command.
#[derive(Debug, Clone, Default)]
pub struct CommandDone {
    pub tag: String,
    /// Variables whose new values the client is told with ParameterStatus.
    pub reports: Vec<(String, String)>,
    /// `DISCARD ALL` / `DEALLOCATE`: what the protocol layer must forget.
    pub forget: Option<Forget>,
}

impl CommandDone {
    /// The rows the command changed or moved, from its tag (`INSERT 0 3`,
    /// `UPDATE 2`, `COPY 10`).
    pub fn rows(&self) -> Option<u64> {
        let mut words = self.tag.split_whitespace();
        let verb = words.next()?;
        matches!(
            verb,
            "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "COPY" | "SELECT" | "FETCH" | "MOVE"
        )
        .then(|| words.last()?.parse().ok())
        .flatten()
    }
}

/// Protocol-level state a command clears.
#[derive(Debug, Clone)]
pub enum Forget {
    /// DISCARD ALL: every prepared statement and portal.
    Everything,
    /// DEALLOCATE name / ALL.
    Prepared(Option<String>),
}

impl CommandDone {
    fn tag(tag: impl Into<String>) -> Self {
        Self {
            tag: tag.into(),
            ..Default::default()
        }
    }
}

/// What a statement takes and returns, known before it runs.
#[derive(Debug, Clone)]
pub struct Description {
    /// One entry per parameter; `None` where neither client nor plan says.
    pub parameters: Vec<Option<FieldRef>>,
    /// The result columns, or `None` for statements that return no rows.
    pub columns: Option<SchemaRef>,
}

/// One client connection's view of the engine.
pub struct Session {
    engine: Arc<Engine>,
    ctx: SessionContext,
    settings: Arc<RwLock<Settings>>,
    info: SessionInfo,
    transaction: TransactionState,
    cursors: cursor::Cursors,
    /// The plans of statements prepared with SQL PREPARE, by name, for
    /// the privilege check of each EXECUTE.
    prepared_plans: std::collections::HashMap<String, LogicalPlan>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("info", &self.info)
            .field("transaction", &self.transaction)
            .finish_non_exhaustive()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.engine.activity.close(self.info.pid);
    }
}

impl Session {
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    pub fn info(&self) -> &SessionInfo {
        &self.info
    }

    /// The columns of the open cursor `name`, if there is one.
    pub fn cursor_schema(&self, name: &str) -> Option<SchemaRef> {
        self.cursors.schema(name).ok()
    }

    pub fn transaction(&self) -> TransactionState {
        self.transaction
    }

    /// Whether the session asked for progress NOTICEs (`strata.progress`).
    pub fn progress(&self) -> bool {
        self.ctx
            .state()
            .config()
            .options()
            .extensions
            .get::<StrataOptions>()
            .is_some_and(|options| options.progress)
    }

    /// The session's process id.
    pub fn pid(&self) -> i32 {
        self.info.pid
    }

    /// A copy of the session's settings.
    pub fn settings(&self) -> Settings {
        self.read_settings().clone()
    }

    fn read_settings(&self) -> std::sync::RwLockReadGuard<'_, Settings> {
        self.settings.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_settings(&self) -> std::sync::RwLockWriteGuard<'_, Settings> {
        self.settings.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that a statement failed: inside a block, the block is now aborted.
    pub fn statement_failed(&mut self) {
        if self.transaction == TransactionState::InBlock {
            self.transaction = TransactionState::Failed;
        }
    }

    /// Describes a statement without running it. `client_types` are the
    /// parameter types the client declared (`None` where it left one open).
    pub async fn describe(
        &self,
        parsed: &Parsed,
        client_types: &[Option<FieldRef>],
    ) -> Result<Description> {
        let text_column = |name: &str| -> SchemaRef {
            Arc::new(Schema::new(vec![Field::new(name, DataType::Utf8, true)]))
        };
        let columns = match &parsed.command {
            Command::Show(name) => Some(text_column(&self.show_column_name(name))),
            Command::Lake(command) => lake_commands::columns(command),
            Command::Fetch { name, .. } => Some(self.cursors.schema(name)?),
            Command::ShowAll => Some(Arc::new(Schema::new(vec![
                Field::new("name", DataType::Utf8, false),
                Field::new("setting", DataType::Utf8, true),
            ]))),
            Command::Sql(statement) => {
                let plan = type_placeholders(self.plan(statement).await?, client_types)?;
                let mut parameters = client_types.to_vec();
                // A PREPARE statement's placeholders belong to the statement it
                // prepares, not to the protocol message that carries it.
                let inferred = match &plan {
                    LogicalPlan::Statement(LogicalStatement::Prepare(_)) => Default::default(),
                    plan => plan.get_parameter_fields()?,
                };
                for (id, field) in inferred {
                    let Some(index) = placeholder_index(&id) else {
                        continue;
                    };
                    if parameters.len() <= index {
                        parameters.resize(index + 1, None);
                    }
                    if parameters[index].is_none() {
                        parameters[index] = field;
                    }
                }
                let columns = if let LogicalPlan::Statement(LogicalStatement::Execute(_)) = &plan {
                    // EXECUTE returns what the prepared statement returns.
                    let df = self.ctx.execute_logical_plan(plan.clone()).await?;
                    Some(Arc::new(df.schema().as_arrow().clone()))
                } else {
                    returns_rows(&plan).then(|| {
                        let schema =
                            rename_columns(plan.schema().inner(), parsed.column_names.as_deref());
                        if scans_catalog(&plan) {
                            oid_arrays(&schema)
                        } else {
                            schema
                        }
                    })
                };
                return Ok(Description {
                    parameters,
                    columns,
                });
            }
            _ => None,
        };
        Ok(Description {
            parameters: client_types.to_vec(),
            columns,
        })
    }

    /// Runs a statement with bound parameters.
    pub async fn execute(
        &mut self,
        parsed: &Parsed,
        params: Vec<ScalarAndMetadata>,
        control: &QueryControl,
    ) -> Result<Output> {
        if self.transaction == TransactionState::Failed && !parsed.command.ends_transaction() {
            return Err(StrataError::InFailedTransaction);
        }
        let shown = activity::shown_text(&parsed.sql);
        self.engine.activity.begin(
            self.info.pid,
            &shown,
            self.transaction != TransactionState::Idle,
        );
        let history = Arc::clone(&self.engine.history);
        let id = history.begin(self.info.pid, &self.info.user, &self.info.database, &shown);
        let control = control.recorded_in(Arc::clone(&history), id);
        tracing::Span::current().record("query_id", id);
        let result = control
            .run(self.execute_inner(parsed, params, &control))
            .await;
        match result {
            Ok(Output::Rows {
                schema,
                stream,
                verb,
            }) => Ok(Output::Rows {
                schema,
                stream: history.watch(id, stream),
                verb,
            }),
            Ok(Output::CopyOut {
                schema,
                stream,
                options,
            }) => Ok(Output::CopyOut {
                schema,
                stream: history.watch(id, stream),
                options,
            }),
            Ok(output) => {
                let rows = match &output {
                    Output::Command(done) => done.rows(),
                    _ => None,
                };
                history.finish(id, rows);
                Ok(output)
            }
            Err(e) => {
                history.fail(id, &e);
                self.statement_failed();
                Err(e)
            }
        }
    }

    /// The statement's result has been sent (or has failed): the session is
    /// idle again in pg_stat_activity.
    pub fn statement_done(&self) {
        let state = match self.transaction {
            TransactionState::Idle => "idle",
            TransactionState::InBlock => "idle in transaction",
            TransactionState::Failed => "idle in transaction (aborted)",
        };
        let application_name = self
            .read_settings()
            .get("application_name")
            .unwrap_or_default();
        self.engine
            .activity
            .end(self.info.pid, state, &application_name);
    }

    async fn execute_inner(
        &mut self,
        parsed: &Parsed,
        params: Vec<ScalarAndMetadata>,
        control: &QueryControl,
    ) -> Result<Output> {
        let done = match &parsed.command {
            Command::Set { name, value } => self.set(name, value.as_deref())?,
            Command::SetTransaction => CommandDone::tag("SET"),
            Command::Listen => CommandDone::tag("LISTEN"),
            Command::Unlisten => CommandDone::tag("UNLISTEN"),
            Command::CloseCursor(None) => {
                self.cursors.close_all();
                CommandDone::tag("CLOSE CURSOR ALL")
            }
            Command::CloseCursor(Some(name)) => {
                self.cursors.close(name)?;
                CommandDone::tag("CLOSE CURSOR")
            }
            Command::DeclareCursor { name, query, hold } => {
                let in_block = self.transaction != TransactionState::Idle;
                if !hold && !in_block {
                    return Err(StrataError::CursorOutsideBlock);
                }
                // The query runs on past this statement, so it answers to
                // the FETCHes (each under its own control), not to the
                // DECLARE's timeout.
                let stop = tokio_util::sync::CancellationToken::new();
                let unbounded = QueryControl::new(stop.clone(), None);
                let Output::Rows { schema, stream, .. } =
                    self.run_sql(query, params, &unbounded).await?
                else {
                    return Err(StrataError::NotSupported(
                        "a cursor over a statement that returns no rows".to_owned(),
                    ));
                };
                let schema = rename_columns(&schema, parsed.column_names.as_deref());
                self.cursors
                    .declare(name, schema, stream, *hold, in_block, stop)?;
                CommandDone::tag("DECLARE CURSOR")
            }
            Command::CopyIn {
                table,
                columns,
                options,
            } => {
                if options.format == statement::CopyFormat::Binary {
                    return Err(StrataError::NotSupported(
                        "COPY FROM STDIN in binary format (use text or CSV)".to_owned(),
                    ));
                }
                self.authorize_table(table, Privilege::Insert)?;
                return Ok(Output::CopyIn(
                    self.copy_in_target(table, columns, options).await?,
                ));
            }
            Command::CopyOut { query, options } => {
                let Output::Rows { schema, stream, .. } =
                    self.run_sql(query, params, control).await?
                else {
                    return Err(StrataError::NotSupported(
                        "COPY TO STDOUT of a statement that returns no rows".to_owned(),
                    ));
                };
                return Ok(Output::CopyOut {
                    schema: rename_columns(&schema, parsed.column_names.as_deref()),
                    stream,
                    options: options.clone(),
                });
            }
            Command::Fetch { name, count } => {
                let (schema, batches) = self.cursors.fetch(name, *count).await?;
                let mut output = rows(schema, batches);
                if let Output::Rows { verb, .. } = &mut output {
                    *verb = "FETCH";
                }
                return Ok(output);
            }
            Command::Lake(command) => {
                self.authorize_lake_command(command)?;
                return self.lake_command(command, control).await;
            }
            Command::Role(command) => {
                self.engine.run_role_command(&self.info.user, command)?;
                CommandDone::tag(command.tag())
            }
            Command::Grant(command) => {
                self.run_grant(command)?;
                CommandDone::tag(command.tag())
            }
            Command::Show(name) => return self.show(name),
            Command::ShowAll => return self.show_all(),
            Command::Reset(name) => self.reset(name)?,
            Command::ResetAll => {
                let mut done = CommandDone::tag("RESET");
                done.reports = self.reset_all();
                done
            }
            Command::Begin => {
                // A BEGIN inside a block is only warned about in PostgreSQL.
                if self.transaction == TransactionState::Idle {
                    self.transaction = TransactionState::InBlock;
                }
                CommandDone::tag("BEGIN")
            }
            Command::Commit => {
                let tag = if self.transaction == TransactionState::Failed {
                    "ROLLBACK"
                } else {
                    "COMMIT"
                };
                self.cursors
                    .end_block(self.transaction == TransactionState::InBlock);
                self.transaction = TransactionState::Idle;
                CommandDone::tag(tag)
            }
            Command::Rollback => {
                self.cursors.end_block(false);
                self.transaction = TransactionState::Idle;
                CommandDone::tag("ROLLBACK")
            }
            Command::DiscardAll => {
                if self.transaction != TransactionState::Idle {
                    return Err(StrataError::NotSupported(
                        "DISCARD ALL inside a transaction block".to_owned(),
                    ));
                }
                let mut done = CommandDone::tag("DISCARD ALL");
                self.cursors.close_all();
                self.prepared_plans.clear();
                done.reports = self.reset_all();
                done.forget = Some(Forget::Everything);
                done
            }
            Command::Deallocate(name) => {
                let mut done = CommandDone::tag("DEALLOCATE");
                // Statements prepared with SQL PREPARE live in DataFusion;
                // those prepared with the protocol's Parse, in the wire layer.
                let sql_prepared = match name {
                    Some(name) => {
                        self.prepared_plans.remove(name);
                        let sql = format!("DEALLOCATE {}", catalog::quote_ident(name));
                        match self.ctx.sql(&sql).await {
                            Ok(df) => df.collect().await.is_ok(),
                            Err(_) => false,
                        }
                    }
                    None => false,
                };
                if !sql_prepared {
                    done.forget = Some(Forget::Prepared(name.clone()));
                }
                done
            }
            Command::Attach {
                source,
                if_not_exists,
            } => {
                self.principal().check_superuser("attach a source")?;
                let engine = Arc::clone(&self.engine);
                control
                    .run(engine.attach(source.clone(), *if_not_exists))
                    .await?;
                CommandDone::tag("ATTACH")
            }
            Command::Detach { name, if_exists } => {
                self.principal().check_superuser("detach a source")?;
                self.engine.detach(name, *if_exists)?;
                CommandDone::tag("DETACH")
            }
            Command::SetTableOptions { table, options } => {
                self.principal()
                    .check_superuser("set a source table's read options")?;
                control.run(self.set_table_options(table, options)).await?;
                CommandDone::tag("ALTER TABLE")
            }
            Command::Sql(statement) => {
                let output = self.run_sql(statement, params, control).await?;
                return Ok(match output {
                    Output::Rows {
                        schema,
                        stream,
                        verb,
                    } => Output::Rows {
                        schema: rename_columns(&schema, parsed.column_names.as_deref()),
                        stream,
                        verb,
                    },
                    command => command,
                });
            }
        };
        Ok(Output::Command(done))
    }

    /// Only superusers may lift the server's memory limit of a query
    /// (`--query-memory-limit`): others may only lower it.
    fn check_memory_limit(&self, value: &str) -> Result<()> {
        let server = self
            .engine
            .base
            .config()
            .options()
            .extensions
            .get::<StrataOptions>()
            .map_or(0, |options| options.query_memory_limit.0);
        if server == 0 || self.principal().superuser {
            return Ok(());
        }
        let mut wanted = ByteCount::default();
        datafusion::config::ConfigField::set(&mut wanted, QUERY_MEMORY_LIMIT, value).map_err(
            |_| StrataError::InvalidSettingValue {
                name: QUERY_MEMORY_LIMIT.to_owned(),
                value: value.to_owned(),
            },
        )?;
        if wanted.0 == 0 || wanted.0 > server {
            return Err(RoleError::PermissionDenied(format!(
                "permission denied to set parameter \"{QUERY_MEMORY_LIMIT}\" above the server's limit of {}",
                ByteCount(server)
            ))
            .into());
        }
        Ok(())
    }

    fn set(&mut self, name: &str, value: Option<&str>) -> Result<CommandDone> {
        let mut done = CommandDone::tag("SET");
        let Some(value) = value else {
            return self.reset(name).map(|mut d| {
                d.tag = "SET".to_owned();
                d
            });
        };
        if is_engine_setting(name) {
            let key = name.to_ascii_lowercase();
            let known = self
                .ctx
                .state()
                .config()
                .options()
                .entries()
                .iter()
                .any(|entry| entry.key == key);
            if !known {
                return Err(StrataError::UnknownSetting(name.to_owned()));
            }
            if key == QUERY_MEMORY_LIMIT {
                self.check_memory_limit(value)?;
            }
            // DataFusion and Ballista parse booleans as true/false only.
            let value = match value.to_ascii_lowercase().as_str() {
                "on" | "yes" | "t" => "true",
                "off" | "no" | "f" => "false",
                _ => value,
            };
            let state = self.ctx.state_ref();
            let mut state = state.write();
            state
                .config_mut()
                .options_mut()
                .set(&key, value)
                .map_err(|_| StrataError::InvalidSettingValue {
                    name: key.clone(),
                    value: value.to_owned(),
                })?;
            return Ok(done);
        }
        let report = self.write_settings().set(name, value)?;
        done.reports.extend(report);
        self.apply_settings();
        Ok(done)
    }

    fn reset(&mut self, name: &str) -> Result<CommandDone> {
        let mut done = CommandDone::tag("RESET");
        if is_engine_setting(name) {
            let key = name.to_ascii_lowercase();
            let default = self
                .engine
                .base
                .config()
                .options()
                .entries()
                .into_iter()
                .find(|entry| entry.key == key)
                .ok_or_else(|| StrataError::UnknownSetting(name.to_owned()))?;
            let state = self.ctx.state_ref();
            let mut state = state.write();
            let options = state.config_mut().options_mut();
            match default.value {
                Some(value) => options.set(&key, &value)?,
                None => datafusion::config::ConfigField::reset(options, &key)?,
            }
            return Ok(done);
        }
        done.reports.extend(self.write_settings().reset(name)?);
        self.apply_settings();
        Ok(done)
    }

    fn reset_all(&mut self) -> Vec<(String, String)> {
        let reports = self.write_settings().reset_all();
        let base = self.engine.base.config().options().clone();
        let database = self.info.database.clone();
        {
            let state = self.ctx.state_ref();
            let mut state = state.write();
            let options = state.config_mut().options_mut();
            let extensions = std::mem::take(&mut options.extensions);
            *options = base.as_ref().clone();
            options.extensions = extensions;
            options.catalog.default_catalog = database;
        }
        self.apply_settings();
        reports
    }

    /// Carries PostgreSQL settings DataFusion must know into its
    /// configuration: unqualified names resolve in the first schema of
    /// `search_path`; `now()` and timestamptz arithmetic use `TimeZone`.
    fn apply_settings(&self) {
        let (schema, zone) = {
            let settings = self.read_settings();
            let schema = settings
                .search_path()
                .into_iter()
                .next()
                .unwrap_or_else(|| "public".to_owned());
            (schema, settings.time_zone())
        };
        let state = self.ctx.state_ref();
        let mut state = state.write();
        let options = state.config_mut().options_mut();
        options.catalog.default_schema = schema;
        options.execution.time_zone = Some(zone);
    }

    fn show_column_name(&self, name: &str) -> String {
        if is_engine_setting(name) {
            name.to_ascii_lowercase()
        } else {
            settings::canonical_name(name).unwrap_or(name).to_owned()
        }
    }

    fn show(&self, name: &str) -> Result<Output> {
        let value = if is_engine_setting(name) {
            let key = name.to_ascii_lowercase();
            self.ctx
                .state()
                .config()
                .options()
                .entries()
                .into_iter()
                .find(|entry| entry.key == key)
                .ok_or_else(|| StrataError::UnknownSetting(name.to_owned()))?
                .value
        } else {
            Some(
                self.read_settings()
                    .get(name)
                    .ok_or_else(|| StrataError::UnknownSetting(name.to_owned()))?,
            )
        };
        let schema = Arc::new(Schema::new(vec![Field::new(
            self.show_column_name(name),
            DataType::Utf8,
            true,
        )]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(StringArray::from(vec![value]))],
        )
        .map_err(DataFusionError::from)?;
        Ok(rows(schema, vec![batch]))
    }

    fn show_all(&self) -> Result<Output> {
        let mut entries = self.read_settings().all();
        entries.extend(
            self.ctx
                .state()
                .config()
                .options()
                .entries()
                .into_iter()
                .map(|e| (e.key, e.value.unwrap_or_default())),
        );
        let schema = Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, false),
            Field::new("setting", DataType::Utf8, true),
        ]));
        let (names, values): (Vec<String>, Vec<String>) = entries.into_iter().unzip();
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from(names)),
                Arc::new(StringArray::from(values)),
            ],
        )
        .map_err(DataFusionError::from)?;
        Ok(rows(schema, vec![batch]))
    }

    /// Plans a DataFusion statement, turning a planning failure into the
    /// error PostgreSQL would give when the cause can be pinned down.
    async fn plan(&self, statement: &DFStatement) -> Result<LogicalPlan> {
        let (statement, _) = self.split_lake_create(statement)?;
        let statement = &statement;
        let state = self.ctx.state();
        if reads_catalog(&state, statement) {
            self.engine.refresh_sources().await;
        }
        match state.statement_to_plan(statement.clone()).await {
            Ok(plan) => Ok(plan),
            Err(e) => Err(self.diagnose(statement, e).await),
        }
    }

    /// Finds the PostgreSQL-level cause of a planning error: a relation or a
    /// function that does not exist. Run only after planning failed, so a
    /// valid statement is never second-guessed.
    async fn diagnose(&self, statement: &DFStatement, error: DataFusionError) -> StrataError {
        let state = self.ctx.state();
        // An error that knows its own SQLSTATE (a lake table's version
        // that does not exist, say) is that error.
        if let DataFusionError::External(inner) = strata_connectors::sqlstate::root(&error)
            && inner.is::<strata_connectors::lake::LakeError>()
        {
            return StrataError::DataFusion(error);
        }
        // The table a CREATE names does not exist yet: no cause to find there.
        let creates = matches!(statement, DFStatement::CreateExternalTable(_))
            || matches!(statement, DFStatement::Statement(sql)
                if matches!(sql.as_ref(), SqlStatement::CreateTable(_) | SqlStatement::CreateView(_)));
        if creates {
            return StrataError::DataFusion(error);
        }
        if let Ok(tables) = state.resolve_table_references(statement) {
            for table in tables {
                if !self.table_exists(&table).await {
                    return StrataError::UndefinedTable(table.to_string());
                }
            }
        }
        if let DFStatement::Statement(sql) = statement {
            let mut finder = FunctionNames(Vec::new());
            let _ = sql.visit(&mut finder);
            for name in finder.0 {
                // Planned by DataFusion's SQL planner itself, not looked up.
                if PLANNER_FUNCTIONS.contains(&name.as_str()) {
                    continue;
                }
                let known = state.scalar_functions().contains_key(&name)
                    || state.aggregate_functions().contains_key(&name)
                    || state.window_functions().contains_key(&name)
                    || state.table_functions().contains_key(&name);
                if !known {
                    return StrataError::UndefinedFunction(format!("{name}()"));
                }
            }
        }
        StrataError::DataFusion(error)
    }

    async fn table_exists(&self, table: &TableReference) -> bool {
        let resolved = self.resolve(table);
        let Some(schema) = self
            .engine
            .catalogs
            .catalog(&resolved.catalog)
            .and_then(|c| c.schema(&resolved.schema))
        else {
            return false;
        };
        schema.table_exist(&resolved.table)
    }

    /// A CREATE TABLE in the lake without its lake clauses (which DataFusion
    /// does not plan), and those clauses; other statements as they are.
    fn split_lake_create(
        &self,
        statement: &DFStatement,
    ) -> Result<(DFStatement, Option<lake::LakeCreate>)> {
        if let DFStatement::Statement(sql) = statement
            && let SqlStatement::CreateTable(create) = sql.as_ref()
            && self.in_lake(&TableReference::from(create.name.to_string()))
        {
            let (plain, options) = lake::split_create(create)?;
            return Ok((
                DFStatement::Statement(Box::new(SqlStatement::CreateTable(plain))),
                Some(options),
            ));
        }
        Ok((statement.clone(), None))
    }

    async fn run_sql(
        &mut self,
        statement: &DFStatement,
        params: Vec<ScalarAndMetadata>,
        control: &QueryControl,
    ) -> Result<Output> {
        let statement = self.prepare_ddl(statement).await?;
        let (_, lake_create) = self.split_lake_create(&statement)?;
        let mut plan = self.plan(&statement).await?;
        self.authorize(&plan)?;
        let prepares = matches!(plan, LogicalPlan::Statement(LogicalStatement::Prepare(_)));
        if !prepares && (!params.is_empty() || plan_has_placeholders(&plan)) {
            plan = plan.with_param_values(ParamValues::List(params))?;
        }
        // Privileges go with what is dropped: a new object of the same name
        // starts with none, as in PostgreSQL.
        let dropped = self.dropped_object(&plan);
        let output = self
            .run_plan(plan, &statement, lake_create, control)
            .await?;
        if let Some(object) = dropped {
            self.engine.roles.forget_object(&object)?;
        }
        Ok(output)
    }

    /// What `plan` drops, if it is a DROP TABLE, VIEW or SCHEMA.
    fn dropped_object(&self, plan: &LogicalPlan) -> Option<Securable> {
        match plan {
            LogicalPlan::Ddl(DdlStatement::DropTable(DropTable { name, .. }))
            | LogicalPlan::Ddl(DdlStatement::DropView(DropView { name, .. })) => {
                let r = self.resolve(name);
                Some(Securable::table(&r.catalog, &r.schema, &r.table))
            }
            LogicalPlan::Ddl(DdlStatement::DropCatalogSchema(drop)) => Some(match &drop.name {
                SchemaReference::Bare { schema } => {
                    Securable::schema(&self.default_catalog(), schema)
                }
                SchemaReference::Full { catalog, schema } => Securable::schema(catalog, schema),
            }),
            _ => None,
        }
    }

    async fn run_plan(
        &mut self,
        plan: LogicalPlan,
        statement: &DFStatement,
        lake_create: Option<lake::LakeCreate>,
        control: &QueryControl,
    ) -> Result<Output> {
        match &plan {
            LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(create))
                if self.source_catalog(&create.name).is_some() =>
            {
                self.create_in_source(create, control).await
            }
            LogicalPlan::Ddl(DdlStatement::DropTable(drop))
                if self.source_catalog(&drop.name).is_some() =>
            {
                self.drop_in_source(&drop.name, drop.if_exists).await
            }
            LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(create)) if lake_create.is_some() => {
                let options = lake_create.unwrap_or_default();
                self.create_lake_table(create, options, control).await
            }
            LogicalPlan::Ddl(DdlStatement::DropTable(drop))
                if self
                    .lake_target(&drop.name)
                    .is_some_and(|t| !t.schema.is_registered(&t.table)) =>
            {
                let target = self
                    .lake_target(&drop.name)
                    .ok_or_else(|| StrataError::Internal("the lake schema went away".to_owned()))?;
                self.drop_lake_table(&target, drop.if_exists).await
            }
            LogicalPlan::Ddl(DdlStatement::CreateCatalogSchema(create))
                if self.lake_schema_name(&create.schema_name).is_some() =>
            {
                let name = self
                    .lake_schema_name(&create.schema_name)
                    .unwrap_or_default();
                self.engine
                    .lake
                    .create_schema(&name, create.if_not_exists)
                    .await?;
                Ok(Output::Command(CommandDone::tag("CREATE SCHEMA")))
            }
            LogicalPlan::Ddl(DdlStatement::DropCatalogSchema(drop))
                if self.lake_schema_ref(&drop.name).is_some() =>
            {
                let name = self.lake_schema_ref(&drop.name).unwrap_or_default();
                self.drop_lake_schema(&name, drop.if_exists, drop.cascade)
                    .await
            }
            LogicalPlan::Ddl(ddl) => {
                let ddl = ddl.clone();
                self.ctx.execute_logical_plan(plan).await?.collect().await?;
                let tag = self.persist(&ddl, statement)?;
                Ok(Output::Command(CommandDone::tag(tag)))
            }
            LogicalPlan::Dml(dml)
                if !matches!(dml.op, WriteOp::Insert(_) | WriteOp::Ctas)
                    && lake_table_of(dml).is_some() =>
            {
                let table = lake_table_of(dml)
                    .ok_or_else(|| StrataError::Internal("the lake table went away".to_owned()))?;
                self.lake_dml(dml, &table, control).await
            }
            LogicalPlan::Dml(DmlStatement { op, .. }) => {
                let op = op.clone();
                let count = self.run_insert(plan, control).await?;
                let tag = match op {
                    WriteOp::Insert(_) => format!("INSERT 0 {count}"),
                    WriteOp::Update => format!("UPDATE {count}"),
                    WriteOp::Delete => format!("DELETE {count}"),
                    WriteOp::Ctas => format!("SELECT {count}"),
                    WriteOp::Truncate => "TRUNCATE TABLE".to_owned(),
                    other => other.name().to_ascii_uppercase(),
                };
                Ok(Output::Command(CommandDone::tag(tag)))
            }
            LogicalPlan::Copy(_) => {
                let (_, stream) = self.start(plan, control).await?;
                let count = count_rows(stream).await?;
                Ok(Output::Command(CommandDone::tag(format!("COPY {count}"))))
            }
            LogicalPlan::Statement(statement) => {
                let tag = match statement {
                    LogicalStatement::Prepare(prepare) => {
                        self.prepared_plans
                            .insert(prepare.name.clone(), prepare.input.as_ref().clone());
                        "PREPARE"
                    }
                    LogicalStatement::Deallocate(_) => "DEALLOCATE",
                    LogicalStatement::Execute(execute) => {
                        // Privileges are checked when the statement runs,
                        // not only when it was prepared.
                        if let Some(prepared) = self.prepared_plans.get(&execute.name) {
                            self.authorize(prepared)?;
                        }
                        // EXECUTE runs the stored plan: rows like any query.
                        let (schema, stream) = self.start(plan, control).await?;
                        return Ok(Output::Rows {
                            schema,
                            stream,
                            verb: "SELECT",
                        });
                    }
                    other => {
                        return Err(StrataError::NotSupported(other.name().to_owned()));
                    }
                };
                self.ctx.execute_logical_plan(plan).await?;
                Ok(Output::Command(CommandDone::tag(tag)))
            }
            _ => {
                let catalog = scans_catalog(&plan);
                let (schema, stream) = self.start(plan, control).await?;
                let schema = if catalog { oid_arrays(&schema) } else { schema };
                Ok(Output::Rows {
                    schema,
                    stream,
                    verb: "SELECT",
                })
            }
        }
    }

    /// Starts executing a query plan: locally or as a Ballista job, with the
    /// stream watching for cancellation.
    async fn start(
        &self,
        plan: LogicalPlan,
        control: &QueryControl,
    ) -> Result<(SchemaRef, SendableRecordBatchStream)> {
        let windowed = has_window(&plan)?;
        let logical = plan.clone();
        let df = self.ctx.execute_logical_plan(plan).await?;
        let physical = df.create_physical_plan().await?;
        let schema = physical.schema();
        let mut task_ctx = self.ctx.task_ctx();
        if windowed && !planner::runs_locally(&logical)? {
            // Ballista 55 plans window functions over a shuffle so that the
            // window operator sees unsorted input ("Expects PARTITION BY
            // expression to be ordered"). Jobs with window functions run
            // with one shuffle partition until that is fixed upstream.
            let mut state = self.ctx.state();
            state.config_mut().options_mut().execution.target_partitions = 1;
            task_ctx = Arc::new(datafusion::execution::TaskContext::from(&state));
        }
        // A query the server runs itself is held to the session's memory
        // limit here; a job's executors hold its tasks to it there.
        if let Some(limit) = query_memory::limit_of(task_ctx.session_config()) {
            task_ctx = query_memory::within(&task_ctx, &Arc::new(Budget::new(limit)))?;
        }
        let stream = if physical.is::<fast_path::InProcessExec>() {
            fast_path::execute_apart(Arc::clone(&physical), task_ctx)
        } else {
            execute_stream(Arc::clone(&physical), task_ctx)?
        };
        let stream = control.watch(stream, physical, self.engine.cluster.clone());
        Ok((schema, stream))
    }

    /// `name` completed with the session's database and schema.
    fn resolve(&self, name: &TableReference) -> ResolvedTableReference {
        let options = self.ctx.state().config().options().clone();
        name.clone().resolve(
            &options.catalog.default_catalog,
            &options.catalog.default_schema,
        )
    }

    /// The PostgreSQL source `name` lives in, if any.
    fn source_catalog(&self, name: &TableReference) -> Option<PgCatalog> {
        let resolved = self.resolve(name);
        self.engine
            .sources()
            .into_iter()
            .find(|catalog| catalog.source().name == *resolved.catalog)
    }

    /// `CREATE TABLE <source>.<schema>.<table> [AS SELECT ...]`: the table is
    /// created in PostgreSQL with the mapped types, then the rows of the
    /// query (if any) are inserted as by INSERT. If the insert fails, the
    /// new table is dropped again.
    async fn create_in_source(
        &self,
        create: &datafusion::logical_expr::CreateMemoryTable,
        control: &QueryControl,
    ) -> Result<Output> {
        let catalog = self
            .source_catalog(&create.name)
            .ok_or_else(|| StrataError::Internal("the source went away".to_owned()))?;
        let resolved = self.resolve(&create.name);
        let qualified = format!(
            "{}.{}",
            strata_connectors::postgres::quote_ident(&resolved.schema),
            strata_connectors::postgres::quote_ident(&resolved.table)
        );
        let schema = create.input.schema().as_arrow().clone();
        let mut primary_key = None;
        let mut unique = Vec::new();
        for constraint in create.constraints.iter() {
            match constraint {
                datafusion::common::Constraint::PrimaryKey(columns) => {
                    primary_key = Some(columns.clone())
                }
                datafusion::common::Constraint::Unique(columns) => unique.push(columns.clone()),
            }
        }
        let sql = strata_connectors::postgres::ddl::create_table_sql(
            &qualified,
            &schema,
            create.if_not_exists,
            primary_key.as_deref(),
            &unique,
        )
        .map_err(StrataError::NotSupported)?;
        let client = control
            .run(async { catalog.source().connect().await.map_err(StrataError::from) })
            .await?;
        client.batch_execute(&sql).await?;
        let has_rows = !matches!(create.input.as_ref(), LogicalPlan::EmptyRelation(_));
        if !has_rows {
            return Ok(Output::Command(CommandDone::tag("CREATE TABLE".to_owned())));
        }
        let inserted = async {
            let table = PgTable::load(catalog.source(), &resolved.schema, &resolved.table).await?;
            let insert = LogicalPlanBuilder::insert_into(
                create.input.as_ref().clone(),
                resolved.clone(),
                provider_as_source(Arc::new(table)),
                InsertOp::Append,
            )?
            .build()?;
            let (_, stream) = self.start(insert, control).await?;
            count_rows(stream).await
        }
        .await;
        match inserted {
            Ok(count) => Ok(Output::Command(CommandDone::tag(format!("SELECT {count}")))),
            Err(e) => {
                if let Err(drop) = client
                    .batch_execute(&format!("DROP TABLE {qualified}"))
                    .await
                {
                    tracing::warn!(table = %qualified, error = %drop, "cannot drop a half-created table");
                }
                Err(e)
            }
        }
    }

    /// `ALTER TABLE <source>.<schema>.<table> SET (...)`: checks the
    /// options against the table and keeps them (across restarts too).
    async fn set_table_options(
        &self,
        table: &str,
        changes: &[(String, Option<String>)],
    ) -> Result<()> {
        let name = TableReference::from(table);
        let catalog = self.source_catalog(&name).ok_or_else(|| {
            StrataError::NotSupported(
                "ALTER TABLE ... SET (...) on a table that is not in a PostgreSQL source"
                    .to_owned(),
            )
        })?;
        let resolved = self.resolve(&name);
        let pg_table = PgTable::load(catalog.source(), &resolved.schema, &resolved.table).await?;
        let key = format!("{}.{}", resolved.schema, resolved.table);
        let mut options = catalog.table_options().remove(&key).unwrap_or_default();
        for (option, value) in changes {
            options
                .set(option, value.clone())
                .map_err(StrataError::InvalidParameterValue)?;
        }
        options
            .validate(&pg_table.columns)
            .map_err(|message| StrataError::InvalidParameterValue(format!("{table}: {message}")))?;
        self.engine
            .store
            .set_table_options(&catalog.source().name, &key, options.clone())?;
        catalog.set_table_options(&resolved.schema, &resolved.table, options);
        Ok(())
    }

    /// `DROP TABLE <source>.<schema>.<table>`, in PostgreSQL.
    async fn drop_in_source(&self, name: &TableReference, if_exists: bool) -> Result<Output> {
        let catalog = self
            .source_catalog(name)
            .ok_or_else(|| StrataError::Internal("the source went away".to_owned()))?;
        let resolved = self.resolve(name);
        let exists = if if_exists { "IF EXISTS " } else { "" };
        let sql = format!(
            "DROP TABLE {exists}{}.{}",
            strata_connectors::postgres::quote_ident(&resolved.schema),
            strata_connectors::postgres::quote_ident(&resolved.table)
        );
        let client = catalog.source().connect().await?;
        client.batch_execute(&sql).await?;
        Ok(Output::Command(CommandDone::tag("DROP TABLE".to_owned())))
    }

    /// Checks and completes DDL before DataFusion runs it: refuses names that
    /// exist (42P07) and makes file locations absolute.
    async fn prepare_ddl(&self, statement: &DFStatement) -> Result<DFStatement> {
        let DFStatement::CreateExternalTable(create) = statement else {
            return Ok(statement.clone());
        };
        let mut create = create.clone();
        let name = TableReference::from(create.name.to_string());
        if !create.if_not_exists && !create.or_replace && self.table_exists(&name).await {
            return Err(StrataError::DuplicateTable(create.name.to_string()));
        }
        create.locations = create
            .locations
            .iter()
            .map(|l| catalog::absolute_location(l))
            .collect();
        Ok(DFStatement::CreateExternalTable(create))
    }

    /// Records a successful DDL statement in the persisted catalog and
    /// returns its command tag.
    fn persist(&self, ddl: &DdlStatement, statement: &DFStatement) -> Result<&'static str> {
        let options = self.ctx.state().config().options().clone();
        let default_catalog = options.catalog.default_catalog.as_str();
        let default_schema = options.catalog.default_schema.as_str();
        let store = &self.engine.store;
        match ddl {
            DdlStatement::CreateExternalTable(cmd) => {
                let r = cmd.name.clone().resolve(default_catalog, default_schema);
                if let DFStatement::CreateExternalTable(create) = statement {
                    let qualified = qualified_name(&r.catalog, &r.schema, &r.table);
                    store.add_object(ObjectEntry {
                        catalog: r.catalog.to_string(),
                        schema: r.schema.to_string(),
                        name: r.table.to_string(),
                        kind: ObjectKind::ExternalTable,
                        sql: catalog::external_table_sql(create, &qualified),
                    })?;
                }
                Ok("CREATE TABLE")
            }
            DdlStatement::CreateView(view) => {
                let r = view.name.clone().resolve(default_catalog, default_schema);
                if let DFStatement::Statement(sql) = statement
                    && let SqlStatement::CreateView(create) = sql.as_ref()
                {
                    let qualified = qualified_name(&r.catalog, &r.schema, &r.table);
                    store.add_object(ObjectEntry {
                        catalog: r.catalog.to_string(),
                        schema: r.schema.to_string(),
                        name: r.table.to_string(),
                        kind: ObjectKind::View,
                        sql: format!("CREATE OR REPLACE VIEW {qualified} AS {}", create.query),
                    })?;
                }
                Ok("CREATE VIEW")
            }
            DdlStatement::DropTable(drop) => {
                let r = drop.name.clone().resolve(default_catalog, default_schema);
                store.remove_object(&r.catalog, &r.schema, &r.table)?;
                Ok("DROP TABLE")
            }
            DdlStatement::DropView(drop) => {
                let r = drop.name.clone().resolve(default_catalog, default_schema);
                store.remove_object(&r.catalog, &r.schema, &r.table)?;
                Ok("DROP VIEW")
            }
            DdlStatement::CreateCatalogSchema(create) => {
                let (catalog, schema) = match create.schema_name.split_once('.') {
                    Some((c, s)) => (c.to_owned(), s.to_owned()),
                    None => (default_catalog.to_owned(), create.schema_name.clone()),
                };
                store.add_schema(SchemaEntry { catalog, schema })?;
                Ok("CREATE SCHEMA")
            }
            DdlStatement::DropCatalogSchema(drop) => {
                let (catalog, schema) = match &drop.name {
                    datafusion::common::SchemaReference::Bare { schema } => {
                        (default_catalog.to_owned(), schema.to_string())
                    }
                    datafusion::common::SchemaReference::Full { catalog, schema } => {
                        (catalog.to_string(), schema.to_string())
                    }
                };
                store.remove_schema(&catalog, &schema)?;
                Ok("DROP SCHEMA")
            }
            DdlStatement::CreateMemoryTable(_) => Err(StrataError::NotSupported(
                "CREATE TABLE for managed tables".to_owned(),
            )),
            DdlStatement::CreateCatalog(_) => Err(StrataError::NotSupported(
                "CREATE DATABASE (databases are Strata's configured catalogs)".to_owned(),
            )),
            DdlStatement::CreateIndex(_) => Ok("CREATE INDEX"),
            DdlStatement::CreateFunction(_) => Ok("CREATE FUNCTION"),
            DdlStatement::DropFunction(_) => Ok("DROP FUNCTION"),
        }
    }
}

/// The lake table a DML statement writes into, if it is one.
fn lake_table_of(dml: &DmlStatement) -> Option<strata_connectors::lake::table::LakeTable> {
    datafusion::catalog::default_table_source::source_as_provider(&dml.target)
        .ok()?
        .downcast_ref::<strata_connectors::lake::table::LakeTable>()
        .cloned()
}

fn qualified_name(catalog: &str, schema: &str, table: &str) -> String {
    format!(
        "{}.{}.{}",
        catalog::quote_ident(catalog),
        catalog::quote_ident(schema),
        catalog::quote_ident(table)
    )
}

/// Function-call syntax the SQL planner handles without the function registry.
const PLANNER_FUNCTIONS: &[&str] = &["array", "unnest", "struct", "grouping", "cube", "rollup"];

/// `datafusion.*`, `ballista.*` and the `strata.*` settings that travel with
/// jobs live in DataFusion's configuration.
fn is_engine_setting(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("datafusion.") || lower.starts_with("ballista.") || StrataOptions::knows(name)
}

/// `$3` -> 2.
fn placeholder_index(id: &str) -> Option<usize> {
    id.strip_prefix('$')?.parse::<usize>().ok()?.checked_sub(1)
}

fn plan_has_placeholders(plan: &LogicalPlan) -> bool {
    plan.get_parameter_fields()
        .map(|fields| !fields.is_empty())
        .unwrap_or(false)
}

/// Gives result columns PostgreSQL's names where the query left them unnamed.
fn rename_columns(schema: &SchemaRef, names: Option<&[Option<String>]>) -> SchemaRef {
    let Some(names) = names.filter(|n| n.len() == schema.fields().len()) else {
        return Arc::clone(schema);
    };
    let fields: Vec<FieldRef> = schema
        .fields()
        .iter()
        .zip(names)
        .map(|(field, name)| match name {
            Some(name) => Arc::new(field.as_ref().clone().with_name(name)),
            None => Arc::clone(field),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// Gives untyped placeholders the types the client declared, so the
/// described result columns are those the bound statement will return.
fn type_placeholders(plan: LogicalPlan, declared: &[Option<FieldRef>]) -> Result<LogicalPlan> {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    use datafusion::logical_expr::Expr;
    use datafusion::logical_expr::expr::Placeholder;
    use datafusion::logical_expr::expr::{Cast, TryCast};
    let typed = plan.transform_up_with_subqueries(|node| {
        let node = node.map_expressions(|expr| {
            expr.transform_up(|e| match e {
                // `$1::int4` types an otherwise untyped parameter, as in PostgreSQL.
                Expr::Cast(Cast { expr, field }) => Ok(Transformed::yes(Expr::Cast(Cast {
                    expr: typed_by_cast(expr, &field),
                    field,
                }))),
                Expr::TryCast(TryCast { expr, field }) => {
                    Ok(Transformed::yes(Expr::TryCast(TryCast {
                        expr: typed_by_cast(expr, &field),
                        field,
                    })))
                }
                Expr::Placeholder(Placeholder { id, field: None }) => {
                    match placeholder_index(&id).and_then(|i| declared.get(i).cloned().flatten()) {
                        Some(field) => Ok(Transformed::yes(Expr::Placeholder(Placeholder {
                            id,
                            field: Some(field),
                        }))),
                        None => Ok(Transformed::no(Expr::Placeholder(Placeholder {
                            id,
                            field: None,
                        }))),
                    }
                }
                other => Ok(Transformed::no(other)),
            })
        })?;
        if node.transformed {
            node.map_data(|n| n.recompute_schema())
        } else {
            Ok(node)
        }
    })?;
    Ok(typed.data)
}

/// The input of a cast, typed by the cast when it is an untyped placeholder.
fn typed_by_cast(
    mut expr: Box<datafusion::logical_expr::Expr>,
    field: &FieldRef,
) -> Box<datafusion::logical_expr::Expr> {
    use datafusion::logical_expr::Expr;
    use datafusion::logical_expr::expr::Placeholder;
    if let Expr::Placeholder(Placeholder {
        field: slot @ None, ..
    }) = expr.as_mut()
    {
        *slot = Some(Arc::clone(field));
    }
    expr
}

/// True if the plan reads pg_catalog.
fn scans_catalog(plan: &LogicalPlan) -> bool {
    use datafusion::common::tree_node::TreeNodeRecursion;
    let mut found = false;
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && scan.table_name.schema() == Some("pg_catalog")
        {
            found = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

/// In catalog results, integer arrays are oid arrays (`ARRAY(SELECT atttypid
/// ...)`): DataFusion's array functions drop the oid marking of their input,
/// and clients decoding catalog rows by type (asyncpg's type introspection)
/// need `oid[]`, as PostgreSQL sends.
fn oid_arrays(schema: &SchemaRef) -> SchemaRef {
    use datafusion_pg_catalog::pg_catalog::oid_field::{OID_ALIAS_KEY, kind};
    let fields: Vec<FieldRef> = schema
        .fields()
        .iter()
        .map(|field| match field.data_type() {
            DataType::List(item)
                if item.data_type() == &DataType::Int32 && item.metadata().is_empty() =>
            {
                let item = item
                    .as_ref()
                    .clone()
                    .with_metadata([(OID_ALIAS_KEY.to_owned(), kind::OID.to_owned())].into());
                Arc::new(
                    field
                        .as_ref()
                        .clone()
                        .with_data_type(DataType::List(Arc::new(item))),
                )
            }
            _ => Arc::clone(field),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// True if the plan computes a window function anywhere.
fn has_window(plan: &LogicalPlan) -> Result<bool> {
    use datafusion::common::tree_node::TreeNodeRecursion;
    let mut found = false;
    plan.apply_with_subqueries(|node| {
        if matches!(node, LogicalPlan::Window(_)) {
            found = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(found)
}

/// Statements whose result is rows rather than a command tag.
fn returns_rows(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Ddl(_) | LogicalPlan::Dml(_) | LogicalPlan::Copy(_) => false,
        LogicalPlan::Statement(statement) => matches!(statement, LogicalStatement::Execute(_)),
        _ => true,
    }
}

fn rows(schema: SchemaRef, batches: Vec<RecordBatch>) -> Output {
    let stream = datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
        Arc::clone(&schema),
        futures::stream::iter(batches.into_iter().map(Ok)),
    );
    Output::Rows {
        schema,
        stream: Box::pin(stream),
        verb: "SELECT",
    }
}

/// Sums DataFusion's `count` column of a DML result.
async fn count_rows(mut stream: SendableRecordBatchStream) -> Result<u64> {
    use futures::StreamExt;
    let mut total = 0;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        if let Some(column) = batch.columns().first()
            && let Some(counts) = column.as_primitive_opt::<UInt64Type>()
        {
            total += counts.iter().flatten().sum::<u64>();
        } else {
            total += batch.num_rows() as u64;
        }
    }
    Ok(total)
}

/// Collects the names of functions a statement calls.
struct FunctionNames(Vec<String>);

impl Visitor for FunctionNames {
    type Break = ();

    fn pre_visit_expr(
        &mut self,
        expr: &datafusion::sql::sqlparser::ast::Expr,
    ) -> std::ops::ControlFlow<Self::Break> {
        if let datafusion::sql::sqlparser::ast::Expr::Function(function) = expr
            && let Some(last) = function.name.0.last()
        {
            let name = match last {
                datafusion::sql::sqlparser::ast::ObjectNamePart::Identifier(ident)
                    if ident.quote_style.is_none() =>
                {
                    ident.value.to_ascii_lowercase()
                }
                other => other.to_string(),
            };
            self.0.push(name);
        }
        std::ops::ControlFlow::Continue(())
    }
}
