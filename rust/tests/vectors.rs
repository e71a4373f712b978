//! SPEC conformance: every file of tests/vectors/ through the Rust API.

mod common;

use common::{arr, checkpoint_rows, hx, load, Owned};
use hashcore::audit::{self, CheckpointRow, Options};
use hashcore::verdict::{CheckpointVerdict, Verdict};
use hashcore::{checkpoint, ed25519, merkle, protocol};

#[test]
fn commit_vectors() {
    let d = load("commit.json");
    assert_eq!(
        hex::encode(protocol::hash(b"")),
        d["sanity"]["H_empty"].as_str().unwrap()
    );
    assert_eq!(
        hex::encode(protocol::hash(b"abc")),
        d["sanity"]["H_abc"].as_str().unwrap()
    );
    assert_eq!(
        hex::encode(protocol::commitment(b"", b"")),
        d["sanity"]["KDF_commit_ctx_of_empty"].as_str().unwrap()
    );
    let cases = d["cases"].as_array().unwrap();
    assert!(cases.len() >= 12);
    for c in cases {
        assert_eq!(
            protocol::commitment(&hx(&c["salt"]), &hx(&c["payload"])).to_vec(),
            hx(&c["commit"])
        );
    }
}

#[test]
fn record_vectors() {
    let d = load("record.json");
    for c in d["cases"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let chain_id: [u8; 16] = arr(&c["chain_id"]);
        let header = protocol::header(
            &chain_id,
            c["seq"].as_u64().unwrap(),
            c["time_ms"].as_i64().unwrap(),
            c["kind"].as_u64().unwrap() as u8,
            &arr(&c["prev"]),
            &arr(&c["commit"]),
        );
        assert_eq!(header.to_vec(), hx(&c["header"]), "{name}");
        let link = protocol::link_of_header(&header);
        assert_eq!(link.to_vec(), hx(&c["link"]), "{name}");
        if !c["salt"].is_null() {
            assert_eq!(
                protocol::commitment(&hx(&c["salt"]), &hx(&c["payload"])).to_vec(),
                hx(&c["commit"]),
                "{name}"
            );
        }
        let seed: [u8; 32] = arr(&c["signer_sk_seed"]);
        let pk = ed25519::public_key_from_seed(&seed);
        assert_eq!(pk.to_vec(), hx(&c["signer_public_key"]), "{name}");
        let sig = ed25519::sign(&seed, &link);
        assert_eq!(sig.to_vec(), hx(&c["signature"]), "{name}");
        assert!(ed25519::verify(&pk, &link, &sig), "{name}");
    }
}

#[test]
fn chain_id_vectors() {
    let d = load("chain_id.json");
    for c in d["cases"]
        .as_array()
        .unwrap()
        .iter()
        .chain(d["encoding_cases"].as_array().unwrap())
    {
        let id = protocol::chain_id_for_key(&arr(&c["public_key"]));
        let expected = hx(&c["chain_id"]);
        assert_eq!(
            id.to_vec() == expected,
            c["valid"].as_bool().unwrap(),
            "{}",
            c["name"]
        );
        if c["valid"].as_bool().unwrap() && c.get("kdf_output").is_some_and(|v| !v.is_null()) {
            assert_eq!(
                protocol::kdf(protocol::CHAIN_ID_CONTEXT, &[&hx(&c["public_key"])]).to_vec(),
                hx(&c["kdf_output"])
            );
        }
    }
}

#[test]
fn merkle_vectors() {
    let d = load("merkle.json");
    let links: Vec<Vec<u8>> = d["links"].as_array().unwrap().iter().map(hx).collect();
    let leaves: Vec<[u8; 32]> = links.iter().map(|l| merkle::leaf_hash(l)).collect();
    for (leaf, expected) in leaves.iter().zip(d["leaf_hashes"].as_array().unwrap()) {
        assert_eq!(leaf.to_vec(), hx(expected));
    }
    for r in d["roots"].as_array().unwrap() {
        let n = r["tree_size"].as_u64().unwrap() as usize;
        assert_eq!(
            merkle::root(&leaves[..n]).to_vec(),
            hx(&r["root"]),
            "size {n}"
        );
    }
    for c in d["inclusion"].as_array().unwrap() {
        let path: Vec<[u8; 32]> = c["path"].as_array().unwrap().iter().map(arr).collect();
        let (i, n) = (
            c["leaf_index"].as_u64().unwrap(),
            c["tree_size"].as_u64().unwrap(),
        );
        let ok = merkle::verify_inclusion(&arr(&c["leaf_hash"]), i, n, &path, &arr(&c["root"]));
        assert_eq!(ok, c["valid"].as_bool().unwrap(), "inclusion {c}");
        if c["valid"].as_bool().unwrap()
            && (n as usize) <= leaves.len()
            && merkle::root(&leaves[..n as usize]).to_vec() == hx(&c["root"])
        {
            assert_eq!(
                merkle::inclusion_proof(&leaves[..n as usize], i).unwrap(),
                path
            );
        }
    }
    let consistency = d["consistency"].as_array().unwrap();
    for c in consistency
        .iter()
        .chain(d["consistency_edge_conventions"].as_array().unwrap())
    {
        let path: Vec<[u8; 32]> = c["path"].as_array().unwrap().iter().map(arr).collect();
        let (m, n) = (c["first"].as_u64().unwrap(), c["second"].as_u64().unwrap());
        let ok = merkle::verify_consistency(
            m,
            n,
            &arr(&c["first_hash"]),
            &arr(&c["second_hash"]),
            &path,
        );
        assert_eq!(ok, c["valid"].as_bool().unwrap(), "consistency {c}");
        if c["valid"].as_bool().unwrap() && (n as usize) <= leaves.len() {
            assert_eq!(
                merkle::consistency_proof(&leaves[..n as usize], m).unwrap(),
                path
            );
        }
    }
}

#[test]
fn checkpoint_vectors() {
    let d = load("checkpoint.json");
    let seed: [u8; 32] = arr(&d["log_sk_seed"]);
    let log_id: [u8; 32] = arr(&d["log_id"]);
    assert_eq!(ed25519::public_key_from_seed(&seed), log_id);
    for c in d["cases"].as_array().unwrap() {
        let ts = c["tree_size"].as_u64().unwrap();
        let root: [u8; 32] = arr(&c["root"]);
        let sig: [u8; 64] = arr(&c["signature"]);
        assert_eq!(
            checkpoint::verify(&log_id, ts, &root, &sig),
            c["valid"].as_bool().unwrap(),
            "{c}"
        );
        if c["valid"].as_bool().unwrap() {
            assert_eq!(
                checkpoint::digest(&log_id, ts, &root).to_vec(),
                hx(&c["digest"])
            );
            assert_eq!(checkpoint::sign(&seed, ts, &root), sig);
        }
    }
}

#[test]
fn ed25519_edge_vectors_single_and_batch_agree() {
    let d = load("ed25519_edge.json");
    let cases = d["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 12);
    let mut all = Vec::new();
    for c in cases {
        let (pk, msg, sig): ([u8; 32], Vec<u8>, Vec<u8>) = (
            arr(&c["public_key"]),
            hx(&c["message"]),
            hx(&c["signature"]),
        );
        let expected = c["zip215_valid"].as_bool().unwrap();
        let sig: [u8; 64] = sig.try_into().unwrap();
        assert_eq!(
            ed25519::verify(&pk, &msg, &sig),
            expected,
            "case {}",
            c["index"]
        );
        let item = ed25519::BatchItem {
            key: &pk,
            message: &msg,
            signature: &sig,
        };
        // A batch of the case with a valid signature beside it must give the same verdict.
        assert_eq!(
            ed25519::verify_batch(&[item, item]),
            expected,
            "batch case {}",
            c["index"]
        );
        all.push((pk, msg, sig, expected));
        let small = ed25519::check_public_key(&pk) == ed25519::KeyCheck::SmallOrder;
        assert_eq!(
            small,
            c["small_order_public_key"].as_bool().unwrap(),
            "case {}",
            c["index"]
        );
    }
    let items: Vec<_> = all
        .iter()
        .map(|(pk, m, s, _)| ed25519::BatchItem {
            key: pk,
            message: m,
            signature: s,
        })
        .collect();
    let each = ed25519::verify_batch_each(&items);
    assert_eq!(each, all.iter().map(|a| a.3).collect::<Vec<_>>());
}

#[test]
fn chain_bundles_give_the_expected_verdicts() {
    let d = load("chain.json");
    let bundles = d["bundles"].as_array().unwrap();
    assert_eq!(bundles.len(), 25);
    for threads in [1, 2] {
        for b in bundles {
            let case = b["case"].as_str().unwrap();
            let owned = Owned::new(b["records"].as_array().unwrap());
            let cps: Vec<CheckpointRow> = checkpoint_rows(b);
            let log_id: [u8; 32] = arr(&b["log_id"]);
            let opts = Options {
                threads: Some(threads),
                check_signatures: true,
            };
            let report = audit::verify(&owned.columns(), Some((&cps, &log_id)), &opts).unwrap();
            let e = &b["expected"];
            let got: Vec<&str> = report
                .verdicts
                .iter()
                .map(|&v| Verdict::ALL[v as usize].code())
                .collect();
            let want: Vec<&str> = e["record_verdicts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["verdict"].as_str().unwrap())
                .collect();
            assert_eq!(got, want, "{case}: record verdicts");
            let got_cp: Vec<&str> = report
                .checkpoint_verdicts
                .iter()
                .map(|&v| CheckpointVerdict::ALL[v as usize].code())
                .collect();
            let want_cp: Vec<&str> = e["checkpoint_verdicts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["verdict"].as_str().unwrap())
                .collect();
            assert_eq!(got_cp, want_cp, "{case}: checkpoint verdicts");
            let missing: Vec<(u64, u64)> = e["missing_log_positions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| (r[0].as_u64().unwrap(), r[1].as_u64().unwrap()))
                .collect();
            assert_eq!(report.missing_log_positions, missing, "{case}: missing");
            assert_eq!(report.clean, e["clean"].as_bool().unwrap(), "{case}: clean");
        }
    }
}
