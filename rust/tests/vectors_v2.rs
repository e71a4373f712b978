//! SPEC v2 conformance: every case of tests/vectors/ but the audit files (chain.json,
//! policy.json) through the Rust API, and the copy's staleness against ../shared/v2/vectors.

mod v2_common;

use hashcore::v2::note::{self, Checkpoint, Note, NoteError};
use hashcore::v2::record::Header;
use hashcore::v2::{cosignature, entry, keys, receipt, tree};
use hashcore::{ed25519, protocol};
use v2_common::{arr, cases, hx, load, text, vectors_dir};

#[test]
fn vector_copy_matches_shared_byte_for_byte() {
    let shared = vectors_dir().join("../../../../shared/v2/vectors");
    let Ok(listing) = std::fs::read_dir(&shared) else {
        eprintln!("../shared/v2/vectors is not beside this checkout: skipped");
        return;
    };
    let mut names: Vec<String> = listing
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut ours: Vec<String> = std::fs::read_dir(vectors_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    ours.sort();
    assert_eq!(ours, names);
    for name in &names {
        assert!(
            std::fs::read(shared.join(name)).unwrap()
                == std::fs::read(vectors_dir().join(name)).unwrap(),
            "tests/vectors/{name} differs from ../shared/v2/vectors/{name}"
        );
    }
}

#[test]
fn commit_vectors() {
    let d = load("commit.json");
    assert_eq!(text(&d["context"]), protocol::COMMIT_CONTEXT);
    assert_eq!(
        hex::encode(protocol::hash(b"")),
        text(&d["sanity"]["H_empty"])
    );
    assert_eq!(
        hex::encode(protocol::hash(b"abc")),
        text(&d["sanity"]["H_abc"])
    );
    assert_eq!(
        hex::encode(protocol::commitment(b"", b"")),
        text(&d["sanity"]["KDF_commit_ctx_of_empty"])
    );
    assert_eq!(cases(&d, "cases").len(), 12);
    for c in cases(&d, "cases") {
        let payload = hx(&c["payload"]);
        assert_eq!(payload.len() as u64, c["payload_len"].as_u64().unwrap());
        assert_eq!(
            protocol::commitment(&hx(&c["salt"]), &payload).to_vec(),
            hx(&c["commit"])
        );
    }
}

#[test]
fn chain_id_vectors() {
    let d = load("chain_id.json");
    assert_eq!(text(&d["context"]), protocol::CHAIN_ID_CONTEXT);
    let all: Vec<_> = cases(&d, "cases")
        .iter()
        .chain(cases(&d, "encoding_cases"))
        .collect();
    assert_eq!(all.len(), 17);
    for c in all {
        let id = protocol::chain_id_for_key(&arr(&c["public_key"]));
        let valid = c["valid"].as_bool().unwrap();
        assert_eq!(id.to_vec() == hx(&c["chain_id"]), valid, "{}", c["name"]);
        if valid && !c["kdf_output"].is_null() && c.get("kdf_output").is_some() {
            assert_eq!(
                protocol::kdf(protocol::CHAIN_ID_CONTEXT, &[&hx(&c["public_key"])]).to_vec(),
                hx(&c["kdf_output"])
            );
        }
        if valid && c.get("sk_seed").is_some_and(|s| !s.is_null()) {
            let pk = ed25519::public_key_from_seed(&arr(&c["sk_seed"]));
            assert_eq!(pk.to_vec(), hx(&c["public_key"]), "{}", c["name"]);
        }
    }
}

#[test]
fn record_vectors() {
    let d = load("record.json");
    assert_eq!(text(&d["link_context"]), hashcore::v2::LINK_CONTEXT);
    assert_eq!(text(&d["commit_context"]), protocol::COMMIT_CONTEXT);
    assert_eq!(text(&d["chain_id_context"]), protocol::CHAIN_ID_CONTEXT);
    assert_eq!(cases(&d, "cases").len(), 13);
    for c in cases(&d, "cases") {
        let name = text(&c["name"]);
        let header = Header {
            chain_id: arr(&c["chain_id"]),
            seq: c["seq"].as_u64().unwrap(),
            time_ms: c["time_ms"].as_i64().unwrap(),
            kind: u8::try_from(c["kind"].as_u64().unwrap()).unwrap(),
            prev: arr(&c["prev"]),
            commit: arr(&c["commit"]),
            beacon_size: c["beacon_size"].as_u64().unwrap(),
            beacon_root: arr(&c["beacon_root"]),
        };
        let encoded = header.encode();
        assert_eq!(encoded.to_vec(), hx(&c["header"]), "{name}");
        assert_eq!(header.link().to_vec(), hx(&c["link"]), "{name}");
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
        let sig = ed25519::sign(&seed, &header.link());
        assert_eq!(sig.to_vec(), hx(&c["signature"]), "{name}");
        assert!(keys::verify_under_usable_key(&pk, &header.link(), &sig));
        if header.kind == 0 {
            assert_eq!(
                protocol::chain_id_for_key(&arr(&c["payload"])),
                header.chain_id,
                "{name}"
            );
        }
        // The one auditor verdict the file pins is MALFORMED for a zero size, non-zero root.
        let malformed = header.beacon_size == 0 && header.beacon_root != [0; 32];
        assert_eq!(
            malformed,
            c["auditor_verdict"].as_str() == Some("MALFORMED"),
            "{name}"
        );
    }
}

#[test]
fn entry_vectors() {
    let d = load("entry.json");
    let s = &d["sanity"];
    assert_eq!(hex::encode(tree::sha256(b"")), text(&s["SHA256_empty"]));
    assert_eq!(hex::encode(tree::sha256(b"abc")), text(&s["SHA256_abc"]));
    assert_eq!(hex::encode(tree::empty_root()), text(&s["SHA256_empty"]));
    let node = &s["node_of_two_leaf_hashes"];
    assert_eq!(
        tree::node_hash(&arr(&node["left"]), &arr(&node["right"])).to_vec(),
        hx(&node["node"])
    );
    assert_eq!(cases(&d, "cases").len(), 7);
    for c in cases(&d, "cases") {
        let link = arr(&c["link"]);
        let received_ms = c["received_ms"].as_i64().unwrap();
        let e = entry::entry(&link, received_ms);
        assert_eq!(e.to_vec(), hx(&c["entry"]));
        assert_eq!(tree::leaf_hash(&e).to_vec(), hx(&c["leaf_hash"]));
        assert_eq!(
            entry::entry_leaf_hash(&link, received_ms).to_vec(),
            hx(&c["leaf_hash"])
        );
    }
    assert_eq!(cases(&d, "invalid").len(), 5);
    for c in cases(&d, "invalid") {
        assert_eq!(c["valid"], serde_json::json!(false));
        assert_ne!(
            tree::leaf_hash(&hx(&c["entry"])).to_vec(),
            hx(&c["leaf_hash"]),
            "{}",
            c["why"]
        );
    }
}

fn hashes(v: &serde_json::Value) -> Vec<[u8; 32]> {
    v.as_array().unwrap().iter().map(arr).collect()
}

#[test]
fn merkle_vectors() {
    let d = load("merkle.json");
    let entries: Vec<Vec<u8>> = cases(&d, "entries").iter().map(hx).collect();
    assert_eq!(entries.len(), 33);
    let leaves: Vec<[u8; 32]> = entries.iter().map(|e| tree::leaf_hash(e)).collect();
    assert_eq!(leaves, hashes(&d["leaf_hashes"]));
    assert_eq!(cases(&d, "roots").len(), 34);
    let mut frontier = tree::Frontier::new();
    for r in cases(&d, "roots") {
        let n = r["tree_size"].as_u64().unwrap() as usize;
        assert_eq!(
            tree::root(&leaves[..n]).to_vec(),
            hx(&r["root"]),
            "size {n}"
        );
        while frontier.size() < n as u64 {
            frontier.push(leaves[frontier.size() as usize]);
        }
        assert_eq!(frontier.root().to_vec(), hx(&r["root"]), "frontier {n}");
        let cp = Checkpoint {
            origin: "o".into(),
            tree_size: n as u64,
            root: arr(&r["root"]),
        };
        assert_eq!(cp.body(), format!("o\n{n}\n{}\n", text(&r["root_b64"])));
    }
    assert_eq!(cases(&d, "inclusion").len(), 27);
    for c in cases(&d, "inclusion") {
        let path = hashes(&c["path"]);
        let (i, n) = (
            c["leaf_index"].as_u64().unwrap(),
            c["tree_size"].as_u64().unwrap(),
        );
        let root: [u8; 32] = arr(&c["root"]);
        let valid = c["valid"].as_bool().unwrap();
        let ok = tree::verify_inclusion(&arr(&c["leaf_hash"]), i, n, &path, &root);
        assert_eq!(ok, valid, "inclusion {c}");
        // Valid proofs of the vector tree are the ones we build.
        if valid && n <= 33 && tree::root(&leaves[..n as usize]) == root {
            assert_eq!(tree::inclusion_proof(&leaves[..n as usize], i), Some(path));
        }
    }
    let consistency = cases(&d, "consistency");
    let edges = cases(&d, "consistency_edge_conventions");
    assert_eq!((consistency.len(), edges.len()), (24, 6));
    for c in consistency.iter().chain(edges) {
        let (m, n) = (c["first"].as_u64().unwrap(), c["second"].as_u64().unwrap());
        let path = hashes(&c["path"]);
        let (first, second): ([u8; 32], [u8; 32]) = (arr(&c["first_hash"]), arr(&c["second_hash"]));
        let valid = c["valid"].as_bool().unwrap();
        let ok = tree::verify_consistency(m, n, &first, &second, &path);
        assert_eq!(ok, valid, "consistency {c}");
        if valid && n <= 33 && tree::root(&leaves[..n as usize]) == second {
            assert_eq!(
                tree::consistency_proof(&leaves[..n as usize], m),
                Some(path)
            );
        }
    }
}

#[test]
fn checkpoint_vectors() {
    let d = load("checkpoint.json");
    let origin = text(&d["origin"]);
    let seed: [u8; 32] = arr(&d["log_sk_seed"]);
    let log_key: [u8; 32] = arr(&d["log_key"]);
    assert_eq!(ed25519::public_key_from_seed(&seed), log_key);
    assert_eq!(
        keys::log_key_id(origin, &log_key).to_vec(),
        hx(&d["key_id"])
    );
    assert_eq!(
        keys::verifier_key(origin, keys::ALG_ED25519, &log_key),
        text(&d["verifier_key"])
    );
    assert_eq!(cases(&d, "cases").len(), 27);
    for c in cases(&d, "cases") {
        let name = text(&c["name"]);
        let trusted = text(&c["trusted_origin"]);
        let row_size = c["tree_size"].as_u64().unwrap();
        let row_root: [u8; 32] = arr(&c["root"]);
        let result = note::verify_checkpoint(text(&c["note"]).as_bytes(), trusted, &log_key);
        // SPEC 5.2's first bullet: the note is valid for the log and agrees with its row.
        let valid =
            matches!(&result, Ok((_, cp)) if cp.tree_size == row_size && cp.root == row_root);
        assert_eq!(valid, c["valid"].as_bool().unwrap(), "{name}: {result:?}");
        if let Some(body) = c.get("body").and_then(|b| b.as_str()) {
            let cp = Checkpoint {
                origin: origin.to_owned(),
                tree_size: row_size,
                root: row_root,
            };
            assert_eq!(cp.body(), body, "{name}");
            let signed = note::sign_checkpoint(&seed, &cp).unwrap();
            if !c["signature_line"].is_null() {
                assert_eq!(
                    String::from_utf8(signed).unwrap(),
                    format!("{body}\n{}", text(&c["signature_line"])),
                    "{name}"
                );
                assert_eq!(
                    ed25519::sign(&seed, body.as_bytes()).to_vec(),
                    hx(&c["signature"])
                );
            }
        }
        if valid {
            // A parsed note encodes back to its bytes.
            let parsed = Note::parse(text(&c["note"]).as_bytes()).unwrap();
            assert_eq!(parsed.encode(), text(&c["note"]).as_bytes(), "{name}");
        }
    }
}

#[test]
fn checkpoint_rejections_name_the_rule() {
    let d = load("checkpoint.json");
    let log_key: [u8; 32] = arr(&d["log_key"]);
    let origin = text(&d["origin"]);
    let expect = [
        (
            "size 7 with a valid, then a corrupted line by the log key",
            NoteError::RepeatedLogLine,
        ),
        (
            "size 7 with a corrupted, then a valid line by the log key",
            NoteError::RepeatedLogLine,
        ),
        (
            "size 7 with the relay's valid line twice",
            NoteError::RepeatedLogLine,
        ),
        (
            "101 signature lines (100 unknown)",
            NoteError::TooManySignatureLines,
        ),
        (
            "wrong key ID (type 0x04 instead of 0x01)",
            NoteError::NoLogLine,
        ),
        (
            "signature by another key under the log's name and key ID",
            NoteError::LogLineFails,
        ),
        (
            "wrong origin (validly signed for another origin)",
            NoteError::WrongOrigin,
        ),
        (
            "body names another origin, line under the trusted origin",
            NoteError::WrongOrigin,
        ),
        (
            "trailing extension line",
            NoteError::BadBody("has extension lines"),
        ),
        ("missing final newline", NoteError::NoFinalNewline),
        (
            "no blank line between body and signatures",
            NoteError::NoBlankLine,
        ),
        ("no signature lines", NoteError::NoFinalNewline),
        (
            "tree size with a leading zero",
            NoteError::BadBody("the tree size is not a decimal u64 without leading zeros"),
        ),
        (
            "root in non-canonical base64 (non-zero trailing bits)",
            NoteError::BadBody("the root is not the canonical base64 of 32 bytes"),
        ),
    ];
    for (name, error) in expect {
        let c = cases(&d, "cases")
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("case {name}"));
        let got = note::verify_checkpoint(text(&c["note"]).as_bytes(), origin, &log_key);
        assert_eq!(got.unwrap_err(), error, "{name}");
    }
}

#[test]
fn cosignature_vectors() {
    let d = load("cosignature.json");
    let body = text(&d["body"]).as_bytes();
    let witnesses = cases(&d, "witnesses");
    assert_eq!(witnesses.len(), 3);
    for w in witnesses {
        let name = text(&w["name"]);
        let key: [u8; 32] = arr(&w["public_key"]);
        assert_eq!(ed25519::public_key_from_seed(&arr(&w["sk_seed"])), key);
        assert_eq!(keys::witness_key_id(name, &key).to_vec(), hx(&w["key_id"]));
        assert_eq!(
            keys::log_key_id(name, &key).to_vec(),
            hx(&w["key_id_if_type_0x01"])
        );
        assert_eq!(
            keys::verifier_key(name, keys::ALG_COSIGNATURE_V1, &key),
            text(&w["verifier_key"])
        );
    }
    assert_eq!(cases(&d, "cases").len(), 10);
    for c in cases(&d, "cases") {
        let name = text(&c["name"]);
        let w = witnesses
            .iter()
            .find(|w| w["name"] == c["witness"])
            .unwrap();
        let (wname, key, seed): (&str, [u8; 32], [u8; 32]) =
            (text(&w["name"]), arr(&w["public_key"]), arr(&w["sk_seed"]));
        let value = hx(&c["value"]);
        let valid = c["valid"].as_bool().unwrap();
        let got = cosignature::verify(&key, body, &value);
        assert_eq!(got.is_some(), valid, "{name}");
        // The line parses to the same value, in a note with the body it cosigns.
        let note_text = format!("{}\n{}", text(&d["body"]), text(&c["line"]));
        let note = Note::parse(note_text.as_bytes()).unwrap();
        assert_eq!(note.lines[0].signature, value, "{name}");
        assert_eq!(note.lines[0].name, wname);
        let times = cosignature::witness_times(&note, wname, &key);
        if valid {
            let t = c["t"].as_u64().unwrap();
            assert_eq!(got, Some(t));
            assert_eq!(times, vec![t], "{name}");
            assert_eq!(
                cosignature::message(t, body),
                text(&c["message"]).as_bytes()
            );
            let signed = cosignature::sign(&seed, t, body).unwrap();
            assert_eq!(signed.to_vec(), value, "{name}");
            let line = cosignature::line(wname, &key, &signed).unwrap();
            assert_eq!(line.encode(), text(&c["line"]), "{name}");
        } else {
            assert!(times.is_empty(), "{name}");
        }
    }
    // SPEC 2.3: a witness can't be made to sign a time over 2^63 - 1.
    assert!(cosignature::sign(&[1; 32], 1 << 63, body).is_err());
}

#[test]
fn receipt_vectors() {
    let d = load("receipt.json");
    assert_eq!(text(&d["context"]), hashcore::v2::RECEIPT_CONTEXT);
    let seed: [u8; 32] = arr(&d["log_sk_seed"]);
    let log_key: [u8; 32] = arr(&d["log_key"]);
    assert_eq!(ed25519::public_key_from_seed(&seed), log_key);
    assert_eq!(cases(&d, "cases").len(), 11);
    for c in cases(&d, "cases") {
        let why = c["why"].as_str().unwrap_or("valid");
        let log_index = c["log_index"].as_u64().unwrap();
        let e = entry::entry(&arr(&c["link"]), c["received_ms"].as_i64().unwrap());
        let sig: [u8; 64] = arr(&c["receipt_sig"]);
        let valid = c["valid"].as_bool().unwrap();
        assert_eq!(
            receipt::verify(&log_key, log_index, &e, &sig),
            valid,
            "{why}"
        );
        if valid {
            assert_eq!(e.to_vec(), hx(&c["entry"]));
            let mut input = log_key.to_vec();
            input.extend_from_slice(&log_index.to_be_bytes());
            input.extend_from_slice(&e);
            assert_eq!(input, hx(&c["digest_input"]));
            assert_eq!(
                receipt::digest(&log_key, log_index, &e).to_vec(),
                hx(&c["digest"])
            );
            assert_eq!(receipt::sign(&seed, log_index, &e), sig);
        }
    }
}

#[test]
fn ed25519_edge_vectors() {
    let d = load("ed25519_edge.json");
    assert_eq!(cases(&d, "cases").len(), 12);
    for c in cases(&d, "cases") {
        let (pk, msg, sig): ([u8; 32], Vec<u8>, [u8; 64]) = (
            arr(&c["public_key"]),
            hx(&c["message"]),
            arr(&c["signature"]),
        );
        let zip215 = c["zip215_valid"].as_bool().unwrap();
        let small = c["small_order_public_key"].as_bool().unwrap();
        assert_eq!(
            ed25519::verify(&pk, &msg, &sig),
            zip215,
            "case {}",
            c["index"]
        );
        assert_eq!(
            ed25519::check_public_key(&pk) == ed25519::KeyCheck::SmallOrder,
            small,
            "case {}",
            c["index"]
        );
        // SPEC 1.3: a small-order key is never valid, as log key nor as witness key.
        assert_eq!(
            keys::verify_under_usable_key(&pk, &msg, &sig),
            zip215 && !small,
            "case {}",
            c["index"]
        );
    }
}
