//! The baseline of the argon2-bound scenarios (d: cold Introspect, e: CreateKey): the raw
//! argon2id rate for the store's default parameters (`HashingParams::default()`, what
//! `apikeys serve` hashes with unless told otherwise), measured in this process on as many
//! threads as cores, while no load runs (in turns with the scenario), each thread reusing its
//! argon2 memory (the fastest argon2 itself can go).

use std::time::{Duration, Instant};

use anyhow::Context;
use apikeys_store::HashingParams;
use argon2::{Algorithm, Argon2, Params, Version};
use serde::ser::SerializeStruct as _;
use serde::{Serialize, Serializer};

#[derive(Debug, Clone, Serialize)]
pub struct Argon2Rate {
    /// The scenario this measurement is the baseline of (measured in turns with it).
    pub baseline_of: String,
    /// … at this concurrency.
    pub concurrency: usize,
    #[serde(serialize_with = "serialize_params")]
    pub params: HashingParams,
    pub threads: usize,
    pub hashes: u64,
    /// Hashes per second over all threads.
    pub per_second: f64,
    /// Mean wall time of one hash on one thread.
    pub ms_per_hash: f64,
}

impl Argon2Rate {
    /// The mean of equally long measurements (the rounds of one row).
    pub fn mean(rates: Vec<Argon2Rate>) -> Option<Argon2Rate> {
        let count = rates.len() as f64;
        let mut rates = rates.into_iter();
        let mut mean = rates.next()?;
        for rate in rates {
            mean.hashes += rate.hashes;
            mean.per_second += rate.per_second;
            mean.ms_per_hash += rate.ms_per_hash;
        }
        mean.per_second /= count;
        mean.ms_per_hash /= count;
        Some(mean)
    }
}

/// `{memory_kib, iterations, parallelism}`, the store's field names.
fn serialize_params<S: Serializer>(
    params: &HashingParams,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut fields = serializer.serialize_struct("HashingParams", 3)?;
    fields.serialize_field("memory_kib", &params.memory_kib)?;
    fields.serialize_field("iterations", &params.iterations)?;
    fields.serialize_field("parallelism", &params.parallelism)?;
    fields.end()
}

/// Hashes a 56-byte secret with a 16-byte salt (what the server does per CreateKey, and per
/// cold verification) on `threads` threads for about `duration`.
pub async fn measure(
    baseline_of: &str,
    concurrency: usize,
    params: HashingParams,
    threads: usize,
    duration: Duration,
) -> anyhow::Result<Argon2Rate> {
    let baseline_of = baseline_of.to_owned();
    tokio::task::spawn_blocking(move || {
        measure_blocking(baseline_of, concurrency, params, threads, duration)
    })
    .await
    .context("argon2 measurement panicked")?
}

fn measure_blocking(
    baseline_of: String,
    concurrency: usize,
    params: HashingParams,
    threads: usize,
    duration: Duration,
) -> anyhow::Result<Argon2Rate> {
    let argon2 = Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            Some(32),
        )
        .map_err(|error| anyhow::anyhow!("argon2 parameters: {error}"))?,
    );
    let threads = threads.max(1);
    let per_thread: Vec<anyhow::Result<(u64, Duration)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let argon2 = argon2.clone();
                scope.spawn(move || {
                    let secret = b"aks_XbBb8OKz8kXnE2Ituf2sXPq0bpIpCY5R1WDNKikOk1q2sTUrj";
                    let mut salt = [0_u8; 16];
                    let mut out = [0_u8; 32];
                    // Reused across hashes, as the server does: the baseline is argon2's
                    // compute alone, not the allocator's and the kernel's zero-filling.
                    let mut blocks = vec![argon2::Block::default(); argon2.params().block_count()];
                    let started = Instant::now();
                    let mut count = 0_u64;
                    let mut last = Duration::ZERO;
                    while last < duration {
                        salt[..8].copy_from_slice(&count.to_le_bytes());
                        salt[8] = thread as u8;
                        argon2
                            .hash_password_into_with_memory(secret, &salt, &mut out, &mut blocks)
                            .map_err(|error| anyhow::anyhow!("argon2: {error}"))?;
                        count += 1;
                        last = started.elapsed();
                    }
                    Ok((count, last))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .map_err(|_| anyhow::anyhow!("argon2 thread panicked"))?
            })
            .collect()
    });
    let mut hashes = 0;
    let mut per_second = 0.0;
    let mut thread_seconds = 0.0;
    for result in per_thread {
        let (count, elapsed) = result?;
        hashes += count;
        per_second += count as f64 / elapsed.as_secs_f64();
        thread_seconds += elapsed.as_secs_f64();
    }
    Ok(Argon2Rate {
        baseline_of,
        concurrency,
        params,
        threads,
        hashes,
        per_second,
        ms_per_hash: thread_seconds * 1000.0 / hashes.max(1) as f64,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use apikeys_store::HashingParams;

    use super::measure;

    #[tokio::test]
    async fn measures_a_cheap_argon2_rate() {
        let params = HashingParams {
            memory_kib: 8,
            iterations: 1,
            parallelism: 1,
        };
        let rate = measure("d", 1, params, 2, Duration::from_millis(20))
            .await
            .expect("measure");
        assert!(rate.hashes >= 2 && rate.per_second > 0.0, "{rate:?}");
        let json = serde_json::to_value(&rate).expect("serializes");
        assert_eq!(
            json["params"],
            serde_json::json!({"memory_kib": 8, "iterations": 1, "parallelism": 1})
        );
    }
}
