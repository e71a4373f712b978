//! A private rayon pool, so that hashcore neither fights the host application over rayon's
//! global pool nor breaks after `fork()` (a forked child inherits the pool's bookkeeping
//! but none of its threads; we notice the new pid and build a fresh pool).

use std::sync::{Arc, Mutex};

use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::error::{Error, Result};

struct Cached {
    pid: u32,
    threads: usize,
    pool: Arc<ThreadPool>,
}

static POOL: Mutex<Option<Cached>> = Mutex::new(None);

/// The most worker threads a caller may ask for (hashcore/limits.py says why 256).
pub const MAX_THREADS: usize = 256;

/// Number of threads used when the caller does not say: all cores, at most MAX_THREADS.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_THREADS))
}

/// The pool for `threads` workers (default: all cores), reused across calls in a process.
pub fn pool(threads: Option<usize>) -> Result<Arc<ThreadPool>> {
    let threads = match threads {
        Some(0) => return Err(Error::InvalidArgument("threads must be at least 1".into())),
        Some(n) if n > MAX_THREADS => {
            return Err(Error::InvalidArgument(format!(
                "threads must be at most {MAX_THREADS}, got {n}"
            )))
        }
        Some(n) => n,
        None => default_threads(),
    };
    let pid = std::process::id();
    let mut guard = POOL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(cached) = guard.as_ref() {
        if cached.pid == pid && cached.threads == threads {
            return Ok(cached.pool.clone());
        }
    }
    let pool = Arc::new(
        ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("hashcore-{i}"))
            .build()
            .map_err(|source| Error::ThreadPool { threads, source })?,
    );
    if let Some(old) = guard.replace(Cached {
        pid,
        threads,
        pool: pool.clone(),
    }) {
        if old.pid != pid {
            // The old pool's threads belong to the parent process; dropping it here would
            // wait on workers that do not exist in this child.
            std::mem::forget(old);
        }
    }
    Ok(pool)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_more_threads_than_the_maximum() {
        let err = pool(Some(MAX_THREADS + 1)).expect_err("refused");
        assert_eq!(err.to_string(), "threads must be at most 256, got 257");
        assert!(pool(Some(2)).is_ok());
        assert!(default_threads() <= MAX_THREADS);
    }
}
