//! The protocol's constants as `_core` attributes: Rust is their source of truth, the
//! Python tables are checked against them (tests/test_core_constants.py).

use std::collections::BTreeMap;

use pyo3::prelude::*;

use crate::ingest::Reject;
use crate::protocol::{self, Kind};

pub fn add(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // The protocol this build speaks (SPEC v2); its record constants are `V2_*`.
    m.add("PROTOCOL_VERSION", crate::v2::VERSION)?;
    m.add("CHAIN_ID_CONTEXT", protocol::CHAIN_ID_CONTEXT)?;
    m.add("COMMIT_CONTEXT", protocol::COMMIT_CONTEXT)?;

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
