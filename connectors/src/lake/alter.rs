//! Changes to a lake table's definition: columns added, comments set. Each
//! is one commit of new metadata; the data files stay as they are (files
//! written before a column was added read it as NULL).

use std::collections::HashMap;

use arrow::datatypes::{Field, Schema};
use deltalake_core::kernel::MetadataValue;
use deltalake_core::operations::update_table_metadata::TableMetadataUpdate;
use url::Url;

use super::snapshot::{VersionSpec, open};
use super::types::delta_schema;
use super::{LakeError, delta_error};

/// Adds `columns` (nullable) to the end of the table's columns.
pub async fn add_columns(name: &str, location: &Url, columns: Vec<Field>) -> Result<(), LakeError> {
    if let Some(field) = columns.iter().find(|f| !f.is_nullable()) {
        return Err(LakeError::NotSupported(format!(
            "adding column \"{}\" as NOT NULL (rows already in the table have no value for it)",
            field.name()
        )));
    }
    let table = open(name, location, VersionSpec::Latest).await?;
    let current = table
        .snapshot()
        .map_err(|e| delta_error(name, e))?
        .snapshot()
        .arrow_schema();
    if let Some(field) = columns
        .iter()
        .find(|f| current.field_with_name(f.name()).is_ok())
    {
        return Err(LakeError::DuplicateColumn {
            table: name.to_owned(),
            column: field.name().clone(),
        });
    }
    let fields = delta_schema(&Schema::new(columns))?;
    table
        .add_columns()
        .with_fields(fields.fields().cloned().collect::<Vec<_>>())
        .await
        .map_err(|e| delta_error(name, e))?;
    Ok(())
}

/// Sets (or with `None` clears) the table's comment.
pub async fn set_comment(
    name: &str,
    location: &Url,
    comment: Option<String>,
) -> Result<(), LakeError> {
    let table = open(name, location, VersionSpec::Latest).await?;
    table
        .update_table_metadata()
        .with_update(TableMetadataUpdate {
            name: None,
            description: Some(comment.unwrap_or_default()),
        })
        .await
        .map_err(|e| delta_error(name, e))?;
    Ok(())
}

/// Sets (or with `None` clears) the comment of column `column`.
pub async fn set_column_comment(
    name: &str,
    location: &Url,
    column: &str,
    comment: Option<String>,
) -> Result<(), LakeError> {
    let table = open(name, location, VersionSpec::Latest).await?;
    let schema = table
        .snapshot()
        .map_err(|e| delta_error(name, e))?
        .snapshot()
        .arrow_schema();
    if schema.field_with_name(column).is_err() {
        return Err(LakeError::UndefinedColumn {
            table: name.to_owned(),
            column: column.to_owned(),
        });
    }
    table
        .update_field_metadata()
        .with_field_name(column)
        .with_metadata(HashMap::from([(
            "comment".to_owned(),
            MetadataValue::String(comment.unwrap_or_default()),
        )]))
        .await
        .map_err(|e| delta_error(name, e))?;
    Ok(())
}
