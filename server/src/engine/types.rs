//! SQL type names DataFusion does not know: `uuid`, `json` and `jsonb`
//! become Arrow's canonical extension types, which the wire layer sends as
//! PostgreSQL's uuid, json and jsonb. Everything else goes to pg_catalog's
//! planner (which adds `regclass` and the other oid aliases) and then to
//! DataFusion's own.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::error::Result;
use datafusion::logical_expr::planner::TypePlanner;
use datafusion::sql::sqlparser::ast::{ArrayElemTypeDef, DataType as SqlType};
use datafusion_pg_catalog::pg_catalog::oid_field::{OID_ALIAS_KEY, OID_ALIAS_TYPE_NAMES};
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
            // Arrays of the types above (uuid[], oid[], regclass[]) keep their
            // element's marking; other arrays are DataFusion's to plan.
            SqlType::Array(
                ArrayElemTypeDef::SquareBracket(element, _)
                | ArrayElemTypeDef::AngleBracket(element),
            ) => {
                if let Some(item) = oid_alias(element) {
                    return Ok(Some(Arc::new(Field::new(
                        "",
                        DataType::List(Arc::new(item)),
                        true,
                    ))));
                }
                return Ok(self.plan_type_field(element)?.map(|item| {
                    let item = Field::new("item", item.data_type().clone(), true)
                        .with_metadata(item.metadata().clone());
                    Arc::new(Field::new("", DataType::List(Arc::new(item)), true))
                }));
            }
            // `name`, PostgreSQL's identifier type (`'_RETURN'::name`), is text.
            SqlType::Custom(name, modifiers)
                if modifiers.is_empty()
                    && name
                        .0
                        .last()
                        .is_some_and(|part| part.to_string().eq_ignore_ascii_case("name")) =>
            {
                return Ok(Some(Arc::new(Field::new("", DataType::Utf8, true))));
            }
            other => return PgOidTypePlanner.plan_type_field(other),
        };
        Ok(arrow_field_for(&pg))
    }
}

/// `oid`, `regclass` and the other oid aliases as a marked Int32 field, the
/// way pg_catalog's columns carry them.
fn oid_alias(sql_type: &SqlType) -> Option<Field> {
    let SqlType::Custom(name, modifiers) = sql_type else {
        return None;
    };
    if !modifiers.is_empty() {
        return None;
    }
    let last = name.0.last()?.to_string().to_ascii_lowercase();
    let kind = OID_ALIAS_TYPE_NAMES.iter().find(|k| **k == last)?;
    Some(
        Field::new("item", DataType::Int32, true)
            .with_metadata([(OID_ALIAS_KEY.to_owned(), (*kind).to_owned())].into()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::ast::{Ident, ObjectName};

    fn plan(sql_type: SqlType) -> Option<Type> {
        StrataTypePlanner
            .plan_type_field(&sql_type)
            .unwrap()
            .map(|field| crate::wire::types::pg_type(&field))
    }

    #[test]
    fn extension_and_oid_types_reach_the_wire_as_postgresql_types() {
        assert_eq!(plan(SqlType::Uuid), Some(Type::UUID));
        assert_eq!(plan(SqlType::JSONB), Some(Type::JSONB));
        let oid = SqlType::Custom(ObjectName::from(vec![Ident::new("oid")]), vec![]);
        let oid_array = SqlType::Array(ArrayElemTypeDef::SquareBracket(Box::new(oid), None));
        assert_eq!(plan(oid_array), Some(Type::OID_ARRAY));
        let uuid_array = SqlType::Array(ArrayElemTypeDef::SquareBracket(
            Box::new(SqlType::Uuid),
            None,
        ));
        assert_eq!(plan(uuid_array), Some(Type::UUID_ARRAY));
        assert_eq!(plan(SqlType::Text), None, "plain types stay DataFusion's");
    }
}
