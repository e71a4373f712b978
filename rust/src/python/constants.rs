//! The protocol's constants as `_core` attributes: Rust is their source of truth, the
//! Python tables are checked against them (tests/test_core_constants.py).

use std::collections::BTreeMap;

use pyo3::prelude::*;

use crate::ingest::Reject;
use crate::protocol::{self, Kind};
use crate::verdict::{CheckpointVerdict, MalformedReason, Verdict};

pub fn add(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("PROTOCOL_VERSION", protocol::VERSION)?;
    m.add("HEADER_LEN", protocol::HEADER_LEN)?;
    m.add("CHAIN_ID_CONTEXT", protocol::CHAIN_ID_CONTEXT)?;
    m.add("COMMIT_CONTEXT", protocol::COMMIT_CONTEXT)?;
    m.add("LINK_CONTEXT", protocol::LINK_CONTEXT)?;
    m.add("CHECKPOINT_CONTEXT", protocol::CHECKPOINT_CONTEXT)?;

    // Field sizes (SPEC 1).
    m.add("CHAIN_ID_LEN", protocol::CHAIN_ID_LEN)?;
    m.add("LINK_LEN", protocol::LINK_LEN)?;
    m.add("COMMIT_LEN", protocol::COMMIT_LEN)?;
    m.add("SIGNATURE_LEN", protocol::SIGNATURE_LEN)?;
    m.add("SALT_LEN", protocol::SALT_LEN)?;
    m.add("KEY_LEN", protocol::KEY_LEN)?;

    // Record kinds (SPEC 1.4): name -> code, and each code by name.
    let kinds: BTreeMap<&str, u8> = Kind::ALL.iter().map(|k| (k.name(), *k as u8)).collect();
    m.add("KINDS", kinds)?;
    m.add("KIND_GENESIS", Kind::Genesis as u8)?;
    m.add("KIND_DATA", Kind::Data as u8)?;
    m.add("KIND_ROTATION", Kind::Rotation as u8)?;

    // Verdicts (SPEC 4): the names indexed by code, and name -> code.
    m.add("VERDICT_CODES", Verdict::ALL.map(Verdict::code).to_vec())?;
    let verdicts: BTreeMap<&str, u8> = Verdict::ALL.iter().map(|v| (v.code(), *v as u8)).collect();
    m.add("VERDICTS", verdicts)?;
    m.add(
        "CHECKPOINT_VERDICT_CODES",
        CheckpointVerdict::ALL.map(CheckpointVerdict::code).to_vec(),
    )?;
    let checkpoint_verdicts: BTreeMap<&str, u8> = CheckpointVerdict::ALL
        .iter()
        .map(|v| (v.code(), *v as u8))
        .collect();
    m.add("CHECKPOINT_VERDICTS", checkpoint_verdicts)?;
    m.add(
        "MALFORMED_REASONS",
        MalformedReason::ALL.map(MalformedReason::text).to_vec(),
    )?;

    // The relay's reject codes of `check_submissions`: code -> (reason label, text).
    let rejects: BTreeMap<u8, (&str, &str)> = Reject::ALL
        .iter()
        .map(|r| (r.code(), (r.reason(), r.text())))
        .collect();
    m.add("REJECT_CODES", rejects)?;
    m.add("DEFAULT_THREADS", crate::pool::default_threads())?;
    m.add("MAX_THREADS", crate::pool::MAX_THREADS)?;
    Ok(())
}
