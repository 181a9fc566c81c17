//! SQL cursors: `DECLARE name CURSOR FOR query`, `FETCH n FROM name`,
//! `CLOSE name` — how Tableau, postgres_fdw and psycopg's named cursors page
//! through large results.
//!
//! A cursor holds its query's running stream and hands out rows as they are
//! fetched; rows left over from a batch wait for the next FETCH. Cursors move
//! forward only (`NO SCROLL`). One declared without `WITH HOLD` lives until
//! its transaction block ends; one `WITH HOLD`, until it is closed or the
//! session ends (or the block that declared it rolls back).

use std::collections::HashMap;
use std::sync::Mutex;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::error::{Result, StrataError};

struct Cursor {
    schema: SchemaRef,
    /// In a mutex only so that a session stays `Sync`; reached through
    /// `get_mut`, never locked.
    stream: Mutex<SendableRecordBatchStream>,
    /// Rows of the last batch not fetched yet.
    pending: Option<RecordBatch>,
    hold: bool,
    /// Declared inside the transaction block still open.
    in_block: bool,
    /// Stops the query (and its Ballista job) when the cursor closes.
    stop: CancellationToken,
}

impl Drop for Cursor {
    fn drop(&mut self) {
        // A stopped stream cancels its job the next time it is polled.
        self.stop.cancel();
        let schema = self.schema.clone();
        let empty: SendableRecordBatchStream = Box::pin(RecordBatchStreamAdapter::new(
            schema,
            futures::stream::empty(),
        ));
        let mut stream = std::mem::replace(stream_of(&mut self.stream), empty);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { while stream.next().await.is_some() {} });
        }
    }
}

fn stream_of(stream: &mut Mutex<SendableRecordBatchStream>) -> &mut SendableRecordBatchStream {
    stream.get_mut().unwrap_or_else(|p| p.into_inner())
}

/// A session's open cursors, by name.
#[derive(Default)]
pub struct Cursors {
    open: HashMap<String, Cursor>,
}

impl std::fmt::Debug for Cursors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.open.keys()).finish()
    }
}

impl Cursors {
    /// Opens cursor `name` over a started query.
    pub fn declare(
        &mut self,
        name: &str,
        schema: SchemaRef,
        stream: SendableRecordBatchStream,
        hold: bool,
        in_block: bool,
        stop: CancellationToken,
    ) -> Result<()> {
        if self.open.contains_key(name) {
            return Err(StrataError::DuplicateCursor(name.to_owned()));
        }
        self.open.insert(
            name.to_owned(),
            Cursor {
                schema,
                stream: Mutex::new(stream),
                pending: None,
                hold,
                in_block,
                stop,
            },
        );
        Ok(())
    }

    /// The columns cursor `name` returns.
    pub fn schema(&self, name: &str) -> Result<SchemaRef> {
        self.open
            .get(name)
            .map(|c| c.schema.clone())
            .ok_or_else(|| StrataError::UndefinedCursor(name.to_owned()))
    }

    /// The next `count` rows (all that are left for `None`) of cursor
    /// `name`, fewer at the end. A failed read closes the cursor.
    pub async fn fetch(
        &mut self,
        name: &str,
        count: Option<usize>,
    ) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let cursor = self
            .open
            .get_mut(name)
            .ok_or_else(|| StrataError::UndefinedCursor(name.to_owned()))?;
        let mut batches = Vec::new();
        let mut rows = 0;
        while count.is_none_or(|n| rows < n) {
            let batch = match cursor.pending.take() {
                Some(batch) => batch,
                None => match stream_of(&mut cursor.stream).next().await {
                    Some(Ok(batch)) => batch,
                    Some(Err(e)) => {
                        self.open.remove(name);
                        return Err(e.into());
                    }
                    None => break,
                },
            };
            let wanted = count.map_or(batch.num_rows(), |n| n - rows);
            if batch.num_rows() > wanted {
                cursor.pending = Some(batch.slice(wanted, batch.num_rows() - wanted));
                batches.push(batch.slice(0, wanted));
                rows += wanted;
            } else {
                rows += batch.num_rows();
                batches.push(batch);
            }
        }
        Ok((cursor.schema.clone(), batches))
    }

    /// Closes cursor `name` (its query stops).
    pub fn close(&mut self, name: &str) -> Result<()> {
        self.open
            .remove(name)
            .map(drop)
            .ok_or_else(|| StrataError::UndefinedCursor(name.to_owned()))
    }

    pub fn close_all(&mut self) {
        self.open.clear();
    }

    /// The transaction block ended: cursors without hold close, and on a
    /// rollback so do those the block declared.
    pub fn end_block(&mut self, committed: bool) {
        self.open
            .retain(|_, c| c.hold && (committed || !c.in_block));
        for cursor in self.open.values_mut() {
            cursor.in_block = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, Int64Array};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn numbers(batches: &[std::ops::Range<i64>]) -> (SchemaRef, SendableRecordBatchStream) {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let batches: Vec<_> = batches
            .iter()
            .map(|r| {
                RecordBatch::try_new(
                    schema.clone(),
                    vec![Arc::new(Int64Array::from_iter_values(r.clone()))],
                )
                .map_err(Into::into)
            })
            .collect();
        let stream = RecordBatchStreamAdapter::new(schema.clone(), futures::stream::iter(batches));
        (schema, Box::pin(stream))
    }

    fn values(batches: &[RecordBatch]) -> Vec<i64> {
        batches
            .iter()
            .flat_map(|b| {
                let a = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                (0..a.len()).map(|i| a.value(i)).collect::<Vec<_>>()
            })
            .collect()
    }

    #[tokio::test]
    async fn fetches_page_through_batches_and_blocks_end_cursors() {
        let mut cursors = Cursors::default();
        let (schema, stream) = numbers(&[0..3, 3..4, 4..10]);
        cursors
            .declare("c", schema, stream, false, true, CancellationToken::new())
            .unwrap();
        assert_eq!(
            values(&cursors.fetch("c", Some(2)).await.unwrap().1),
            [0, 1]
        );
        assert_eq!(
            values(&cursors.fetch("c", Some(3)).await.unwrap().1),
            [2, 3, 4]
        );
        assert_eq!(
            values(&cursors.fetch("c", Some(0)).await.unwrap().1),
            [] as [i64; 0]
        );
        assert_eq!(
            values(&cursors.fetch("c", None).await.unwrap().1),
            [5, 6, 7, 8, 9]
        );
        assert!(cursors.fetch("c", Some(1)).await.unwrap().1.is_empty());

        let (schema, stream) = numbers(&[0..1, 1..1]);
        assert!(matches!(
            cursors.declare("c", schema, stream, false, true, CancellationToken::new()),
            Err(StrataError::DuplicateCursor(_))
        ));
        let (schema, stream) = numbers(&[0..1, 1..1]);
        cursors
            .declare("held", schema, stream, true, true, CancellationToken::new())
            .unwrap();
        cursors.end_block(true);
        assert!(matches!(
            cursors.fetch("c", None).await,
            Err(StrataError::UndefinedCursor(_))
        ));
        assert!(
            cursors.schema("held").is_ok(),
            "a held cursor outlives its block"
        );
        let (schema, stream) = numbers(&[0..1, 1..1]);
        cursors
            .declare(
                "later",
                schema,
                stream,
                true,
                true,
                CancellationToken::new(),
            )
            .unwrap();
        cursors.end_block(false);
        assert!(cursors.schema("held").is_ok());
        assert!(
            cursors.schema("later").is_err(),
            "rolled back with its block"
        );
        cursors.close("held").unwrap();
        assert!(cursors.close("held").is_err());
    }
}
