//! Tiles written by hashcore's Python `TileWriter` (C2SP tlog-tiles), read by code we didn't
//! write: Cloudflare azul's `tlog_tiles` 0.2.0 (a port of Go's sumdb tlog) and `signed_note`
//! 0.2.0. From the files alone, every checkpoint's root is recomputed, sampled inclusion
//! proofs are built and checked against the entries in the bundles, and consistency proofs
//! between the checkpoints are built and checked.
//!
//! The directory is `tests/tiles_fixture` (small, committed; tests/witness/tiles_fixture.py
//! writes it) or `$HASHCORE_TILES_DIR` (the Python test of a three-level log sets it).

use std::path::{Path, PathBuf};

use signed_note::{Note, StandardVerifier, VerifierList};
use tlog_tiles::{
    check_record, check_tree, prove_record, prove_tree, record_hash, tree_hash, Checkpoint, Error,
    Hash, Tile, TileHashReader, TileReader,
};

const HEIGHT: u8 = 8;

/// Tiles read from a directory. The crate names tiles as Go's sumdb does
/// (`tile/8/<L>/...`, `tile/8/data/...`); C2SP tlog-tiles drops the height and calls the
/// data tiles `entries`.
struct DirTiles(PathBuf);

fn c2sp_path(tile: &Tile) -> String {
    let go = tile.path();
    let rest = go.strip_prefix("tile/8/").expect("height 8");
    match rest.strip_prefix("data/") {
        Some(n) => format!("tile/entries/{n}"),
        None => format!("tile/{rest}"),
    }
}

impl TileReader for DirTiles {
    fn height(&self) -> u8 {
        HEIGHT
    }

    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, Error> {
        tiles
            .iter()
            .map(|t| {
                let path = c2sp_path(t);
                std::fs::read(self.0.join(&path))
                    .map_err(|e| Error::InvalidInput(format!("{path}: {e}")))
            })
            .collect()
    }

    fn save_tiles(&self, _tiles: &[Tile], _data: &[Vec<u8>]) {}
}

fn dir() -> PathBuf {
    match std::env::var_os("HASHCORE_TILES_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/tiles_fixture"),
    }
}

/// The entries of the bundle holding `index` in a tree of `size` (u16be length-prefixed).
fn bundle_entries(root: &Path, index: u64, size: u64) -> Vec<Vec<u8>> {
    let n = index / 256;
    let width = (size - n * 256).min(256) as u32;
    let path = c2sp_path(&Tile::new(HEIGHT, 0, n, width, true));
    let data = std::fs::read(root.join(&path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let len = u16::from_be_bytes([data[pos], data[pos + 1]]) as usize;
        out.push(data[pos + 2..pos + 2 + len].to_vec());
        pos += 2 + len;
    }
    assert_eq!(out.len(), width as usize, "{path}");
    out
}

fn samples(size: u64) -> Vec<u64> {
    let mut v: Vec<u64> = (0..size).step_by((size as usize / 23).max(1)).collect();
    v.extend([size - 1, size / 2, 255.min(size - 1), 256.min(size - 1)]);
    v.sort_unstable();
    v.dedup();
    v
}

#[test]
fn tiles_written_by_hashcore_rebuild_every_checkpoint_with_tlog_tiles() {
    let root = dir();
    let vkey = std::fs::read_to_string(root.join("log.vkey")).unwrap();
    let verifier = StandardVerifier::new(vkey.trim()).unwrap();
    let origin = vkey.split('+').next().unwrap().to_owned();
    let known = VerifierList::new(vec![Box::new(verifier)]);

    let mut checkpoints: Vec<(u64, Hash, Vec<u8>)> = Vec::new();
    for file in std::fs::read_dir(root.join("checkpoints")).unwrap() {
        let bytes = std::fs::read(file.unwrap().path()).unwrap();
        let note = Note::from_bytes(&bytes).unwrap();
        note.verify(&known).unwrap();
        let cp = Checkpoint::from_bytes(note.text()).unwrap();
        assert_eq!(cp.origin(), origin);
        assert_eq!(cp.extension(), "");
        checkpoints.push((cp.size(), *cp.hash(), bytes));
    }
    checkpoints.sort_by_key(|c| c.0);
    assert!(
        checkpoints.len() >= 5,
        "only {} checkpoints",
        checkpoints.len()
    );
    // The served checkpoint is the newest.
    let served = std::fs::read(root.join("checkpoint")).unwrap();
    assert_eq!(served, checkpoints.last().unwrap().2);

    let tiles = DirTiles(root.clone());
    let (mut inclusions, mut consistencies) = (0, 0);
    for (k, (size, th, _)) in checkpoints.iter().enumerate() {
        let (size, th) = (*size, *th);
        // TileHashReader authenticates every tile it reads against (size, th).
        let reader = TileHashReader::new(size, th, &tiles);
        assert_eq!(tree_hash(size, &reader).unwrap(), th, "root of {size}");
        for i in samples(size) {
            let entries = bundle_entries(&root, i, size);
            let entry = &entries[(i % 256) as usize];
            assert_eq!((entry.len(), entry[0]), (41, 0x02), "entry {i}");
            let proof = prove_record(size, i, &reader).unwrap();
            check_record(&proof, size, th, i, record_hash(entry)).unwrap();
            inclusions += 1;
        }
        for (old, old_hash, _) in &checkpoints[..k] {
            let proof = prove_tree(size, *old, &reader).unwrap();
            check_tree(&proof, size, th, *old, *old_hash).unwrap();
            consistencies += 1;
        }
    }
    assert!(
        inclusions > 100 && consistencies > 10,
        "{inclusions} {consistencies}"
    );
}

#[test]
fn a_changed_tile_is_caught() {
    // Copy the fixture and flip one bit of leaf hash 3 in the full level-0 tile 0/000.
    let src = dir();
    let tmp = std::env::temp_dir().join(format!("hashcore-tiles-{}", std::process::id()));
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(&src)
        .arg(&tmp)
        .status()
        .unwrap();
    assert!(status.success());
    let tile = tmp.join("tile/0/000");
    let mut data = std::fs::read(&tile).unwrap();
    data[3 * 32] ^= 1;
    std::fs::write(&tile, data).unwrap();
    let note = std::fs::read(tmp.join("checkpoint")).unwrap();
    let cp = Checkpoint::from_bytes(Note::from_bytes(&note).unwrap().text()).unwrap();
    let (size, th) = (cp.size(), *cp.hash());
    let tiles = DirTiles(tmp.clone());
    let reader = TileHashReader::new(size, th, &tiles);
    let entry2 = bundle_entries(&tmp, 2, size)[2].clone();
    let proof = prove_record(size, 2, &reader);
    std::fs::remove_dir_all(&tmp).unwrap();
    // Hash 3 is leaf 2's sibling: the proof built from the changed tile fails.
    //
    // The crate's TileHashReader does not refuse the tile itself here, although it claims to
    // authenticate full tiles against their parents: its loop starts at the number of
    // tree-hash *indexes* (6 for size 1000), not of tree-hash *tiles* (2), so the one index
    // tile is skipped. Only check_record catches the change, so a reader of tiles must
    // check every proof against the signed root (ours does: tiles/client.py).
    let proof = proof.expect("tlog_tiles 0.2.0 hands out hashes of an unauthenticated tile");
    assert!(matches!(
        check_record(&proof, size, th, 2, record_hash(&entry2)),
        Err(Error::InvalidProof)
    ));
}
