//! Ideal profile against exact queueing theory. Each test simulates 10^6 to 4x10^6 messages and
//! compares the mean wait with the formula using a batch-means confidence interval (20 batches,
//! Student t at 99.9%); it also requires that interval to be narrower than 3% of the answer, so a
//! pass means "within a few percent", not "too noisy to tell".

use crate::common::*;
use pushpull::models::kafka::partitioner::partition_for_key;
use pushpull::scenario::SystemKind;
use pushpull::time::SimTime;

struct Check {
    name: &'static str,
    theory: f64,
    mean: f64,
    se: f64,
}

impl Check {
    fn assert(&self) {
        let err = (self.mean - self.theory) / self.theory;
        eprintln!(
            "{}: simulated {:.6} s, theory {:.6} s, error {:+.2}%, 99.9% CI half-width {:.2}%",
            self.name,
            self.mean,
            self.theory,
            err * 100.0,
            T19_999 * self.se / self.theory * 100.0
        );
        assert!(T19_999 * self.se / self.theory < 0.03, "{}: confidence interval too wide to judge", self.name);
        assert!(
            (self.mean - self.theory).abs() <= T19_999 * self.se,
            "{}: simulated mean wait {} differs from theory {} by more than the 99.9% CI ({})",
            self.name,
            self.mean,
            self.theory,
            T19_999 * self.se
        );
    }
}

fn measure(toml: &str, sys: SystemKind, expected: u64) -> (f64, f64) {
    let s = scenario(toml);
    let mut bm = BatchMeans::new(SimTime(s.warmup.0), expected, BATCHES);
    let rec = run_observed(&s, sys, &mut bm);
    let sum = rec.summarize(&["g".into()], SimTime::ZERO);
    assert_eq!(sum.lost + sum.duplicates + sum.stranded, 0);
    bm.estimate()
}

#[test]
fn erlang_c_worked_by_hand() {
    // c = 5, a = 4: Erlang B by recursion 0.8, 0.6154, 0.4507, 0.3107, 0.1991; C = 0.1991 / (0.2 + 0.8 * 0.1991).
    assert!((erlang_c(5, 4.0) - 0.5541).abs() < 1e-4);
    // c = 1 reduces to rho.
    assert!((erlang_c(1, 0.7) - 0.7).abs() < 1e-12);
}

/// RabbitMQ-style, prefetch 1, manual ack, c consumers on one queue: the queue is M/M/c.
#[test]
fn rabbitmq_prefetch_1_is_erlang_c() {
    let (c, mu, rho) = (4u32, 100.0, 0.7);
    let lambda = rho * c as f64 * mu;
    // Waits in M/M/c at rho = 0.7 are strongly autocorrelated: 4x10^6 messages give a 99.9% CI of
    // about 2.5% (10^6 gave 5%).
    let n = 4_000_000u64;
    let toml = format!(
        r#"
        seed = 11
        duration = "{d}s"
        warmup = "20s"
        systems = ["rabbitmq"]
        [workload]
        rate = {lambda}
        [[groups]]
        name = "g"
        consumers = {c}
        processing = {{ distribution = "exponential", mean = "10ms" }}
        [rabbitmq]
        prefetch = 1
        "#,
        d = (n as f64 / lambda).round()
    );
    let (mean, se) = measure(&toml, SystemKind::RabbitMq, n);
    let theory = erlang_c(c, lambda / mu) / (c as f64 * mu - lambda);
    Check { name: "M/M/4 rabbitmq prefetch=1", theory, mean, se }.assert();
}

/// Kafka-style, c partitions, c consumers, uniform keys, no linger: each partition is an
/// independent M/M/1 queue fed by the share of keys that hash to it.
#[test]
fn kafka_partitions_are_independent_mm1() {
    let (p, mu, rho, keys) = (4u32, 100.0, 0.7, 100_000u64);
    let lambda = rho * p as f64 * mu;
    // 10^6 messages gave a 99.9% CI of 3.4%; 4x10^6 give about 1.7%.
    let n = 4_000_000u64;
    let toml = format!(
        r#"
        seed = 12
        duration = "{d}s"
        warmup = "20s"
        systems = ["kafka"]
        [workload]
        rate = {lambda}
        keys = {{ count = {keys}, distribution = "uniform" }}
        [[groups]]
        name = "g"
        consumers = {p}
        processing = {{ distribution = "exponential", mean = "10ms" }}
        [kafka]
        partitions = {p}
        linger = "0ms"
        "#,
        d = (n as f64 / lambda).round()
    );
    let (mean, se) = measure(&toml, SystemKind::Kafka, n);
    // Share of the key space owned by each partition (murmur2 of the key's decimal string).
    let mut share = vec![0u64; p as usize];
    for k in 0..keys {
        share[partition_for_key(k, p) as usize] += 1;
    }
    let theory: f64 = share
        .iter()
        .map(|&n_i| {
            let w = n_i as f64 / keys as f64;
            let l = lambda * w;
            w * l / (mu * (mu - l)) // M/M/1: Wq = lambda / (mu (mu - lambda))
        })
        .sum();
    Check { name: "4 x M/M/1 kafka partitions", theory, mean, se }.assert();
}

/// One consumer with constant processing: M/D/1, Pollaczek-Khinchine Wq = rho / (2 mu (1 - rho)).
#[test]
fn one_consumer_constant_service_is_md1_for_both() {
    let (mu, rho) = (100.0, 0.7);
    let lambda = rho * mu;
    let n = 1_000_000u64;
    let toml = format!(
        r#"
        seed = 13
        duration = "{d}s"
        warmup = "20s"
        [workload]
        rate = {lambda}
        [[groups]]
        name = "g"
        consumers = 1
        processing = {{ distribution = "constant", value = "10ms" }}
        [kafka]
        linger = "0ms"
        [rabbitmq]
        prefetch = 1
        "#,
        d = (n as f64 / lambda).round()
    );
    let theory = rho / (2.0 * mu * (1.0 - rho));
    for sys in [SystemKind::Kafka, SystemKind::RabbitMq] {
        let (mean, se) = measure(&toml, sys, n);
        Check { name: if sys == SystemKind::Kafka { "M/D/1 kafka" } else { "M/D/1 rabbitmq" }, theory, mean, se }
            .assert();
    }
}

/// The network model, checked exactly: one RabbitMQ consumer with prefetch 1 and a one-way latency
/// L. Its slot is busy from dispatch to the ack's arrival, B = L + S + L, so the broker's queue is
/// M/G/1 with that service time (Pollaczek-Khinchine: Wq = lambda E[B^2] / (2 (1 - lambda E[B]))),
/// and the measured wait (publish -> processing start) adds the publish and delivery hops, 2L.
#[test]
fn rabbitmq_with_network_latency_is_mg1() {
    let (lambda, mean_s, l) = (50.0, 0.010, 0.001);
    let n = 1_000_000u64;
    let toml = format!(
        r#"
        seed = 14
        duration = "{d}s"
        warmup = "20s"
        systems = ["rabbitmq"]
        [workload]
        rate = {lambda}
        [[groups]]
        name = "g"
        processing = {{ distribution = "exponential", mean = "10ms" }}
        [rabbitmq]
        prefetch = 1
        [network]
        latency = "1ms"
        "#,
        d = (n as f64 / lambda).round()
    );
    let (mean, se) = measure(&toml, SystemKind::RabbitMq, n);
    let eb = mean_s + 2.0 * l;
    let eb2 = mean_s * mean_s + eb * eb; // Var(S) + E[B]^2
    let theory = lambda * eb2 / (2.0 * (1.0 - lambda * eb)) + 2.0 * l;
    Check { name: "M/G/1 rabbitmq prefetch=1, 1 ms one-way latency", theory, mean, se }.assert();
}
