//! hashcore: protocol v2 (`../shared/v2/SPEC.md`) — device hashchains, the relay's SHA-256
//! log (C2SP tlog-tiles), signed notes, receipts and the bulk audit. This crate knows
//! nothing of Python; the PyO3 bindings live in `python/` and are compiled only with the
//! `python` feature.

pub mod ceiling;
pub mod columns;
pub mod ed25519;
pub mod error;
pub mod ingest;
pub mod log_tree;
pub mod pool;
pub mod protocol;
pub mod rules;
pub mod v2;

#[cfg(feature = "python")]
mod python;

pub use error::{Error, Result};
