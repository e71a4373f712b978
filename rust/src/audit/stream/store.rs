//! Where a streamed audit keeps its partitions between the passes: in memory, or in spill
//! files (`partition-NNNNN.spill` and `.keys`, removed once read) that are read back one
//! partition ahead, so that reading overlaps checking.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Where one partition's spilled rows are.
pub(super) enum Store {
    Memory {
        records: Vec<u8>,
        keys: Vec<u8>,
    },
    File {
        records: PathBuf,
        keys: PathBuf,
    },
    /// Checked (pass 3 is done with it).
    Done,
}

impl Store {
    /// Appends one batch's spill records and keys.
    pub(super) fn append(&mut self, records: &[u8], keys: &[u8]) -> Result<()> {
        match self {
            Store::Memory {
                records: all,
                keys: all_keys,
            } => {
                all.extend_from_slice(records);
                all_keys.extend_from_slice(keys);
                Ok(())
            }
            Store::File {
                records: path,
                keys: keys_path,
            } => {
                append(path, records)?;
                if !keys.is_empty() {
                    append(keys_path, keys)?;
                }
                Ok(())
            }
            Store::Done => Err(Error::InvalidArgument(
                "a partition was checked before the rows were closed".into(),
            )),
        }
    }
}

type Prefetch = std::thread::JoinHandle<Result<(Vec<u8>, Vec<u8>)>>;

/// Every partition's store, and the reading ahead.
pub(super) struct Stores {
    pub(super) stores: Vec<Store>,
    /// The buffer of the partition last checked, kept for the next ones.
    spare_buf: Vec<u8>,
    /// The next partition's files, being read.
    prefetched: Option<(usize, Prefetch)>,
}

impl Stores {
    pub(super) fn new(partitions: usize, spill_dir: Option<&Path>) -> Self {
        let stores = (0..partitions)
            .map(|p| match spill_dir {
                None => Store::Memory {
                    records: Vec::new(),
                    keys: Vec::new(),
                },
                Some(dir) => Store::File {
                    records: dir.join(format!("partition-{p:05}.spill")),
                    keys: dir.join(format!("partition-{p:05}.keys")),
                },
            })
            .collect();
        Stores {
            stores,
            spare_buf: Vec::new(),
            prefetched: None,
        }
    }

    /// The first partition not yet taken.
    pub(super) fn first_unchecked(&self) -> Option<usize> {
        self.stores.iter().position(|s| !matches!(s, Store::Done))
    }

    /// Partition `index`'s records and keys (the store is then done), and the next
    /// partition's files read ahead on a thread.
    pub(super) fn take(&mut self, index: usize) -> Result<(Vec<u8>, Vec<u8>)> {
        let store = self
            .stores
            .get_mut(index)
            .ok_or_else(|| Error::InvalidArgument(format!("no partition {index}")))?;
        let taken = match std::mem::replace(store, Store::Done) {
            Store::Memory { records, keys } => (records, keys),
            Store::File { records, keys } => match self.prefetched.take() {
                Some((i, handle)) if i == index => handle
                    .join()
                    .map_err(|_| Error::Io("reading a spill file failed".into()))??,
                other => {
                    // A read ahead of another partition (not the order asked): let it be.
                    drop(other);
                    read_partition(&records, &keys, std::mem::take(&mut self.spare_buf))?
                }
            },
            Store::Done => {
                return Err(Error::InvalidArgument(format!(
                    "partition {index} was already checked"
                )))
            }
        };
        // Read the next partition's file while this one is checked (the reads are copies
        // from the page cache, which would otherwise leave a core idle).
        if let Some(Store::File { records, keys }) = self.stores.get(index + 1) {
            let (records, keys) = (records.clone(), keys.clone());
            let buf = std::mem::take(&mut self.spare_buf);
            // Without a thread (none could be started), the next call reads it itself.
            self.prefetched = std::thread::Builder::new()
                .name("hashcore-spill-reader".into())
                .spawn(move || read_partition(&records, &keys, buf))
                .ok()
                .map(|handle| (index + 1, handle));
        }
        Ok(taken)
    }

    /// A checked partition's buffer, reused: no fresh pages to fault in for the next.
    pub(super) fn give_back(&mut self, buf: Vec<u8>) {
        self.spare_buf = buf;
    }
}

fn file_error(action: &'static str, path: &Path, source: std::io::Error) -> Error {
    Error::File {
        action,
        path: path.to_path_buf(),
        source,
    }
}

fn append(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| file_error("create", path, e))?;
    file.write_all(bytes)
        .map_err(|e| file_error("write", path, e))
}

/// A partition's records (into `buf`) and keys, the files removed.
fn read_partition(records: &Path, keys: &Path, mut buf: Vec<u8>) -> Result<(Vec<u8>, Vec<u8>)> {
    take_file(records, &mut buf)?;
    let mut key_bytes = Vec::new();
    take_file(keys, &mut key_bytes)?;
    Ok((buf, key_bytes))
}

/// A spill file's bytes into `buf` (none if it was never written), and the file removed.
fn take_file(path: &Path, buf: &mut Vec<u8>) -> Result<()> {
    use std::io::Read;
    buf.clear();
    let mut file = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(file_error("open", path, e)),
    };
    file.read_to_end(buf)
        .map_err(|e| file_error("read", path, e))?;
    fs::remove_file(path).map_err(|e| file_error("remove", path, e))
}
