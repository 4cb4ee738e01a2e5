//! Random numbers: one master seed, independent named streams derived from it, and samplers that
//! give the same bits on every machine.
//!
//! * Algorithm: PCG-64 (MCG variant, `rand_pcg::Pcg64Mcg`), seeded through our own SplitMix64 mix
//!   of (master seed, stream, index) so that seeding does not depend on any library's
//!   `seed_from_u64` expansion.
//! * Streams: arrivals, keys, sizes and the sticky partitioner are sequential streams; processing
//!   times are *keyed* by (group, message id): the same message gets the same processing time in
//!   the Kafka run and the RabbitMQ run whatever order the two models consume it in. That is what
//!   makes the comparison paired (common random numbers).
//! * Samplers: exponential, log-normal and Zipf use `libm` (a pure-Rust libm), not `f64::ln`/`exp`
//!   from std, which call the platform's C library and may differ in the last bit between
//!   platforms; `rand_distr`'s samplers use std's functions, so they are not used for these.

use rand::{Rng, RngCore};
use rand_distr::{Distribution, Uniform};
use rand_pcg::Pcg64Mcg;

/// What a stream of random numbers is for. Adding a purpose never changes the numbers of another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Stream {
    Arrivals = 1,
    Keys = 2,
    Sizes = 3,
    Partitioner = 4,
    Processing = 5,
    Faults = 6,
    /// Raft election timeouts (quorum queues).
    Elections = 7,
    /// Service times of serial processes (a queue's per-message work).
    Service = 8,
    /// A message's routing key and header values, keyed by its id (issue 18).
    Routing = 9,
    /// Whether a message's processing fails, keyed by its id (issue 18, `crate::failures`).
    Failures = 10,
    /// A message's AMQP priority, keyed by its id (`[workload] priorities`).
    Priorities = 11,
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn mix(seed: u64, stream: Stream, a: u64, b: u64) -> u128 {
    let h1 = splitmix64(seed ^ splitmix64(stream as u64 ^ splitmix64(a ^ splitmix64(b))));
    let h2 = splitmix64(h1 ^ 0xD1B5_4A32_D192_ED03);
    // PCG's MCG state must be odd; `Pcg64Mcg::new` forces that itself.
    ((h1 as u128) << 64) | h2 as u128
}

/// The generator type used everywhere.
pub type SimRng = Pcg64Mcg;

/// A sequential stream for one purpose (and, for per-group streams, one index).
pub fn stream(seed: u64, purpose: Stream, index: u64) -> SimRng {
    Pcg64Mcg::new(mix(seed, purpose, index, u64::MAX))
}

/// A generator keyed by (purpose, a, b): random access without storing anything per message.
pub fn keyed(seed: u64, purpose: Stream, a: u64, b: u64) -> SimRng {
    Pcg64Mcg::new(mix(seed, purpose, a, b))
}

/// A uniform draw in [0, 1) with 53 random bits (portable: no floating-point functions involved).
pub fn unit(rng: &mut impl RngCore) -> f64 {
    rng.random::<f64>()
}

/// Exponential with the given mean, by inversion.
pub fn exponential(rng: &mut impl RngCore, mean: f64) -> f64 {
    // 1 - U lies in (0, 1], so the logarithm is finite.
    -mean * libm::log(1.0 - unit(rng))
}

/// Standard normal by Box-Muller (one value per call; the second is discarded for simplicity).
pub fn standard_normal(rng: &mut impl RngCore) -> f64 {
    let u1 = 1.0 - unit(rng);
    let u2 = unit(rng);
    (-2.0 * libm::log(u1)).sqrt() * libm::cos(std::f64::consts::TAU * u2)
}

/// Log-normal parameterised by the mean and standard deviation of the value itself (not of its
/// logarithm), which is how people describe processing times.
pub fn lognormal(rng: &mut impl RngCore, mean: f64, stddev: f64) -> f64 {
    let sigma2 = libm::log1p((stddev / mean) * (stddev / mean));
    let mu = libm::log(mean) - sigma2 / 2.0;
    libm::exp(mu + sigma2.sqrt() * standard_normal(rng))
}

pub fn uniform(rng: &mut impl RngCore, min: f64, max: f64) -> f64 {
    if max <= min {
        return min;
    }
    Uniform::new(min, max).map(|u| u.sample(rng)).unwrap_or(min)
}

/// Uniform integer in [0, n).
pub fn below(rng: &mut impl RngCore, n: u64) -> u64 {
    if n <= 1 { 0 } else { rng.random_range(0..n) }
}

/// Zipf over ranks 1..=n with exponent s > 0, by rejection-inversion (Hörmann and Derflinger, 1996):
/// O(1) memory and expected O(1) time, whatever n.
#[derive(Clone, Debug)]
pub struct Zipf {
    n: f64,
    s: f64,
    h_integral_x1: f64,
    h_integral_n: f64,
    threshold: f64,
}

impl Zipf {
    pub fn new(n: u64, s: f64) -> Zipf {
        let n = n.max(1) as f64;
        let mut z = Zipf { n, s, h_integral_x1: 0.0, h_integral_n: 0.0, threshold: 0.0 };
        z.h_integral_x1 = z.h_integral(1.5) - 1.0;
        z.h_integral_n = z.h_integral(n + 0.5);
        z.threshold = 2.0 - z.h_integral_inverse(z.h_integral(2.5) - z.h(2.0));
        z
    }

    /// A rank in 1..=n; rank 1 is the most frequent.
    pub fn sample(&self, rng: &mut impl RngCore) -> u64 {
        loop {
            let u = self.h_integral_n + unit(rng) * (self.h_integral_x1 - self.h_integral_n);
            let x = self.h_integral_inverse(u);
            let k = (x + 0.5).floor().clamp(1.0, self.n);
            if k - x <= self.threshold || u >= self.h_integral(k + 0.5) - self.h(k) {
                return k as u64;
            }
        }
    }

    fn h(&self, x: f64) -> f64 {
        libm::exp(-self.s * libm::log(x))
    }
    fn h_integral(&self, x: f64) -> f64 {
        let log_x = libm::log(x);
        helper2((1.0 - self.s) * log_x) * log_x
    }
    fn h_integral_inverse(&self, x: f64) -> f64 {
        let t = (x * (1.0 - self.s)).max(-1.0);
        libm::exp(helper1(t) * x)
    }
}

/// log(1+x)/x, continuous at 0.
fn helper1(x: f64) -> f64 {
    if x.abs() > 1e-8 { libm::log1p(x) / x } else { 1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x)) }
}
/// (exp(x)-1)/x, continuous at 0.
fn helper2(x: f64) -> f64 {
    if x.abs() > 1e-8 { libm::expm1(x) / x } else { 1.0 + x * 0.5 * (1.0 + x / 3.0 * (1.0 + 0.25 * x)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| 0).scan(stream(42, Stream::Arrivals, 0), |r, _| Some(r.next_u64())).collect();
        let b: Vec<u64> = (0..4).map(|_| 0).scan(stream(42, Stream::Arrivals, 0), |r, _| Some(r.next_u64())).collect();
        let c: Vec<u64> = (0..4).map(|_| 0).scan(stream(42, Stream::Keys, 0), |r, _| Some(r.next_u64())).collect();
        let d: Vec<u64> = (0..4).map(|_| 0).scan(stream(43, Stream::Arrivals, 0), |r, _| Some(r.next_u64())).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }

    #[test]
    fn exponential_mean_within_confidence_interval() {
        // 200k draws of Exp(mean 2): standard error 2/sqrt(200k) = 0.00447; 5 sigma = 0.022.
        let mut r = stream(1, Stream::Processing, 0);
        let n = 200_000;
        let sum: f64 = (0..n).map(|_| exponential(&mut r, 2.0)).sum();
        assert!((sum / n as f64 - 2.0).abs() < 0.022, "mean {}", sum / n as f64);
    }

    #[test]
    fn lognormal_matches_requested_mean_and_stddev() {
        // mean 10, sd 5: standard error of the mean 5/sqrt(400k) = 0.0079; 5 sigma = 0.04.
        let mut r = stream(2, Stream::Processing, 0);
        let n = 400_000;
        let xs: Vec<f64> = (0..n).map(|_| lognormal(&mut r, 10.0, 5.0)).collect();
        let m = xs.iter().sum::<f64>() / n as f64;
        let sd = (xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n as f64).sqrt();
        assert!((m - 10.0).abs() < 0.04, "mean {m}");
        assert!((sd - 5.0).abs() < 0.1, "sd {sd}");
    }

    #[test]
    fn zipf_frequencies_follow_power_law() {
        // n = 10, s = 1.1: p_k = k^-1.1 / H. Check each rank's share within 5 standard errors.
        let (n, s) = (10u64, 1.1);
        let z = Zipf::new(n, s);
        let mut r = stream(3, Stream::Keys, 0);
        let draws = 200_000;
        let mut counts = [0u64; 11];
        for _ in 0..draws {
            counts[z.sample(&mut r) as usize] += 1;
        }
        let norm: f64 = (1..=n).map(|k| (k as f64).powf(-s)).sum();
        for (k, &count) in counts.iter().enumerate().skip(1) {
            let p = (k as f64).powf(-s) / norm;
            let se = (p * (1.0 - p) / draws as f64).sqrt();
            let got = count as f64 / draws as f64;
            assert!((got - p).abs() < 5.0 * se, "rank {k}: {got} vs {p}");
        }
        assert_eq!(counts[0], 0);
    }
}
