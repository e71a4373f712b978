//! Bytes-like arguments through the buffer protocol (bytes, bytearray, memoryview, numpy
//! arrays, pyarrow buffers), like blake3-py: no copy for the big ones.

use pyo3::buffer::PyUntypedBuffer;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use super::errors::IntoPyResult;
use crate::error::fixed;

/// A borrowed, read-only, C-contiguous view of a Python buffer. It keeps the buffer
/// exported (so the memory can't move or be freed) until it is dropped, so its slice can be
/// used with the GIL released.
pub struct Bytes {
    buffer: PyUntypedBuffer,
}

impl Bytes {
    pub fn get(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Self> {
        let buffer = PyUntypedBuffer::get(obj).map_err(|_| {
            PyTypeError::new_err(format!(
                "{what} must be bytes-like (bytes, bytearray, memoryview), not {}",
                obj.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })?;
        if !buffer.is_c_contiguous() {
            return Err(PyTypeError::new_err(format!(
                "{what} must be a contiguous buffer"
            )));
        }
        Ok(Bytes { buffer })
    }

    pub fn as_slice(&self) -> &[u8] {
        let len = self.buffer.len_bytes();
        if len == 0 {
            return &[];
        }
        // SAFETY: the buffer is C-contiguous, exported for as long as `self` lives, and
        // `len_bytes` is its size; we only read it.
        unsafe { std::slice::from_raw_parts(self.buffer.buf_ptr() as *const u8, len) }
    }
}

/// A bytes-like argument copied into a fixed-size array, named in the error.
pub fn array<const N: usize>(obj: &Bound<'_, PyAny>, what: &'static str) -> PyResult<[u8; N]> {
    let b = Bytes::get(obj, what)?;
    fixed::<N>(what, b.as_slice()).py()
}
