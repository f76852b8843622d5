//! Arrow record batches from the column tables (the vocabulary is [`crate::columns`], re-exported
//! here so `crate::output::columns::...` paths keep working): column by column, straight from
//! the rows through each accessor.

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, ListBuilder, NullBufferBuilder, OffsetBufferBuilder, StringBuilder,
    TimestampMillisecondBuilder, UInt8Builder, UInt16Builder, UInt32Builder, UInt64Builder,
};
use arrow_array::{ArrayRef, ListArray, RecordBatch, StructArray};
use arrow_schema::{ArrowError, DataType};

pub use crate::columns::*;

/// Builds a record batch, column by column, straight from the rows through each accessor.
pub fn to_batch<R: Row>(rows: &[R]) -> Result<RecordBatch, ArrowError> {
    let columns = R::columns()
        .iter()
        .map(|c| {
            let mut b = Builder::new(c.ty, rows.len());
            for r in rows {
                let v = c.value(r);
                if !b.append(v) {
                    return Err(ArrowError::InvalidArgumentError(format!(
                        "column {} is {} but its accessor gave {v:?}",
                        c.name, c.ty
                    )));
                }
            }
            b.finish()
        })
        .collect::<Result<Vec<ArrayRef>, _>>()?;
    // Nullability is checked here: a null in a required column is an error.
    RecordBatch::try_new(R::schema(), columns)
}

/// An Arrow array under construction, one variant per `ColType`.
enum Builder {
    Utf8(StringBuilder),
    Boolean(BooleanBuilder),
    UInt8(UInt8Builder),
    UInt16(UInt16Builder),
    UInt32(UInt32Builder),
    UInt64(UInt64Builder),
    Timestamp(TimestampMillisecondBuilder),
    ListUtf8(ListBuilder<StringBuilder>),
    ListUInt8(ListBuilder<UInt8Builder>),
    ListStruct {
        fields: &'static [StructField],
        children: Vec<Builder>,
        offsets: OffsetBufferBuilder<i32>,
        nulls: NullBufferBuilder,
    },
}

impl Builder {
    fn new(ty: ColType, n: usize) -> Builder {
        match ty {
            ColType::Utf8 => Builder::Utf8(StringBuilder::with_capacity(n, n * 16)),
            ColType::Boolean => Builder::Boolean(BooleanBuilder::with_capacity(n)),
            ColType::UInt8 => Builder::UInt8(UInt8Builder::with_capacity(n)),
            ColType::UInt16 => Builder::UInt16(UInt16Builder::with_capacity(n)),
            ColType::UInt32 => Builder::UInt32(UInt32Builder::with_capacity(n)),
            ColType::UInt64 => Builder::UInt64(UInt64Builder::with_capacity(n)),
            ColType::Timestamp => Builder::Timestamp(
                TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC"),
            ),
            ColType::ListUtf8 => Builder::ListUtf8(
                ListBuilder::with_capacity(StringBuilder::new(), n)
                    .with_field(list_of(DataType::Utf8)),
            ),
            ColType::ListUInt8 => Builder::ListUInt8(
                ListBuilder::with_capacity(UInt8Builder::new(), n)
                    .with_field(list_of(DataType::UInt8)),
            ),
            ColType::ListStruct(fields) => Builder::ListStruct {
                fields,
                children: fields.iter().map(|f| Builder::new(f.ty, n)).collect(),
                offsets: OffsetBufferBuilder::new(n),
                nulls: NullBufferBuilder::new(n),
            },
        }
    }

    /// Appends one value; false when it is not of the builder's type.
    fn append(&mut self, v: Value) -> bool {
        match (self, v) {
            (Builder::Utf8(b), Value::Str(x)) => b.append_option(x),
            (Builder::Boolean(b), Value::Bool(x)) => b.append_option(x),
            (Builder::UInt8(b), Value::U8(x)) => b.append_option(x),
            (Builder::UInt16(b), Value::U16(x)) => b.append_option(x),
            (Builder::UInt32(b), Value::U32(x)) => b.append_option(x),
            (Builder::UInt64(b), Value::U64(x)) => b.append_option(x),
            (Builder::Timestamp(b), Value::Ts(ms)) => b.append_value(ms),
            (Builder::Timestamp(b), Value::TsOpt(ms)) => b.append_option(ms),
            (Builder::ListUInt8(b), Value::U8List(x)) => match x {
                Some(items) => {
                    b.values().append_slice(items);
                    b.append(true);
                }
                None => b.append(false),
            },
            (Builder::ListUtf8(b), Value::StrList(x)) => match x {
                Some(items) => {
                    for s in items {
                        b.values().append_value(s);
                    }
                    b.append(true);
                }
                None => b.append(false),
            },
            (
                Builder::ListStruct {
                    fields,
                    children,
                    offsets,
                    nulls,
                },
                Value::StructList(x),
            ) => match x {
                Some(items) => {
                    if items.fields() != *fields {
                        return false;
                    }
                    for i in 0..items.len() {
                        for (j, child) in children.iter_mut().enumerate() {
                            if !child.append(items.field(i, j)) {
                                return false;
                            }
                        }
                    }
                    offsets.push_length(items.len());
                    nulls.append_non_null();
                }
                None => {
                    offsets.push_length(0);
                    nulls.append_null();
                }
            },
            _ => return false,
        }
        true
    }

    fn finish(self) -> Result<ArrayRef, ArrowError> {
        Ok(match self {
            Builder::Utf8(mut b) => Arc::new(b.finish()),
            Builder::Boolean(mut b) => Arc::new(b.finish()),
            Builder::UInt8(mut b) => Arc::new(b.finish()),
            Builder::UInt16(mut b) => Arc::new(b.finish()),
            Builder::UInt32(mut b) => Arc::new(b.finish()),
            Builder::UInt64(mut b) => Arc::new(b.finish()),
            Builder::Timestamp(mut b) => Arc::new(b.finish()),
            Builder::ListUtf8(mut b) => Arc::new(b.finish()),
            Builder::ListUInt8(mut b) => Arc::new(b.finish()),
            Builder::ListStruct {
                fields,
                children,
                offsets,
                mut nulls,
            } => {
                let children = children
                    .into_iter()
                    .map(Builder::finish)
                    .collect::<Result<Vec<_>, _>>()?;
                let arrow = arrow_fields(fields);
                // Struct items are never null themselves; their fields may be.
                let items = StructArray::try_new(arrow.clone(), children, None)?;
                Arc::new(ListArray::try_new(
                    list_of(DataType::Struct(arrow)),
                    offsets.finish(),
                    Arc::new(items),
                    nulls.finish(),
                )?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::rows::DomainRow;
    use arrow_array::Array;
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    struct Bad {
        n: u32,
    }

    // Declared uint64, given uint32.
    static BAD: &[Column<Bad>] = &[Column::new("n", ColType::UInt64, |r| Value::U32(Some(r.n)))];

    impl Row for Bad {
        fn columns() -> &'static [Column<Self>] {
            BAD
        }
    }

    struct Null;

    static NULL: &[Column<Null>] =
        &[Column::new("s", ColType::Utf8, |_| Value::Str(None)).required()];

    impl Row for Null {
        fn columns() -> &'static [Column<Self>] {
            NULL
        }
    }

    #[test]
    fn a_value_of_another_type_is_an_error_not_a_null() {
        let e = to_batch(&[Bad { n: 1 }]).unwrap_err().to_string();
        assert!(e.contains("column n is uint64"), "{e}");
    }

    #[test]
    fn a_null_in_a_required_column_is_an_error() {
        assert!(to_batch(&[Null]).is_err());
    }

    /// Every list column's leaves in the Parquet schema of a written file, as dotted paths.
    fn list_leaves(file: &std::fs::File) -> Vec<String> {
        let reader = ParquetRecordBatchReaderBuilder::try_new(file.try_clone().unwrap()).unwrap();
        let descr = reader.metadata().file_metadata().schema_descr_ptr();
        (0..descr.num_columns())
            .map(|i| descr.column(i).path().string())
            .filter(|p| p.contains(".list."))
            .collect()
    }

    #[test]
    fn a_written_parquet_file_names_its_list_items_element() {
        let rows = [DomainRow::failed("x.example", "test", 0)];
        let batch = to_batch(&rows).unwrap();
        let file = tempfile::tempfile().unwrap();
        let mut w = ArrowWriter::try_new(file.try_clone().unwrap(), batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let leaves = list_leaves(&file);
        assert!(
            leaves.contains(&"mx.list.element.exchange".to_string()),
            "{leaves:?}"
        );
        assert!(
            leaves.contains(&"mx_ips.list.element".to_string()),
            "{leaves:?}"
        );
        assert!(
            leaves.iter().all(|p| p.contains(".list.element")),
            "every list names its items element: {leaves:?}"
        );
        // Read back, the lists are lists again (what the report and the compaction read).
        let back: Vec<_> = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back[0].schema(), batch.schema());
        assert_eq!(back[0].column_by_name("mx").unwrap().len(), 1);
    }
}
