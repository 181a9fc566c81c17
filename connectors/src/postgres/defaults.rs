//! Column defaults of PostgreSQL tables: `INSERT INTO pg.s.t (a, b) ...`
//! leaves the other columns to PostgreSQL, which fills in their defaults
//! (`serial`, identity, `DEFAULT now()`), as an INSERT in PostgreSQL would.
//!
//! DataFusion fills a column an INSERT does not name with the table's
//! default expression. For a column with a PostgreSQL default that is a
//! marker, [`pg_column_default()`]; the insert node then drops marked
//! columns from what it copies, so PostgreSQL applies its own default.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::DataType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::physical_expr::ScalarFunctionExpr;
use datafusion::physical_expr::expressions::{CastExpr, TryCastExpr};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::{ExecutionPlan, PhysicalExpr};
use datafusion::scalar::ScalarValue;

use super::PgColumn;

/// The marker's name.
const NAME: &str = "pg_column_default";

/// The marker function: NULL wherever it is evaluated, which is nowhere
/// once an insert into PostgreSQL has removed it.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PgColumnDefault {
    signature: Signature,
}

impl Default for PgColumnDefault {
    fn default() -> Self {
        Self {
            // Volatile, so the planner never folds it away.
            signature: Signature::exact(vec![], Volatility::Volatile),
        }
    }
}

impl ScalarUDFImpl for PgColumnDefault {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Null)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(ColumnarValue::Scalar(ScalarValue::Null))
    }
}

/// The marker function, to register in every node's session.
pub fn udf() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::from(PgColumnDefault::default()))
}

/// The default expression of a column PostgreSQL has a default for.
pub fn pg_column_default() -> &'static Expr {
    static MARKER: LazyLock<Expr> = LazyLock::new(|| udf().call(vec![]));
    &MARKER
}

/// True for the marker, seen through the casts DataFusion adds.
fn is_marker(expr: &Arc<dyn PhysicalExpr>) -> bool {
    if let Some(cast) = expr.downcast_ref::<CastExpr>() {
        return is_marker(cast.expr());
    }
    if let Some(cast) = expr.downcast_ref::<TryCastExpr>() {
        return is_marker(cast.expr());
    }
    expr.downcast_ref::<ScalarFunctionExpr>()
        .is_some_and(|f| f.name() == NAME)
}

/// `input` (an insert's rows, `columns` of the target table) without the
/// columns left to their PostgreSQL default, and the columns that remain.
pub fn without_defaulted(
    input: Arc<dyn ExecutionPlan>,
    columns: &[PgColumn],
) -> Result<(Arc<dyn ExecutionPlan>, Vec<PgColumn>)> {
    let Some(projection) = input.downcast_ref::<ProjectionExec>() else {
        return Ok((input, columns.to_vec()));
    };
    let exprs = projection.expr();
    if exprs.len() != columns.len() || !exprs.iter().any(|e| is_marker(&e.expr)) {
        return Ok((input, columns.to_vec()));
    }
    let (kept, kept_columns): (Vec<_>, Vec<_>) = exprs
        .iter()
        .zip(columns)
        .filter(|(e, _)| !is_marker(&e.expr))
        .map(|(e, c)| (e.clone(), c.clone()))
        .unzip();
    if kept.is_empty() {
        return Err(DataFusionError::NotImplemented(
            "an INSERT into a PostgreSQL table that names no column".to_owned(),
        ));
    }
    let projection = ProjectionExec::try_new(kept, Arc::clone(projection.input()))?;
    Ok((Arc::new(projection), kept_columns))
}
