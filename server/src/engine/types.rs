//! SQL type names DataFusion does not know: `uuid`, `json` and `jsonb`
//! become Arrow's canonical extension types, which the wire layer sends as
//! PostgreSQL's uuid, json and jsonb. Everything else goes to pg_catalog's
//! planner (which adds `regclass` and the other oid aliases) and then to
//! DataFusion's own.

use datafusion::arrow::datatypes::FieldRef;
use datafusion::error::Result;
use datafusion::logical_expr::planner::TypePlanner;
use datafusion::sql::sqlparser::ast::DataType as SqlType;
use datafusion_pg_catalog::pg_catalog::oid_type_planner::PgOidTypePlanner;
use pgwire::api::Type;

use crate::wire::types::arrow_field_for;

#[derive(Debug)]
pub struct StrataTypePlanner;

impl TypePlanner for StrataTypePlanner {
    fn plan_type_field(&self, sql_type: &SqlType) -> Result<Option<FieldRef>> {
        let pg = match sql_type {
            SqlType::Uuid => Type::UUID,
            SqlType::JSON => Type::JSON,
            SqlType::JSONB => Type::JSONB,
            other => return PgOidTypePlanner.plan_type_field(other),
        };
        Ok(arrow_field_for(&pg))
    }
}
