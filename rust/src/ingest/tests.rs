//! The batch check and the shape and sequencing checks.

use super::*;

fn seed(n: u8) -> [u8; 32] {
    [n; 32]
}

#[test]
fn accepts_good_records_and_names_each_fault() {
    let sk = seed(7);
    let pk = ed25519::public_key_from_seed(&sk);
    let other = ed25519::public_key_from_seed(&seed(8));
    let chain = protocol::chain_id_for_key(&pk);
    let salt = [3u8; 16];
    let payload = b"{\"tst\": 412}".to_vec();
    let commit = protocol::commitment(&salt, &payload);
    let prev = [9u8; 32];
    let zero = [0u8; 32];
    let v2 = |seq: u64, kind: u8, prev: &[u8; 32], commit: &[u8; 32]| {
        crate::v2::record::Header {
            chain_id: chain,
            seq,
            time_ms: 5,
            kind,
            prev: *prev,
            commit: *commit,
            beacon_size: 0,
            beacon_root: zero,
        }
        .link()
    };
    let link = v2(1, 1, &prev, &commit);
    let sig = ed25519::sign(&sk, &link);
    let bad_commit = [0u8; 32];
    let mut identity = [0u8; 32];
    identity[0] = 1; // y = 1: the identity point, small order
    let rot_commit = protocol::commitment(&salt, &identity);
    let rot_link = v2(2, 2, &link, &rot_commit);
    let rot_sig = ed25519::sign(&sk, &rot_link);
    let base = Submission {
        chain_id: &chain,
        seq: 1,
        time_ms: 5,
        kind: 1,
        prev: &prev,
        commit: &commit,
        beacon_size: 0,
        beacon_root: &zero,
        salt: Some(&salt),
        payload: Some(&payload),
        signature: &sig,
        key: &pk,
    };
    let subs = [
        base,
        Submission {
            commit: &bad_commit,
            ..base
        },
        Submission {
            key: &other,
            ..base
        },
        Submission {
            seq: 2,
            kind: 2,
            prev: &link,
            commit: &rot_commit,
            payload: Some(&identity),
            signature: &rot_sig,
            ..base
        },
    ];
    let (links, rejects) = check(&subs);
    assert_eq!(links[0], link);
    assert_eq!(
        rejects,
        vec![
            None,
            Some(Reject::BadCommit),
            Some(Reject::BadSignature),
            Some(Reject::BadKey)
        ]
    );
}
