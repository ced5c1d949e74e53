//! Figures: CPU time per process, peak memory, tallies of measured slices, quantiles.

use crate::BoxError;
use std::time::Duration;

/// The peak resident set size of this process (`VmHWM`), in MiB.
pub(crate) fn peak_rss_mib() -> Result<f64, BoxError> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or("no VmHWM in /proc/self/status")?;
    Ok(kib / 1024.0)
}

/// CPU time (user + system) a process has used so far, from `/proc/<pid>/stat`
/// (clock ticks of 10 ms; `None` for this process).
pub(crate) fn cpu_time(pid: Option<u32>) -> Result<Duration, BoxError> {
    let path = pid.map_or_else(
        || "/proc/self/stat".to_owned(),
        |p| format!("/proc/{p}/stat"),
    );
    let stat = std::fs::read_to_string(path)?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat
        .rsplit_once(')')
        .ok_or("unexpected /proc stat format")?
        .1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = |i: usize| -> Result<u64, BoxError> {
        Ok(fields.get(i).ok_or("short /proc stat line")?.parse()?)
    };
    Ok(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}

/// Counts the CPU used by this process and by the sink from `start` on.
pub(crate) struct CpuMeter {
    sink: u32,
    ours: Duration,
    theirs: Duration,
}

impl CpuMeter {
    pub(crate) fn start(sink: u32) -> Result<Self, BoxError> {
        Ok(Self {
            sink,
            ours: cpu_time(None)?,
            theirs: cpu_time(Some(sink))?,
        })
    }

    /// Microseconds of CPU used since `start`: (this process, the sink).
    pub(crate) fn used_us(&self) -> Result<(f64, f64), BoxError> {
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        Ok((
            us(cpu_time(None)? - self.ours),
            us(cpu_time(Some(self.sink))? - self.theirs),
        ))
    }
}

/// One side's measured slices of a round, added up.
#[derive(Clone, Default)]
pub(crate) struct Tally {
    pub(crate) elapsed: Duration,
    pub(crate) timed: u64,
    /// Timed and warm-up items (the CPU figures cover both).
    pub(crate) all: u64,
    pub(crate) cpu_us: (f64, f64),
}

impl Tally {
    pub(crate) fn add(&mut self, elapsed: Duration, timed: u64, warm_up: u64, cpu_us: (f64, f64)) {
        self.elapsed += elapsed;
        self.timed += timed;
        self.all += timed + warm_up;
        self.cpu_us.0 += cpu_us.0;
        self.cpu_us.1 += cpu_us.1;
    }

    /// Timed items per second (0 if nothing was measured).
    pub(crate) fn rate(&self) -> f64 {
        if self.elapsed.is_zero() {
            return 0.0;
        }
        self.timed as f64 / self.elapsed.as_secs_f64()
    }

    /// Prints the round's line for this side.
    pub(crate) fn print(&self, round: u32, side: &str, items: &str, rate: &str, item: &str) {
        let all = self.all.max(1) as f64;
        println!(
            "round {round}: {side} {} {items} in {:.3} s = {:.0} {rate}; CPU per {item}: \
             client {:.1} us, sink {:.1} us",
            self.timed,
            self.elapsed.as_secs_f64(),
            self.rate(),
            self.cpu_us.0 / all,
            self.cpu_us.1 / all,
        );
    }
}

/// The value at quantile `q` (0.0..=1.0) of sorted samples.
pub(crate) fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}
