//! The one error type of the domain code. The Python bindings map each variant to a
//! Python exception in exactly one place (`python/errors.rs`).

use std::collections::TryReserveError;
use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    /// A fixed-size field (key, link, signature, ...) has the wrong number of bytes.
    #[error("{what} must be {expected} bytes, got {got}")]
    InvalidLength {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    /// An argument is out of range or inconsistent with another one.
    #[error("{0}")]
    InvalidArgument(String),
    /// Bytes that should be an Ed25519 public key do not decode to a usable point.
    #[error("{0}")]
    InvalidKey(String),
    /// A column handed to the bulk verifier is not shaped as SPEC section 3 says.
    #[error("column '{column}': {message}")]
    Column { column: String, message: String },
    /// A streamed audit's spill files do not hold what was written to them (truncated,
    /// corrupt, or their reader died): no `io::Error` to keep.
    #[error("{0}")]
    Io(String),
    /// Reading or writing a streamed audit's spill file failed; the OS error is kept.
    #[error("cannot {action} {}: {source}", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// There is no memory for what the input's size asks (a failed `try_reserve`): the
    /// input is not wrong, the machine is too small for it.
    #[error("not enough memory to {what}")]
    OutOfMemory {
        what: String,
        #[source]
        source: TryReserveError,
    },
    /// The private thread pool could not be started (the OS refused the threads).
    #[error("cannot start {threads} threads: {source}")]
    ThreadPool {
        threads: usize,
        #[source]
        source: rayon::ThreadPoolBuildError,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

/// Checks a fixed-size input and returns it as an array, naming the field on failure.
pub fn fixed<const N: usize>(what: &'static str, bytes: &[u8]) -> Result<[u8; N]> {
    bytes.try_into().map_err(|_| Error::InvalidLength {
        what,
        expected: N,
        got: bytes.len(),
    })
}

/// An empty vector with room for `n` items, or [`Error::OutOfMemory`] (not an abort)
/// when there is no memory for them: `n` comes from the input (e.g. Parquet metadata).
pub fn reserve<T>(n: usize, what: impl FnOnce() -> String) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|source| Error::OutOfMemory {
            what: what(),
            source,
        })?;
    Ok(v)
}

/// `n` default values, or [`Error::OutOfMemory`], as [`reserve`].
pub fn zeroed<T: Clone + Default>(n: usize, what: impl FnOnce() -> String) -> Result<Vec<T>> {
    let mut v = reserve(n, what)?;
    v.resize(n, T::default());
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_impossible_reservation_is_out_of_memory_with_its_source() {
        let err = reserve::<u64>(usize::MAX / 4, || "audit 9 records".into()).unwrap_err();
        assert_eq!(err.to_string(), "not enough memory to audit 9 records");
        assert!(matches!(err, Error::OutOfMemory { .. }));
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn a_file_error_keeps_the_io_error() {
        let err = Error::File {
            action: "open",
            path: "/x/y".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert_eq!(err.to_string(), "cannot open /x/y: entity not found");
        let source = std::error::Error::source(&err).expect("a source");
        let io = source
            .downcast_ref::<std::io::Error>()
            .expect("an io::Error");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    }
}
