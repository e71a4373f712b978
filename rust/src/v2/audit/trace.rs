//! `HASHCORE_TRACE=1`: each phase of an audit on stderr, as v1's engine printed them: its
//! wall time, the CPU time of all the process's threads, that of its busiest thread
//! (Linux: `/proc/self/task/*/schedstat`), and the process's minor page faults
//! (`/proc/self/stat`: each fresh page a phase touches costs a fault and a zeroing, which
//! on a virtual machine can outweigh the work done on the page). The CPU times hold on a loaded machine where
//! wall time does not: a phase whose busiest thread did nearly all of its CPU time ran on
//! one thread, whatever the thread count (a parallel one shows total / threads). Off, a
//! phase mark costs one branch.

use std::collections::HashMap;
use std::time::Instant;

pub struct Trace {
    last: Option<(Instant, HashMap<u64, u64>, u64)>,
}

/// Minor page faults of this process so far (0 where /proc has none).
fn minor_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Field 10 (minflt), counted after the `(comm)` field, which may hold spaces.
    let after_comm = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    after_comm
        .split_whitespace()
        .nth(7)
        .and_then(|f| f.parse().ok())
        .unwrap_or(0)
}

/// CPU nanoseconds so far of each thread of this process (empty where /proc has none).
fn thread_cpu_ns() -> HashMap<u64, u64> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in dir.flatten() {
        let tid = task.file_name().to_string_lossy().parse::<u64>();
        let stat = std::fs::read_to_string(task.path().join("schedstat"));
        if let (Ok(tid), Ok(stat)) = (tid, stat) {
            if let Some(Ok(ns)) = stat.split_whitespace().next().map(str::parse::<u64>) {
                out.insert(tid, ns);
            }
        }
    }
    out
}

impl Trace {
    /// On when `HASHCORE_TRACE` is set in the environment.
    pub fn new() -> Self {
        Trace {
            last: std::env::var_os("HASHCORE_TRACE")
                .map(|_| (Instant::now(), thread_cpu_ns(), minor_faults())),
        }
    }

    /// Prints the times since the previous mark (or since `new`) under `phase`.
    pub fn mark(&mut self, phase: &str) {
        if let Some((last, before, faults_before)) = &self.last {
            let (now, cpu, faults) = (Instant::now(), thread_cpu_ns(), minor_faults());
            let spent = cpu
                .iter()
                .map(|(tid, ns)| ns.saturating_sub(before.get(tid).copied().unwrap_or(0)));
            let (total, busiest) = spent.fold((0, 0), |(t, b), ns| (t + ns, b.max(ns)));
            eprintln!(
                "hashcore trace: {phase:<12} wall {:>8.1} ms  cpu {:>8.1} ms  busiest thread {:>8.1} ms  page faults {:>7}",
                (now - *last).as_secs_f64() * 1e3,
                total as f64 / 1e6,
                busiest as f64 / 1e6,
                faults.saturating_sub(*faults_before),
            );
            self.last = Some((now, cpu, faults));
        }
    }
}

impl Default for Trace {
    fn default() -> Self {
        Self::new()
    }
}
