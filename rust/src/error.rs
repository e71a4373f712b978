//! The one error type of the domain code. The Python bindings map each variant to a
//! `HashcoreError` subclass in exactly one place (`python/errors.rs`).

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
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
    /// Reading or writing a streamed audit's spill files failed.
    #[error("{0}")]
    Io(String),
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
