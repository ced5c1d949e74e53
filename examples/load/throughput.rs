//! Throughput mode: the sides alternate in slices within rounds, for each concurrency.

use crate::burst::{CountingObserver, install_recorder};
use crate::clients::{self, Bare, Signing, Target};
use crate::figures::{CpuMeter, Tally, median, peak_rss_mib, quantile};
use crate::pipeline::{config, pipeline, seed_payload, signed_headers, url};
use crate::sink::{Sink, SinkSpec};
use crate::{Args, BoxError, Side};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Runtime;
use webhook_core::{
    Notifier, ResolvedWebhookConfig, WebhookMessage, WebhookPayload, WebhookQueuePolicy,
};
use webhook_http::HttpTransport;

/// What stays the same for every concurrency of a run.
struct Run<'a> {
    args: &'a Args,
    sink: Sink,
    payload: WebhookPayload,
    sample: WebhookMessage,
    roots: Option<Arc<rustls::RootCertStore>>,
    /// The bare client's runtimes: (label, runtime), each measured in every slice.
    raw_runtimes: Vec<(String, Runtime)>,
    seed_runtime: Runtime,
    /// `http1`, `https1` or `https2`.
    protocol: &'static str,
    n: u64,
    csv: Option<std::fs::File>,
}

/// The medians of one concurrency's rounds.
struct Summary {
    c: u32,
    rates: [f64; 4],
    ratios: [f64; 3],
    cpu_client: [f64; 4],
    cpu_sink: [f64; 4],
}

const SIDES: [Side; 4] = [Side::Raw, Side::Pipeline, Side::Seed, Side::Default];

fn index(side: Side) -> usize {
    match side {
        Side::Raw => 0,
        Side::Pipeline => 1,
        Side::Seed => 2,
        Side::Default => 3,
    }
}

pub(crate) fn run_throughput(args: &Args) -> Result<bool, BoxError> {
    let sink = Sink::start(SinkSpec {
        runtime: args.sink_runtime,
        server: args.sink_server,
        threads: args.sink_threads,
        delay_ms: 0,
        tls: args.tls,
    })?;
    let payload = seed_payload();
    let sample = WebhookMessage::from_payload(&payload)?;
    let roots = sink.ca_pem.as_deref().map(clients::roots).transpose()?;
    let raw_runtimes = args
        .client_runtimes
        .iter()
        .map(|label| Ok((label.clone(), client_runtime(label)?)))
        .collect::<Result<Vec<_>, BoxError>>()?;
    let seed_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.seed_threads as usize)
        .enable_all()
        .build()?;
    let protocol = match (args.tls, args.h2) {
        (false, _) => "http1",
        (true, false) => "https1",
        (true, true) => "https2",
    };
    println!(
        "load: sink pid {} on 127.0.0.1:{} ({protocol}, {:?} runtime, {} thread(s)); body {} B; \
         N = {}; client runtimes {:?}, notifier threads {}, seed's shape {} threads; \
         {} producer(s), {} round(s), sides {:?}",
        sink.pid(),
        sink.port,
        args.sink_runtime,
        args.sink_threads,
        sample.body().len(),
        if args.quick { 5_000 } else { args.requests },
        args.client_runtimes,
        args.notifier_threads
            .map_or_else(|| "default".to_owned(), |t| t.to_string()),
        args.seed_threads,
        args.producers,
        args.rounds,
        args.sides,
    );
    install_recorder(args.prometheus)?;
    let csv = open_csv(args.csv.as_deref())?;
    let n = if args.quick {
        5_000
    } else {
        args.requests.max(1)
    };
    let mut run = Run {
        args,
        sink,
        payload,
        sample,
        roots,
        raw_runtimes,
        seed_runtime,
        protocol,
        n,
        csv,
    };
    let mut ok = true;
    let mut summaries = Vec::new();
    for &c in &args.concurrency {
        let (level_ok, summary) = run.level(c)?;
        ok &= level_ok;
        summaries.push(summary);
    }
    print_table(protocol, &summaries);
    Ok(ok)
}

/// 256 header sets for the bare client, each signed for a message of its own (the same
/// body, a different webhook id).
///
/// Over HTTP/1.1 each set also carries the `host` header, made once, as the transport
/// sends it: hyper-util would otherwise format it for every request.
fn header_sets(
    config: &ResolvedWebhookConfig,
    payload: &WebhookPayload,
    h2: bool,
) -> Result<Vec<http::HeaderMap>, BoxError> {
    let (signer, host) = (config.signer(), host_header(config, h2));
    (0..256)
        .map(|_| {
            let message = WebhookMessage::from_payload(payload)?;
            Ok(signed_headers(&signer, &message, host.as_ref()))
        })
        .collect()
}

/// The `host` header the transport sends over HTTP/1.1 (none with HTTP/2).
fn host_header(config: &ResolvedWebhookConfig, h2: bool) -> Option<http::HeaderValue> {
    (config.destination.as_ref())
        .and_then(|d| d.host_header())
        .filter(|_| !h2)
        .cloned()
}

/// A runtime for the bare client: `current`, `spinning` (current-thread, never parks) or
/// `multi<N>` (N worker threads), each optionally with `+sign` (the client then signs
/// every request itself).
fn client_runtime(label: &str) -> Result<Runtime, BoxError> {
    let spinning = spins(label);
    let label = label.strip_suffix(SIGNS).unwrap_or(label);
    if label == "current" || spinning {
        // A spinning one never parks while `run_bare` keeps its spinner on it.
        return Ok(crate::sink::current_thread(spinning)?);
    }
    let threads: usize = label
        .strip_prefix("multi")
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            format!(
                "client runtime {label:?}: expected current, spinning or multi<N>, each \
                 optionally with +sign"
            )
        })?;
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?)
}

/// The suffix of a bare-client runtime label that makes the client sign each request.
const SIGNS: &str = "+sign";

/// Whether a bare-client runtime label names the current-thread runtime that never parks
/// (`spinning`, with or without `+sign`).
fn spins(label: &str) -> bool {
    label.strip_suffix(SIGNS).unwrap_or(label) == "spinning"
}

/// Runs one slice of the bare client; with `spinning`, beside a task that only yields,
/// so that the runtime always has a task ready and never waits in epoll (the client's
/// counterpart of the spinning sink: BENCHMARKS.md, "Round 11").
async fn run_bare(
    bare: &Bare,
    warm: u64,
    count: u64,
    spinning: bool,
) -> Result<Duration, BoxError> {
    let spinner = spinning.then(crate::sink::spawn_spinner);
    let elapsed = bare.run(warm, count).await;
    if let Some(spinner) = spinner {
        spinner.abort();
    }
    elapsed
}

/// What a signing bare client needs: the pipeline's signer, payload, `host` and
/// timeout.
fn signing(config: &ResolvedWebhookConfig, payload: &WebhookPayload, h2: bool) -> Signing {
    Signing {
        signer: config.signer(),
        payload: payload.clone(),
        host: host_header(config, h2),
        timeout: config.timeout,
    }
}

fn open_csv(path: Option<&std::path::Path>) -> Result<Option<std::fs::File>, BoxError> {
    let Some(path) = path else { return Ok(None) };
    let new = !path.exists();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    if new {
        writeln!(file, "protocol,side,c,round,rate,cpu_client_us,cpu_sink_us")?;
    }
    Ok(Some(file))
}

/// The table of medians, in Markdown.
fn print_table(protocol: &str, summaries: &[Summary]) {
    println!(
        "| protocol | C | bare client req/s | pipeline events/s | seed's shape req/s | transport default events/s | pipeline / bare | seed / bare | default / bare | CPU µs per item, client side (bare / pipeline / seed / default) | sink side |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for s in summaries {
        println!(
            "| {protocol} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.3} | {:.3} | {:.3} | {:.1} / {:.1} / {:.1} / {:.1} | {:.1} / {:.1} / {:.1} / {:.1} |",
            s.c,
            s.rates[0],
            s.rates[1],
            s.rates[2],
            s.rates[3],
            s.ratios[0],
            s.ratios[1],
            s.ratios[2],
            s.cpu_client[0],
            s.cpu_client[1],
            s.cpu_client[2],
            s.cpu_client[3],
            s.cpu_sink[0],
            s.cpu_sink[1],
            s.cpu_sink[2],
            s.cpu_sink[3],
        );
    }
}

impl Run<'_> {
    /// A notifier for the sink; with `default_protocol` its transport keeps its own
    /// protocol choice, otherwise it speaks the run's.
    fn notifier(
        &self,
        config: ResolvedWebhookConfig,
        default_protocol: bool,
    ) -> Result<Notifier, BoxError> {
        let mut transport = HttpTransport::builder_for(&config);
        if let Some(pem) = &self.sink.ca_pem {
            transport = transport.add_root_certificate_pem(pem.clone());
            if !default_protocol {
                transport = transport.http2(self.args.h2);
            }
        }
        let mut builder = Notifier::builder(config, Arc::new(transport.build()?));
        if let Some(threads) = self.args.notifier_threads {
            builder = builder.worker_threads(threads as usize);
        }
        if self.args.observer {
            builder = builder.observer(Arc::new(CountingObserver::default()));
        }
        Ok(builder.start()?)
    }

    /// Measures every side at concurrency `c`, `rounds` times.
    fn level(&mut self, c: u32) -> Result<(bool, Summary), BoxError> {
        let config = config(url(&self.sink), c, WebhookQueuePolicy::BlockWithTimeout)?;
        let target = Target {
            uri: url(&self.sink).parse()?,
            headers: Arc::new(header_sets(&config, &self.payload, self.args.h2)?),
            next: Arc::new(std::sync::atomic::AtomicU64::new(0)),
            body: self.sample.body().clone(),
            roots: self.roots.clone(),
            h2: self.args.h2,
        };
        let signs = Arc::new(signing(&config, &self.payload, self.args.h2));
        let notifier = self.notifier(config.clone(), self.args.transport_default)?;
        let default = self.notifier(config, true)?;
        let bares = (self.raw_runtimes.iter())
            .map(|(label, _)| {
                let signing = label.ends_with(SIGNS).then(|| signs.clone());
                Bare::new(&target, c, signing)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut ok = true;
        let mut per_round: [Vec<Tally>; 4] = Default::default();
        let mut latencies = Vec::new();
        let mut by_flavour: Vec<Vec<Tally>> = vec![Vec::new(); bares.len()];
        let labels: Vec<String> = self.raw_runtimes.iter().map(|(l, _)| l.clone()).collect();
        for round in 1..=self.args.rounds {
            let notifiers = [&notifier, &default];
            let (tallies, flavours) =
                self.round(c, &target, &bares, notifiers, &mut latencies, &mut ok)?;
            for ((label, t), all) in labels.iter().zip(flavours).zip(&mut by_flavour) {
                if self.args.sides.contains(&Side::Raw) {
                    t.print(round, &format!("raw {label}"), "items", "items/s", "item");
                    self.write_csv(&format!("raw-{label}"), c, round, &t)?;
                }
                all.push(t);
            }
            for side in SIDES.into_iter().filter(|s| *s != Side::Raw) {
                let t = &tallies[index(side)];
                if self.args.sides.contains(&side) {
                    let name = format!("{side:?}").to_lowercase();
                    t.print(round, &name, "items", "items/s", "item");
                    self.write_csv(&name, c, round, t)?;
                }
            }
            for (all, t) in per_round.iter_mut().zip(tallies) {
                all.push(t);
            }
        }
        if let Some(baseline) = self.baseline(c, &labels, by_flavour)? {
            per_round[0] = baseline;
        }
        for notifier in [notifier, default] {
            let report = notifier.shutdown(Duration::from_secs(10));
            if !report.stats.balances() {
                eprintln!("load: the counters do not balance: {:?}", report.stats);
                ok = false;
            }
        }
        latencies.sort_unstable();
        let summary = summarize(c, &per_round);
        println!(
            "c={c} pipeline_rps={:.0} raw_rps={:.0} seed_rps={:.0} default_rps={:.0} ratio={:.3} \
             seed_ratio={:.3} default_ratio={:.3} p50_enqueue_ns={} p99_enqueue_ns={} peak_rss_mib={:.1}",
            summary.rates[1],
            summary.rates[0],
            summary.rates[2],
            summary.rates[3],
            summary.ratios[0],
            summary.ratios[1],
            summary.ratios[2],
            quantile(&latencies, 0.5),
            quantile(&latencies, 0.99),
            peak_rss_mib()?,
        );
        Ok((ok, summary))
    }

    /// One round: the sides alternate in slices.
    fn round(
        &mut self,
        c: u32,
        target: &Target,
        bares: &[Bare],
        notifiers: [&Notifier; 2],
        latencies: &mut Vec<u64>,
        ok: &mut bool,
    ) -> Result<([Tally; 4], Vec<Tally>), BoxError> {
        let n = self.n;
        let slices = u64::from(self.args.slices).min(n / 1_000).max(1);
        let seed_n = (n / 20).max(slices);
        let warm_up = (u64::from(c) * 250).min(n);
        let mut tallies: [Tally; 4] = Default::default();
        let mut flavours: Vec<Tally> = bares.iter().map(|_| Tally::default()).collect();
        for slice in 0..slices {
            let share = |n: u64| n / slices + u64::from(slice < n % slices);
            let first = slice == 0;
            for side in self.args.sides.clone() {
                if side == Side::Raw {
                    let (count, warm) = (share(n), if first { warm_up } else { 0 });
                    let runtimes = self.raw_runtimes.iter().zip(bares).zip(&mut flavours);
                    for (((label, runtime), bare), tally) in runtimes {
                        let cpu = CpuMeter::start(self.sink.pid())?;
                        let elapsed =
                            runtime.block_on(run_bare(bare, warm, count, spins(label)))?;
                        tally.add(elapsed, count, warm, cpu.used_us()?);
                    }
                    continue;
                }
                let cpu = CpuMeter::start(self.sink.pid())?;
                let (count, warm, elapsed) = match side {
                    // (Raw was measured above.)
                    Side::Seed | Side::Raw => {
                        let (count, warm) =
                            (share(seed_n), if first { u64::from(c) * 4 } else { 0 });
                        let run = clients::seed_shape(target, c, warm, count);
                        (count, warm, self.seed_runtime.block_on(run)?)
                    }
                    Side::Pipeline | Side::Default => {
                        let notifier = notifiers[usize::from(side == Side::Default)];
                        let (count, warm) = (share(n), if first { warm_up } else { 0 });
                        let producers = self.args.producers as usize;
                        let run = pipeline(
                            notifier,
                            &self.payload,
                            (producers, self.args.backlog as usize),
                            warm,
                            count,
                        )?;
                        if run.delivered != count || run.failed != 0 || run.dropped != 0 {
                            eprintln!(
                                "load: the pipeline lost events: expected {count} delivered, none \
                                 failed or dropped; got {} delivered, {} failed, {} dropped",
                                run.delivered, run.failed, run.dropped
                            );
                            *ok = false;
                        }
                        latencies.extend(run.latencies_ns);
                        (count, warm, run.elapsed)
                    }
                };
                tallies[index(side)].add(elapsed, count, warm, cpu.used_us()?);
            }
        }
        Ok((tallies, flavours))
    }

    /// The bare client's rounds on the runtime with the highest median rate (picking
    /// the best flavour per round would favour whichever was lucky); written to the CSV
    /// as the `raw` side.
    fn baseline(
        &mut self,
        c: u32,
        labels: &[String],
        mut by_flavour: Vec<Vec<Tally>>,
    ) -> Result<Option<Vec<Tally>>, BoxError> {
        let rate =
            |rounds: &Vec<Tally>| median(&mut rounds.iter().map(Tally::rate).collect::<Vec<_>>());
        // A client that signs is measured beside the others, never the baseline.
        let Some(best) = (0..by_flavour.len())
            .filter(|i| !labels[*i].ends_with(SIGNS))
            .max_by(|a, b| rate(&by_flavour[*a]).total_cmp(&rate(&by_flavour[*b])))
        else {
            return Ok(None);
        };
        if self.args.sides.contains(&Side::Raw) {
            println!(
                "c={c}: baseline: the bare client on runtime {}",
                labels[best]
            );
            for (round, t) in by_flavour[best].iter().enumerate() {
                self.write_csv("raw", c, round as u32 + 1, t)?;
            }
        }
        Ok(Some(std::mem::take(&mut by_flavour[best])))
    }

    fn write_csv(&mut self, side: &str, c: u32, round: u32, t: &Tally) -> Result<(), BoxError> {
        let Some(file) = self.csv.as_mut() else {
            return Ok(());
        };
        let all = t.all.max(1) as f64;
        writeln!(
            file,
            "{},{side},{c},{round},{:.0},{:.2},{:.2}",
            self.protocol,
            t.rate(),
            t.cpu_us.0 / all,
            t.cpu_us.1 / all,
        )?;
        Ok(())
    }
}

/// Medians over the rounds; ratios as the median of the per-round ratios to the bare
/// client (each round's rates were measured side by side).
fn summarize(c: u32, per_round: &[Vec<Tally>; 4]) -> Summary {
    let med = |f: &dyn Fn(&Tally) -> f64, side: usize| {
        median(&mut per_round[side].iter().map(f).collect::<Vec<_>>())
    };
    let per_item = |cpu: fn(&Tally) -> f64| move |t: &Tally| cpu(t) / t.all.max(1) as f64;
    let ratio = |side: usize| {
        let mut r: Vec<f64> = per_round[side]
            .iter()
            .zip(&per_round[0])
            .map(|(p, raw)| {
                if raw.rate() > 0.0 {
                    p.rate() / raw.rate()
                } else {
                    0.0
                }
            })
            .collect();
        median(&mut r)
    };
    let client = per_item(|t| t.cpu_us.0);
    let sink = per_item(|t| t.cpu_us.1);
    Summary {
        c,
        rates: [0, 1, 2, 3].map(|s| med(&Tally::rate, s)),
        ratios: [ratio(1), ratio(2), ratio(3)],
        cpu_client: [0, 1, 2, 3].map(|s| med(&client, s)),
        cpu_sink: [0, 1, 2, 3].map(|s| med(&sink, s)),
    }
}
