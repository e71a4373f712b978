//! The one place where domain errors become Python exceptions. The classes live in
//! `hashcore.errors` (a pure-Python module) so that they can inherit from both
//! `HashcoreError` and the matching built-in (`ValueError`, `TypeError`, `MemoryError`,
//! `RuntimeError`).

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

use crate::error::Error;

/// The `hashcore.errors` class `name`, or the built-in `Fallback` should that module be
/// unimportable (the message still gets through).
fn class<'py, Fallback: pyo3::type_object::PyTypeInfo>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyType>>,
    name: &str,
) -> Bound<'py, PyType> {
    cell.get_or_try_init(py, || -> PyResult<Py<PyType>> {
        let module = py.import("hashcore.errors")?;
        Ok(module.getattr(name)?.cast_into::<PyType>()?.unbind())
    })
    .map(|c| c.bind(py).clone())
    .unwrap_or_else(|_| py.get_type::<Fallback>())
}

static INVALID_INPUT: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static INVALID_KEY: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static COLUMN: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static HASHCORE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static OUT_OF_MEMORY: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static THREAD_POOL: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// Maps a domain error to its `hashcore.errors` class, keeping the domain message.
pub fn to_pyerr(err: Error) -> PyErr {
    Python::attach(|py| {
        use pyo3::exceptions::{PyMemoryError, PyOSError, PyRuntimeError, PyValueError};
        let cls = match &err {
            Error::InvalidLength { .. } | Error::InvalidArgument(_) => {
                class::<PyValueError>(py, &INVALID_INPUT, "InvalidInputError")
            }
            Error::InvalidKey(_) => class::<PyValueError>(py, &INVALID_KEY, "InvalidKeyError"),
            Error::Column { .. } => class::<PyValueError>(py, &COLUMN, "ColumnError"),
            // The spill files of a streamed audit: an OSError like any other file error.
            Error::Io(_) | Error::File { .. } => return PyOSError::new_err(err.to_string()),
            Error::OutOfMemory { .. } => {
                class::<PyMemoryError>(py, &OUT_OF_MEMORY, "OutOfMemoryError")
            }
            Error::ThreadPool { .. } => {
                class::<PyRuntimeError>(py, &THREAD_POOL, "ThreadPoolError")
            }
        };
        PyErr::from_type(cls, err.to_string())
    })
}

/// A Rust panic is a hashcore bug; it must still reach Python as an ordinary exception,
/// never as pyo3's `PanicException` (a BaseException that would slip past `except Exception`).
pub fn internal_error(what: &str) -> PyErr {
    Python::attach(|py| {
        PyErr::from_type(
            class::<pyo3::exceptions::PyValueError>(py, &HASHCORE, "HashcoreError"),
            format!("internal error in {what}; please report it with the input that caused it"),
        )
    })
}

pub trait IntoPyResult<T> {
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for Result<T, Error> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_pyerr)
    }
}
