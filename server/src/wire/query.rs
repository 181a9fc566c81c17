//! Simple and extended query handling: statements in, rows and command tags out.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::physical_plan::SendableRecordBatchStream;
use futures::{Sink, SinkExt, StreamExt};
use pgwire::api::portal::{Format, Portal, PortalExecutionState};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler, send_describe_response};
use pgwire::api::results::{
    DescribePortalResponse, DescribeStatementResponse, FieldInfo, QueryResponse, SendableRowStream,
    Tag,
};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::{Entry, PortalStore};
use pgwire::api::{ClientInfo, ClientPortalStore, DEFAULT_NAME, PgWireConnectionState, Type};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::data::{DataRow, RowDescription};
use pgwire::messages::extendedquery::{
    Describe, Execute, Parse, ParseComplete, PortalSuspended, TARGET_TYPE_BYTE_PORTAL,
};
use pgwire::messages::response::{CommandComplete, EmptyQueryResponse, ReadyForQuery};
use pgwire::messages::simplequery::Query;
use pgwire::messages::startup::ParameterStatus;
use tracing::Instrument;

use super::copy::CopyOutEncoder;
use super::copy_in::CopyInDecoder;
use super::encode::{RowEncoder, field_infos};
use super::params::decode_param;
use super::progress::Progress;
use super::text::{SessionZone, TextOptions};
use super::types::{arrow_field_for, pg_type};
use super::{Connection, to_pgwire, transaction_status};
use crate::engine::CopyIn;
use crate::engine::control::QueryControl;
use crate::engine::statement::CopyOutOptions;
use crate::engine::{CommandDone, Forget, Output, Parsed, Session};
use crate::error::StrataError;
use crate::metrics::ServerMetrics;
use pgwire::api::copy::CopyHandler;
use pgwire::messages::copy::{CopyData, CopyDone, CopyOutResponse};
use pgwire::messages::copy::{CopyFail, CopyInResponse};

/// A statement prepared with Parse: what it is, its parameter types and the
/// columns it returns.
#[derive(Debug)]
pub struct Prepared {
    parsed: Parsed,
    param_types: Vec<Type>,
    columns: Option<SchemaRef>,
}

/// The statement type kept in pgwire's portal store.
pub type PreparedRef = Arc<Prepared>;

impl Connection {
    async fn with_session<T>(
        &self,
        f: impl AsyncFnOnce(&mut Session) -> Result<T, StrataError>,
    ) -> PgWireResult<T> {
        let mut guard = self.session.lock().await;
        let session = guard
            .as_mut()
            .ok_or_else(|| to_pgwire(StrataError::Protocol("no session yet".to_owned())))?;
        f(session).await.map_err(to_pgwire)
    }

    /// Marks the running statement failed and brings the client's
    /// transaction status in line with the session's.
    async fn fail_statement<C: ClientInfo>(&self, client: &mut C) {
        if let Some(session) = self.session.lock().await.as_mut() {
            session.statement_failed();
            client.set_transaction_status(transaction_status(session));
        }
    }

    fn text_options(session: &Session) -> TextOptions {
        let settings = session.settings();
        TextOptions {
            time_zone: SessionZone::parse(&settings.time_zone()),
            extra_float_digits: settings
                .get("extra_float_digits")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1),
        }
    }

    /// Runs one statement and returns its output with what encoding its rows needs.
    async fn run_statement(
        &self,
        parsed: &Parsed,
        params: Params<'_>,
    ) -> PgWireResult<(Output, TextOptions)> {
        let token = self.cancel.begin();
        let span = tracing::info_span!(
            "query",
            query_id = tracing::field::Empty,
            job_id = tracing::field::Empty,
            sql = %truncate(&parsed.sql, 200),
        );
        span.in_scope(|| tracing::debug!("statement"));
        self.with_session(async |session| {
            let settings = session.settings();
            let zone = SessionZone::parse(&settings.time_zone());
            let values = params.decode(&zone)?;
            let control = QueryControl::new(token, settings.statement_timeout())
                .within_connection(self.cancel.terminated());
            let output = session.execute(parsed, values, &control).await?;
            Ok((output, Self::text_options(session)))
        })
        .instrument(span)
        .await
    }

    /// Forgets prepared statements and portals after DISCARD ALL / DEALLOCATE.
    fn forget<S: PortalStore>(&self, store: &S, forget: &Forget) -> PgWireResult<()> {
        let mut prepared = self.prepared.lock().unwrap_or_else(|p| p.into_inner());
        match forget {
            Forget::Everything | Forget::Prepared(None) => {
                for name in prepared.drain() {
                    store.rm_statement(&name);
                }
                if matches!(forget, Forget::Everything) {
                    store.clear_portals();
                }
            }
            Forget::Prepared(Some(name)) => {
                if !prepared.remove(name) {
                    return Err(to_pgwire(StrataError::UndefinedPreparedStatement(
                        name.clone(),
                    )));
                }
                store.rm_statement(name);
            }
        }
        Ok(())
    }
}

/// The first `max` characters of `sql`, for logs.
fn truncate(sql: &str, max: usize) -> &str {
    match sql.char_indices().nth(max) {
        Some((at, _)) => &sql[..at],
        None => sql,
    }
}

/// Parameters of one execution, still in wire form.
struct Params<'a> {
    values: &'a [Option<bytes::Bytes>],
    types: &'a [Type],
    format: &'a Format,
}

impl Params<'_> {
    const NONE: Params<'static> = Params {
        values: &[],
        types: &[],
        format: &Format::UnifiedText,
    };

    fn decode(
        &self,
        zone: &SessionZone,
    ) -> Result<Vec<datafusion::common::metadata::ScalarAndMetadata>, StrataError> {
        if self.values.len() != self.types.len() {
            return Err(StrataError::Protocol(format!(
                "bind message supplies {} parameters, but prepared statement requires {}",
                self.values.len(),
                self.types.len()
            )));
        }
        self.values
            .iter()
            .zip(self.types)
            .enumerate()
            .map(|(i, (value, pg))| {
                decode_param(value.as_deref(), pg, self.format.is_binary(i), zone)
            })
            .collect()
    }
}

/// Awaits `work`, sending `progress` NOTICEs to `client` while it takes
/// long (`sent` rows having gone out so far).
async fn reporting<C, T>(
    client: &mut C,
    progress: Option<&mut Progress>,
    sent: usize,
    work: impl Future<Output = T>,
) -> PgWireResult<T>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let Some(progress) = progress else {
        return Ok(work.await);
    };
    tokio::pin!(work);
    loop {
        tokio::select! {
            done = &mut work => return Ok(done),
            _ = progress.due() => {
                let notice = progress.notice(sent).await;
                client.send(PgWireBackendMessage::NoticeResponse(notice)).await?;
            }
        }
    }
}

/// A stream of DataRows from a stream of record batches, their bytes
/// counted into `metrics`.
fn row_stream(
    stream: SendableRecordBatchStream,
    encoder: RowEncoder,
    metrics: ServerMetrics,
) -> SendableRowStream {
    let rows = stream.flat_map(move |batch| {
        let rows: Vec<PgWireResult<DataRow>> = match batch {
            Ok(batch) => match encoder.encode(&batch) {
                Ok(rows) => {
                    // Each DataRow: its type byte, length and field count,
                    // then the fields.
                    let bytes: usize = rows.iter().map(|row| row.data.len() + 7).sum();
                    metrics.bytes_returned(bytes as u64);
                    rows.into_iter().map(Ok).collect()
                }
                Err(e) => vec![Err(to_pgwire(e))],
            },
            Err(e) => vec![Err(to_pgwire(StrataError::from(e)))],
        };
        futures::stream::iter(rows)
    });
    Box::pin(rows)
}

async fn send_command<C>(client: &mut C, done: &CommandDone) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    for (name, value) in &done.reports {
        client
            .feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                name.clone(),
                value.clone(),
            )))
            .await?;
    }
    client
        .feed(PgWireBackendMessage::CommandComplete(CommandComplete::new(
            done.tag.clone(),
        )))
        .await?;
    Ok(())
}

#[async_trait]
impl SimpleQueryHandler for Connection {
    async fn on_query<C>(&self, client: &mut C, query: Query) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        client.set_state(PgWireConnectionState::QueryInProgress);
        let result = self.simple_query(client, &query.query).await;
        if result.is_ok() && matches!(client.state(), PgWireConnectionState::CopyInProgress(_)) {
            // ReadyForQuery follows the rows (the copy handler's end).
            return client.flush().await.map_err(PgWireError::from);
        }
        client.set_state(PgWireConnectionState::ReadyForQuery);
        if let Err(e) = result {
            self.fail_statement(client).await;
            return Err(e);
        }
        let status = client.transaction_status();
        client
            .send(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
                status,
            )))
            .await?;
        Ok(())
    }

    async fn do_query<C>(
        &self,
        _client: &mut C,
        _query: &str,
    ) -> PgWireResult<Vec<pgwire::api::results::Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        // `on_query` is overridden: statements run one at a time, each
        // streamed to the client before the next one starts.
        Err(to_pgwire(StrataError::Internal(
            "simple query reached the unused do_query".to_owned(),
        )))
    }
}

impl Connection {
    async fn simple_query<C>(&self, client: &mut C, sql: &str) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let statements = self.engine.parse(sql).map_err(to_pgwire)?;
        if statements.is_empty() {
            client
                .feed(PgWireBackendMessage::EmptyQueryResponse(
                    EmptyQueryResponse::new(),
                ))
                .await?;
            return Ok(());
        }
        for (i, parsed) in statements.iter().enumerate() {
            let sent = self.send_statement(client, parsed).await;
            if matches!(client.state(), PgWireConnectionState::CopyInProgress(_)) {
                // The rows come next; the statement ends with them.
                sent?;
                if i + 1 < statements.len() {
                    tracing::warn!("statements after COPY FROM STDIN in one query are ignored");
                }
                return Ok(());
            }
            self.statement_done().await;
            sent?;
        }
        Ok(())
    }

    /// Runs one statement of a simple query and sends its result.
    async fn send_statement<C>(&self, client: &mut C, parsed: &Parsed) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        // Progress NOTICEs, if the session asked for them.
        let mut progress = self
            .with_session(async |session| {
                Ok(session
                    .progress()
                    .then(|| Progress::new(Arc::clone(&self.engine), session.pid())))
            })
            .await?;
        let run = self.run_statement(parsed, Params::NONE);
        let (output, text) = reporting(client, progress.as_mut(), 0, run).await??;
        self.sync_status(client).await;
        match output {
            Output::Rows {
                schema,
                stream,
                verb,
            } => {
                let fields = field_infos(&schema, &Format::UnifiedText);
                client
                    .feed(PgWireBackendMessage::RowDescription(RowDescription::new(
                        fields.iter().map(Into::into).collect(),
                    )))
                    .await?;
                let mut rows = row_stream(
                    stream,
                    RowEncoder::new(&fields, text),
                    self.engine.metrics().clone(),
                );
                let mut count = 0usize;
                while let Some(row) =
                    reporting(client, progress.as_mut(), count, rows.next()).await?
                {
                    client.feed(PgWireBackendMessage::DataRow(row?)).await?;
                    count += 1;
                }
                let tag = Tag::new(verb).with_rows(count);
                client
                    .feed(PgWireBackendMessage::CommandComplete(tag.into()))
                    .await?;
            }
            Output::Command(done) => {
                if let Some(forget) = &done.forget {
                    self.forget(client.portal_store(), forget)?;
                }
                send_command(client, &done).await?;
            }
            Output::CopyOut {
                schema,
                stream,
                options,
            } => send_copy_out(client, &schema, stream, options, text).await?,
            Output::CopyIn(copy) => self.start_copy_in(client, copy, false).await?,
        }
        Ok(())
    }

    /// The statement's result is sent: pg_stat_activity shows the session
    /// idle again.
    async fn statement_done(&self) {
        if let Some(session) = self.session.lock().await.as_ref() {
            session.statement_done();
        }
    }

    async fn sync_status<C: ClientInfo>(&self, client: &mut C) {
        if let Some(session) = self.session.lock().await.as_ref() {
            client.set_transaction_status(transaction_status(session));
        }
    }
}

#[async_trait]
impl QueryParser for Connection {
    type Statement = PreparedRef;

    async fn parse_sql<C>(
        &self,
        _client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<PreparedRef>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let mut statements = self.engine.parse(sql).map_err(to_pgwire)?;
        let parsed = match statements.len() {
            0 => return Ok(None),
            1 => statements.remove(0),
            _ => {
                return Err(to_pgwire(StrataError::Syntax(
                    datafusion::sql::sqlparser::parser::ParserError::ParserError(
                        "cannot insert multiple commands into a prepared statement".to_owned(),
                    ),
                )));
            }
        };
        let declared: Vec<Option<Type>> = types
            .iter()
            .map(|t| t.clone().filter(|t| *t != Type::UNKNOWN))
            .collect();
        let client_fields: Vec<_> = declared
            .iter()
            .map(|t| t.as_ref().and_then(arrow_field_for))
            .collect();
        let description = self
            .with_session(async |session| session.describe(&parsed, &client_fields).await)
            .await?;
        let count = description.parameters.len().max(declared.len());
        let param_types = (0..count)
            .map(|i| {
                declared
                    .get(i)
                    .cloned()
                    .flatten()
                    .or_else(|| {
                        description
                            .parameters
                            .get(i)
                            .cloned()
                            .flatten()
                            .map(|field| pg_type(&field))
                    })
                    .unwrap_or(Type::TEXT)
            })
            .collect();
        Ok(Some(Arc::new(Prepared {
            parsed,
            param_types,
            columns: description.columns,
        })))
    }

    fn get_parameter_types(&self, stmt: &PreparedRef) -> PgWireResult<Vec<Type>> {
        Ok(stmt.param_types.clone())
    }

    fn get_result_schema(
        &self,
        stmt: &PreparedRef,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        Ok(match &stmt.columns {
            Some(schema) => field_infos(schema, column_format.unwrap_or(&Format::UnifiedText)),
            None => Vec::new(),
        })
    }
}

#[async_trait]
impl ExtendedQueryHandler for Connection {
    type Statement = PreparedRef;
    type QueryParser = Connection;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.self_ref()
    }

    async fn on_parse<C>(&self, client: &mut C, message: Parse) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message
            .name
            .clone()
            .unwrap_or_else(|| DEFAULT_NAME.to_owned());
        let parsed = match StoredStatement::parse(client, &message, self.self_ref()).await {
            Ok(parsed) => parsed,
            Err(e) => {
                self.fail_statement(client).await;
                return Err(e);
            }
        };
        match parsed {
            Some(stmt) => client.portal_store().put_statement(Arc::new(stmt)),
            None => client.portal_store().put_empty_statement(&name),
        }
        if message.name.is_some() {
            self.prepared
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(name);
        }
        client
            .send(PgWireBackendMessage::ParseComplete(ParseComplete::new()))
            .await?;
        Ok(())
    }

    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        let portal = match client.portal_store().get_portal(name) {
            Some(Entry::Value(portal)) => portal,
            Some(Entry::Empty) => {
                client
                    .feed(PgWireBackendMessage::EmptyQueryResponse(
                        EmptyQueryResponse::new(),
                    ))
                    .await?;
                return Ok(());
            }
            None => return Err(PgWireError::PortalNotFound(name.to_owned())),
        };
        client.set_state(PgWireConnectionState::QueryInProgress);
        let result = self
            .execute_portal(client, &portal, message.max_rows.max(0) as usize)
            .await;
        if result.is_ok() && matches!(client.state(), PgWireConnectionState::CopyInProgress(_)) {
            // COPY FROM STDIN: the rows come next, and end the statement.
            return Ok(());
        }
        self.statement_done().await;
        client.set_state(PgWireConnectionState::ReadyForQuery);
        match result {
            Ok(()) => {
                self.sync_status(client).await;
                Ok(())
            }
            Err(e) => {
                // A failed portal cannot be resumed.
                *portal.state().lock().await = PortalExecutionState::Finished;
                self.fail_statement(client).await;
                Err(e)
            }
        }
    }

    /// A portal the protocol does not know may be a SQL cursor, which
    /// PostgreSQL describes as a portal of the same name (psycopg's
    /// server-side cursors ask so).
    async fn on_describe<C>(&self, client: &mut C, message: Describe) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        if message.target_type == TARGET_TYPE_BYTE_PORTAL
            && client.portal_store().get_portal(name).is_none()
        {
            let schema = self
                .with_session(async |session| Ok(session.cursor_schema(name)))
                .await?;
            if let Some(schema) = schema {
                let fields = field_infos(&schema, &Format::UnifiedText);
                return send_describe_response(client, &DescribePortalResponse::new(fields)).await;
            }
        }
        self._on_describe(client, message).await
    }

    async fn do_describe_statement<C>(
        &self,
        _client: &mut C,
        target: &StoredStatement<Self::Statement>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let prepared = &target.statement;
        Ok(DescribeStatementResponse::new(
            prepared.param_types.clone(),
            self.get_result_schema(prepared, None)?,
        ))
    }

    async fn do_query<C>(
        &self,
        _client: &mut C,
        _portal: &Portal<Self::Statement>,
        _max_rows: usize,
    ) -> PgWireResult<pgwire::api::results::Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        // `on_execute` is overridden so rows stream without being collected.
        Err(to_pgwire(StrataError::Internal(
            "extended query reached the unused do_query".to_owned(),
        )))
    }
}

impl Connection {
    async fn execute_portal<C>(
        &self,
        client: &mut C,
        portal: &Portal<PreparedRef>,
        max_rows: usize,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = PreparedRef>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let state = portal.state();
        let mut state = state.lock().await;
        if matches!(*state, PortalExecutionState::Initial) {
            let prepared = &portal.statement.statement;
            let params = Params {
                values: &portal.parameters,
                types: &prepared.param_types,
                format: &portal.parameter_format,
            };
            let (output, text) = self.run_statement(&prepared.parsed, params).await?;
            match output {
                Output::Rows {
                    schema,
                    stream,
                    verb,
                } => {
                    let fields = field_infos(&schema, &portal.result_column_format);
                    let rows = row_stream(
                        stream,
                        RowEncoder::new(&fields, text),
                        self.engine.metrics().clone(),
                    );
                    let mut response = QueryResponse::new(Arc::new(fields), rows);
                    response.set_command_tag(verb);
                    *state = PortalExecutionState::Suspended(response);
                }
                Output::Command(done) => {
                    if let Some(forget) = &done.forget {
                        self.forget(client.portal_store(), forget)?;
                    }
                    send_command(client, &done).await?;
                    *state = PortalExecutionState::Finished;
                    return Ok(());
                }
                Output::CopyOut {
                    schema,
                    stream,
                    options,
                } => {
                    send_copy_out(client, &schema, stream, options, text).await?;
                    *state = PortalExecutionState::Finished;
                    return Ok(());
                }
                Output::CopyIn(copy) => {
                    self.start_copy_in(client, copy, true).await?;
                    *state = PortalExecutionState::Finished;
                    return Ok(());
                }
            }
        }
        match &mut *state {
            PortalExecutionState::Suspended(response) => {
                let mut count = 0usize;
                let mut exhausted = false;
                while max_rows == 0 || count < max_rows {
                    match response.data_rows().next().await {
                        Some(row) => {
                            client.feed(PgWireBackendMessage::DataRow(row?)).await?;
                            count += 1;
                        }
                        None => {
                            exhausted = true;
                            break;
                        }
                    }
                }
                if exhausted {
                    let tag = Tag::new(response.command_tag()).with_rows(count);
                    client
                        .feed(PgWireBackendMessage::CommandComplete(tag.into()))
                        .await?;
                    *state = PortalExecutionState::Finished;
                } else {
                    client
                        .feed(PgWireBackendMessage::PortalSuspended(PortalSuspended::new()))
                        .await?;
                }
            }
            PortalExecutionState::Finished => {
                let tag = Tag::new("SELECT").with_rows(0);
                client
                    .feed(PgWireBackendMessage::CommandComplete(tag.into()))
                    .await?;
            }
            PortalExecutionState::Initial => {}
        }
        Ok(())
    }
}

/// Streams a `COPY ... TO STDOUT`: CopyOutResponse, one CopyData per row,
/// CopyDone, `COPY n`.
async fn send_copy_out<C>(
    client: &mut C,
    schema: &SchemaRef,
    mut stream: SendableRecordBatchStream,
    options: CopyOutOptions,
    text: TextOptions,
) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let encoder = CopyOutEncoder::new(schema, options, text);
    let columns = encoder.column_count();
    let format = encoder.format_code();
    client
        .feed(PgWireBackendMessage::CopyOutResponse(CopyOutResponse::new(
            format,
            columns as i16,
            vec![i16::from(format); columns],
        )))
        .await?;
    // PostgreSQL sends the binary signature in the message of the first row
    // (or of the trailer), which clients such as psycopg parse as one; a
    // text header line is a message of its own.
    let mut signature = None;
    match encoder.header() {
        Some(header) if format == 1 => signature = Some(header),
        Some(header) => {
            client
                .feed(PgWireBackendMessage::CopyData(CopyData::new(header)))
                .await?;
        }
        None => {}
    }
    let with_signature = |signature: &mut Option<Bytes>, message: Bytes| match signature.take() {
        Some(first) => {
            let mut joined = BytesMut::with_capacity(first.len() + message.len());
            joined.extend_from_slice(&first);
            joined.extend_from_slice(&message);
            joined.freeze()
        }
        None => message,
    };
    let mut count = 0usize;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| to_pgwire(e.into()))?;
        for row in encoder.rows(&batch).map_err(to_pgwire)? {
            let row = with_signature(&mut signature, row);
            client
                .feed(PgWireBackendMessage::CopyData(CopyData::new(row)))
                .await?;
            count += 1;
        }
    }
    if let Some(trailer) = encoder.trailer() {
        let trailer = with_signature(&mut signature, trailer);
        client
            .feed(PgWireBackendMessage::CopyData(CopyData::new(trailer)))
            .await?;
    }
    client
        .feed(PgWireBackendMessage::CopyDone(CopyDone::new()))
        .await?;
    let tag = Tag::new("COPY").with_rows(count);
    client
        .feed(PgWireBackendMessage::CommandComplete(tag.into()))
        .await?;
    Ok(())
}

impl Connection {
    /// Answers a `COPY ... FROM STDIN` with CopyInResponse; the rows come
    /// in CopyData messages to the copy handler.
    async fn start_copy_in<C>(
        &self,
        client: &mut C,
        copy: CopyIn,
        extended: bool,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let columns = copy.schema.fields().len();
        *self.copy_in.lock().unwrap_or_else(|p| p.into_inner()) = Some(CopyInDecoder::new(copy));
        client
            .send(PgWireBackendMessage::CopyInResponse(CopyInResponse::new(
                0,
                columns as i16,
                vec![0; columns],
            )))
            .await?;
        client.set_state(PgWireConnectionState::CopyInProgress(extended));
        Ok(())
    }
}

#[async_trait]
impl CopyHandler for Connection {
    async fn on_copy_data<C>(&self, _client: &mut C, copy_data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let mut slot = self.copy_in.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(decoder) = slot.as_mut()
            && let Err(e) = decoder.push(&copy_data.data)
        {
            // The client keeps sending until CopyDone; the error waits for it.
            *slot = None;
            drop(slot);
            *self.copy_in_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
        }
        Ok(())
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let decoder = self
            .copy_in
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let failed = self
            .copy_in_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let token = self.cancel.begin();
        let result = self
            .with_session(async |session| {
                if let Some(e) = failed {
                    return Err(e);
                }
                let decoder = decoder.ok_or_else(|| {
                    StrataError::Protocol("CopyDone without a COPY FROM STDIN".to_owned())
                })?;
                let (copy, batches) = decoder.finish()?;
                let control = QueryControl::new(token, session.settings().statement_timeout())
                    .within_connection(self.cancel.terminated());
                session.copy_in(&copy, batches, &control).await
            })
            .await;
        self.statement_done().await;
        match result {
            Ok(rows) => {
                self.sync_status(client).await;
                client
                    .send(PgWireBackendMessage::CommandComplete(CommandComplete::new(
                        format!("COPY {rows}"),
                    )))
                    .await?;
                Ok(())
            }
            Err(e) => {
                self.fail_statement(client).await;
                Err(e)
            }
        }
    }

    async fn on_copy_fail<C>(&self, client: &mut C, fail: CopyFail) -> PgWireError
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.copy_in
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        self.copy_in_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        self.statement_done().await;
        self.fail_statement(client).await;
        to_pgwire(StrataError::CopyFailed(fail.message))
    }
}
