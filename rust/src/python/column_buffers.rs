//! One Arrow column's buffers as Python hands them over (hashcore/audit/columns.py), kept
//! exported while the engine borrows them as column views (`crate::columns`).

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use super::buffers::Bytes;
use crate::columns::{BinaryColumn, IntColumn, Validity, Values};
use crate::error::Error;

/// One column's buffers as Python handed them over, kept exported while we use them.
pub(super) struct ColumnBuffers {
    layout: String,
    width: usize,
    data: Bytes,
    offsets: Option<Bytes>,
    validity: Option<Bytes>,
    offset: usize,
    len: usize,
}

impl ColumnBuffers {
    /// (layout, width, data, offsets|None, validity|None, offset, length)
    pub(super) fn extract(spec: &Bound<'_, PyAny>, name: &str) -> PyResult<Self> {
        let t = spec.cast::<PyTuple>().map_err(|_| {
            PyTypeError::new_err(format!("column '{name}': expected a buffer spec tuple"))
        })?;
        let opt = |i: usize| -> PyResult<Option<Bytes>> {
            let item = t.get_item(i)?;
            if item.is_none() {
                Ok(None)
            } else {
                Bytes::get(&item, name).map(Some)
            }
        };
        Ok(ColumnBuffers {
            layout: t.get_item(0)?.extract()?,
            width: t.get_item(1)?.extract()?,
            data: Bytes::get(&t.get_item(2)?, name)?,
            offsets: opt(3)?,
            validity: opt(4)?,
            offset: t.get_item(5)?.extract()?,
            len: t.get_item(6)?.extract()?,
        })
    }

    fn validity(&self) -> Option<Validity<'_>> {
        self.validity
            .as_ref()
            .map(|v| Validity { bits: v.as_slice() })
    }

    pub(super) fn int<const W: usize>(&self, name: &str) -> Result<IntColumn<'_, W>, Error> {
        if self.layout != "int" || self.width != W {
            return Err(Error::Column {
                column: name.into(),
                message: format!(
                    "expected a {W}-byte integer column, got layout {} width {}",
                    self.layout, self.width
                ),
            });
        }
        Ok(IntColumn {
            data: self.data.as_slice(),
            validity: self.validity(),
            offset: self.offset,
            len: self.len,
        })
    }

    pub(super) fn binary(&self, name: &str) -> Result<BinaryColumn<'_>, Error> {
        let offsets = || {
            self.offsets
                .as_ref()
                .map(|o| o.as_slice())
                .ok_or_else(|| Error::Column {
                    column: name.into(),
                    message: "variable-width column without offsets".into(),
                })
        };
        let values = match self.layout.as_str() {
            "fixed" if self.width > 0 => Values::Fixed {
                data: self.data.as_slice(),
                width: self.width,
            },
            "var32" => Values::Var32 {
                offsets: offsets()?,
                data: self.data.as_slice(),
            },
            "var64" => Values::Var64 {
                offsets: offsets()?,
                data: self.data.as_slice(),
            },
            other => {
                return Err(Error::Column {
                    column: name.into(),
                    message: format!("unsupported binary layout '{other}'"),
                })
            }
        };
        Ok(BinaryColumn {
            values,
            validity: self.validity(),
            offset: self.offset,
            len: self.len,
        })
    }
}
