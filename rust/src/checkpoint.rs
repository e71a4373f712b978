//! SPEC 2.1: the relay's signed checkpoint over `(log_id, tree_size, root)`.

use crate::ed25519::{self, KeyCheck};
use crate::protocol::{kdf, Hash, CHECKPOINT_CONTEXT, KEY_LEN, SIGNATURE_LEN};

/// `KDF(checkpoint ctx, log_id || u64be(tree_size) || root)`.
pub fn digest(log_id: &[u8; KEY_LEN], tree_size: u64, root: &Hash) -> Hash {
    kdf(
        CHECKPOINT_CONTEXT,
        &[log_id, &tree_size.to_be_bytes(), root],
    )
}

/// Signs a checkpoint with the relay's 32-byte secret seed.
pub fn sign(seed: &[u8; 32], tree_size: u64, root: &Hash) -> [u8; SIGNATURE_LEN] {
    let log_id = ed25519::public_key_from_seed(seed);
    ed25519::sign(seed, &digest(&log_id, tree_size, root))
}

/// True iff the signature is valid under `log_id` (ZIP-215) and `log_id` is not a
/// small-order key, which SPEC 1.3 never accepts as a log identity.
pub fn verify(
    log_id: &[u8; KEY_LEN],
    tree_size: u64,
    root: &Hash,
    signature: &[u8; SIGNATURE_LEN],
) -> bool {
    ed25519::check_public_key(log_id) == KeyCheck::Valid
        && ed25519::verify(log_id, &digest(log_id, tree_size, root), signature)
}
