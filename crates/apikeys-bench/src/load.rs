//! The closed-loop driver: C tasks, each issuing its next call as soon as the previous one
//! returns, for a warmup and then a measured window. Latencies of successful calls that complete
//! inside the window go into an HDR histogram (µs); failed calls are only counted.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;

/// Why a call did not count as a success: a gRPC or HTTP error, or an answer that is wrong
/// (e.g. `active=false`, a denied Check, a forward-auth `401`).
#[derive(Debug, Clone)]
pub struct CallError {
    pub message: String,
}

impl CallError {
    pub fn status(status: &tonic::Status) -> Self {
        Self {
            message: format!("{:?}: {}", status.code(), status.message()),
        }
    }

    pub fn wrong_answer(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// One task's client state; `call` makes one RPC and checks its answer.
pub trait Call: Send + 'static {
    fn call(&mut self, seq: u64) -> impl Future<Output = Result<(), CallError>> + Send;
}

#[derive(Debug, Clone, Copy)]
pub struct LoadConfig {
    pub concurrency: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// The server process whose CPU time over the measured window is reported.
    pub server_pid: Option<u32>,
}

#[derive(Debug)]
pub struct LoadResult {
    pub concurrency: usize,
    /// Successful calls in the measured window.
    pub calls: u64,
    /// Failed calls in the measured window.
    pub errors: u64,
    /// The first failure seen (warmup included), for the report.
    pub first_error: Option<CallError>,
    pub measured: Duration,
    pub histogram: Histogram<u64>,
    /// CPU time (user + system, all threads) the server spent in the measured window.
    pub server_cpu: Option<Duration>,
    /// Successful calls per second of each measured slice, in the order measured: one entry per
    /// round once [`LoadResult::absorb`] has merged the rounds.
    pub round_rps: Vec<f64>,
}

impl LoadResult {
    pub fn rps(&self) -> f64 {
        self.calls as f64 / self.measured.as_secs_f64().max(1e-9)
    }

    /// Adds another measurement of the same scenario and concurrency (another round).
    pub fn absorb(&mut self, other: LoadResult) -> anyhow::Result<()> {
        self.calls += other.calls;
        self.errors += other.errors;
        self.measured += other.measured;
        self.server_cpu = self.server_cpu.zip(other.server_cpu).map(|(a, b)| a + b);
        self.round_rps.extend(other.round_rps);
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.histogram
            .add(&other.histogram)
            .context("cannot merge histograms")
    }

    /// The server's CPU time per successful call, in µs: what a call costs the server, whatever
    /// the load generator beside it costs.
    pub fn server_cpu_us_per_call(&self) -> Option<f64> {
        let cpu = self.server_cpu?;
        (self.calls > 0).then(|| cpu.as_secs_f64() * 1e6 / self.calls as f64)
    }

    pub fn quantile_us(&self, quantile: f64) -> u64 {
        if self.histogram.is_empty() {
            0
        } else {
            self.histogram.value_at_quantile(quantile)
        }
    }
}

fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    // 1 µs .. 10 min, 3 significant digits.
    Histogram::new_with_bounds(1, 600_000_000, 3).context("cannot create histogram")
}

struct TaskResult {
    calls: u64,
    errors: u64,
    first_error: Option<CallError>,
    histogram: Histogram<u64>,
}

/// Runs `config.concurrency` tasks, task `i` with the state `make(i)`, closed loop.
pub async fn run_closed_loop<C, F>(config: LoadConfig, mut make: F) -> anyhow::Result<LoadResult>
where
    C: Call,
    F: FnMut(usize) -> C,
{
    let concurrency = config.concurrency.max(1);
    let start = Instant::now() + Duration::from_millis(5);
    let measure_from = start + config.warmup;
    let measure_until = measure_from + config.duration;
    // Samples the server's CPU time at the edges of the measured window (a timer, not a wait
    // for another task's progress).
    let server_cpu = config.server_pid.map(|pid| {
        tokio::spawn(async move {
            tokio::time::sleep_until(measure_from.into()).await;
            let before = process_cpu_time(pid)?;
            tokio::time::sleep_until(measure_until.into()).await;
            Some(process_cpu_time(pid)?.saturating_sub(before))
        })
    });
    let barrier = Arc::new(tokio::sync::Barrier::new(concurrency));
    let mut tasks = Vec::with_capacity(concurrency);
    for task in 0..concurrency {
        let mut caller = make(task);
        let mut histogram = new_histogram()?;
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let (mut calls, mut errors, mut first_error) = (0_u64, 0_u64, None);
            let mut seq = task as u64;
            loop {
                let began = Instant::now();
                if began >= measure_until {
                    break;
                }
                let outcome = caller.call(seq).await;
                let ended = Instant::now();
                seq = seq.wrapping_add(concurrency as u64);
                // Completions inside the window count (throughput is unbiased even when a
                // call takes 30 ms); calls still running at the end are dropped.
                let in_window = ended >= measure_from && ended <= measure_until;
                match outcome {
                    Ok(()) if in_window => {
                        let micros = u64::try_from(ended.duration_since(began).as_micros())
                            .unwrap_or(u64::MAX);
                        histogram.saturating_record(micros.max(1));
                        calls += 1;
                    }
                    Ok(()) => {}
                    Err(error) => {
                        if in_window {
                            errors += 1;
                        }
                        if first_error.is_none() {
                            first_error = Some(error);
                        }
                    }
                }
            }
            TaskResult {
                calls,
                errors,
                first_error,
                histogram,
            }
        }));
    }
    let mut total = LoadResult {
        concurrency,
        calls: 0,
        errors: 0,
        first_error: None,
        measured: config.duration,
        histogram: new_histogram()?,
        server_cpu: None,
        round_rps: Vec::new(),
    };
    for task in tasks {
        let result = task.await.context("load task panicked")?;
        total.calls += result.calls;
        total.errors += result.errors;
        if total.first_error.is_none() {
            total.first_error = result.first_error;
        }
        total
            .histogram
            .add(&result.histogram)
            .context("cannot merge histograms")?;
    }
    if let Some(sampler) = server_cpu {
        total.server_cpu = sampler.await.context("CPU sampler panicked")?;
    }
    total.round_rps.push(total.rps());
    Ok(total)
}

/// Linux reports a process's CPU times in `/proc/PID/stat` in USER_HZ ticks, 100 per second on
/// every architecture.
const USER_HZ: u64 = 100;

/// User + system CPU time of all of `pid`'s threads so far; `None` if it cannot be read.
pub fn process_cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start with field 3, `state`;
    // utime and stime are fields 14 and 15.
    let (_, after_command) = stat.rsplit_once(')')?;
    let mut fields = after_command.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((user + system) * 1000 / USER_HZ))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use apikeys_proto::pb::IntrospectRequest;
    use apikeys_proto::pb::introspection_service_client::IntrospectionServiceClient;
    use tokio::net::TcpListener;

    use super::{Call, CallError, LoadConfig, run_closed_loop};
    use crate::servers::{connect_channels, serve_bare};

    struct BareCall(IntrospectionServiceClient<tonic::transport::Channel>);

    impl Call for BareCall {
        async fn call(&mut self, _seq: u64) -> Result<(), CallError> {
            let response = self
                .0
                .introspect(IntrospectRequest {
                    client_id: "akc_x".into(),
                    client_secret: "aks_y".into(),
                    token: String::new(),
                })
                .await
                .map_err(|status| CallError::status(&status))?;
            if response.into_inner().active {
                Ok(())
            } else {
                Err(CallError::wrong_answer("inactive"))
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn driver_counts_calls_against_the_in_process_bare_server() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let server = tokio::spawn(serve_bare(listener));
        let channels = connect_channels(addr, 2).await.expect("connect");
        let config = LoadConfig {
            concurrency: 2,
            warmup: Duration::from_millis(20),
            duration: Duration::from_millis(200),
            // The server runs in this process.
            server_pid: Some(std::process::id()),
        };
        let result = run_closed_loop(config, |task| {
            BareCall(IntrospectionServiceClient::new(
                channels[task % channels.len()].clone(),
            ))
        })
        .await
        .expect("load run");
        server.abort();
        assert!(result.calls > 0, "no call succeeded: {result:?}");
        assert_eq!(result.errors, 0, "errors: {:?}", result.first_error);
        assert_eq!(result.histogram.len(), result.calls);
        assert!(result.quantile_us(0.99) >= result.quantile_us(0.5));
        // Two threads busy for 200 ms are about 40 ticks of 10 ms.
        let cpu = result.server_cpu.expect("CPU time sampled");
        assert!(cpu > Duration::ZERO, "{cpu:?}");
        assert!(result.server_cpu_us_per_call().is_some());
        assert_eq!(result.round_rps, vec![result.rps()]);
    }
}
