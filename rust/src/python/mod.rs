//! PyO3 bindings: the `hashcore._core` extension module. Only argument conversion and
//! error mapping live here; the domain code is in the crate's other modules.

mod buffers;
mod column_buffers;
mod constants;
mod errors;
mod functions;
mod ingest;
mod ingest_group;
mod sequence;
mod v2;
mod v2_audit;
mod v2_log;
mod v2_note;
mod v2_partial;
mod v2_tree;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    constants::add(m)?;

    m.add_function(wrap_pyfunction!(functions::chain_id_for_key, m)?)?;
    m.add_function(wrap_pyfunction!(functions::commitment, m)?)?;
    m.add_function(wrap_pyfunction!(functions::check_public_key, m)?)?;
    m.add_function(wrap_pyfunction!(functions::verify_signature, m)?)?;
    m.add_function(wrap_pyfunction!(functions::verify_signatures, m)?)?;
    m.add_function(wrap_pyfunction!(functions::public_key_from_seed, m)?)?;
    m.add_function(wrap_pyfunction!(functions::sign, m)?)?;
    m.add_function(wrap_pyfunction!(ingest::check_submissions, m)?)?;
    m.add_function(wrap_pyfunction!(sequence::check_chains, m)?)?;
    m.add_function(wrap_pyfunction!(sequence::check_shapes, m)?)?;

    m.add_function(wrap_pyfunction!(functions::_raw_batch_verify, m)?)?;
    m.add_function(wrap_pyfunction!(functions::_raw_blake3, m)?)?;
    v2::register(m)?;
    v2_tree::register(m)?;
    v2_log::register(m)?;
    ingest_group::register(m)?;
    v2_note::register(m)?;
    v2_audit::register(m)?;
    v2_partial::register(m)?;
    Ok(())
}
