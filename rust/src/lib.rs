//! hashcore: protocol v1 (SPEC.md) — device hashchains, the relay's RFC 9162 Merkle log,
//! signed checkpoints and the bulk verifier. This crate knows nothing of Python; the PyO3
//! bindings live in `python/` and are compiled only with the `python` feature.

pub mod audit;
pub mod ceiling;
pub mod checkpoint;
pub mod columns;
pub mod ed25519;
pub mod error;
pub mod ingest;
pub mod log_tree;
pub mod merkle;
pub mod pool;
pub mod protocol;
pub mod v2;
pub mod verdict;

#[cfg(feature = "python")]
mod python;

pub use error::{Error, Result};
