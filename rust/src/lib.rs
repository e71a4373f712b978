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

/// The extension's Rust allocations go to mimalloc, as polars' do to jemalloc. An audit of
/// a million records allocates ~250 MB of row structs, keys and places and frees them on
/// return; glibc gives blocks that large back to the kernel at once, so every call faulted
/// ~60k fresh pages in again (~2 us each on a virtual machine). mimalloc keeps freed memory
/// mapped for the next call (its `purge_delay`, 1 s): the same audit at 1 thread without
/// signatures took 0.97 s instead of 1.28 (BENCHMARKS.md, fourth round).
/// Python's own objects are untouched; `cargo test` and the fuzz targets keep the system
/// allocator.
#[cfg(feature = "python")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
