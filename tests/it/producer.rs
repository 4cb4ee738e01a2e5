//! The Kafka producer against hand-worked answers: the sender drains every partition of a ready
//! broker at once, and `batch.size` counts wire bytes.

use crate::common::*;
use pushpull::scenario::SystemKind;

/// Mean wait (publish to processing start) of a Kafka-only scenario whose consumer adds nothing:
/// processing takes no time and the network none, so the wait is the time the record spent in the
/// producer's accumulator.
fn producer_wait_ms(toml: &str) -> f64 {
    let s = scenario(toml);
    let rec = run_observed(&s, SystemKind::Kafka, &mut pushpull::history::VecHistory::default());
    let sum = rec.summarize(&["g".into()], pushpull::time::SimTime::ZERO);
    assert_eq!(sum.lost + sum.duplicates + sum.stranded, 0);
    sum.wait_ms.mean
}

/// 100 partitions, Poisson 1000/s, linger 5 ms, one broker. A drain empties every partition, so a
/// cycle is: the first record after a drain (1 ms away on average) waits the whole 5 ms linger,
/// and the 5 records expected during the linger wait 2.5 ms on average:
/// (5 + 5 x 2.5) / (1 + 5) = 2.917 ms. A per-partition linger would give about 4.9 ms.
/// Tolerance 3%: 10 minutes give 6 x 10^5 records in 10^5 cycles; the cycle mean has a relative
/// standard error well under 1%.
#[test]
fn sender_drains_every_partition_of_a_ready_broker() {
    let wait = producer_wait_ms(
        r#"
        duration = "10m"
        systems = ["kafka"]
        [workload]
        rate = 1000.0
        keys = { count = 100000, distribution = "uniform" }
        [[groups]]
        name = "g"
        processing = "0ms"
        [kafka]
        partitions = 100
        "#,
    );
    let theory = 17.5 / 6.0;
    assert!((wait - theory).abs() / theory < 0.03, "mean producer wait {wait} ms, theory {theory:.3} ms");
}

/// Constant 1000/s, 1 KiB values, linger 100 ms, batch.size 16384: a 1 KiB record is 1033 bytes on
/// the wire, so 61 + 15 x 1033 = 15,556 bytes fit and a 16th (16,589) does not. The 16th record
/// closes the batch and the sender sends it at once: the 15 records waited 15, 14, ..., 1 ms, a
/// mean of 8.0 ms. (Counting payload only, 16 would fit and the mean would be 8.5 ms.)
/// Tolerance 2%: arrivals are deterministic; only the last batch of the run, which waits for its
/// linger, differs (1 batch in 40,000).
#[test]
fn batch_size_counts_wire_bytes() {
    let wait = producer_wait_ms(
        r#"
        duration = "10m"
        systems = ["kafka"]
        [workload]
        rate = 1000.0
        arrivals = "constant"
        message_bytes = "1KiB"
        keys = "none"
        [[groups]]
        name = "g"
        processing = "0ms"
        [kafka]
        linger = "100ms"
        batch_size = 16384
        "#,
    );
    assert!((wait - 8.0).abs() / 8.0 < 0.02, "mean producer wait {wait} ms, expected 8.0 ms");
}
