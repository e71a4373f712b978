//! `HASHCORE_TRACE=1`: the wall time of each phase of an audit on stderr, as v1's engine
//! printed them, so that the phases that don't scale with the thread count show (a
//! profile under load gives proportions, not which phase runs on one thread). Off, a
//! phase mark costs one branch.

use std::time::Instant;

pub struct Trace {
    last: Option<Instant>,
}

impl Trace {
    /// On when `HASHCORE_TRACE` is set in the environment.
    pub fn new() -> Self {
        Trace {
            last: std::env::var_os("HASHCORE_TRACE").map(|_| Instant::now()),
        }
    }

    /// Prints the time since the previous mark (or since `new`) under `phase`.
    pub fn mark(&mut self, phase: &str) {
        if let Some(last) = self.last {
            let now = Instant::now();
            eprintln!(
                "hashcore trace: {phase:<14} {:>9.1} ms",
                (now - last).as_secs_f64() * 1e3
            );
            self.last = Some(now);
        }
    }
}

impl Default for Trace {
    fn default() -> Self {
        Self::new()
    }
}
