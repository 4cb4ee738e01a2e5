//! Kafka's producer compression (`kafka.compression_type`, `workload.compression_ratio`): what it
//! puts on the wire and on disk, what it does to a network-bound ceiling, and the refusals.

use super::common::{bin, scenario, tmpdir_in, write};
use pushpull::run::run_one;
use pushpull::scenario::SystemKind;

/// One producer, one partition, 1 KiB values with null keys: a record is 1,033 bytes framed
/// (`record_wire_bytes(0, 0, None, 1024)`, `producer.rs`).
fn one_partition(extra: &str) -> String {
    format!(
        r#"
duration = "2s"
systems = ["kafka"]
[workload]
rate = 1000.0
arrivals = "constant"
message_bytes = "1KiB"
[[groups]]
name = "g"
processing = {{ distribution = "constant", value = "10us" }}
[kafka]
{extra}
"#
    )
}

/// `linger.ms = 0` at 1,000 msg/s on a costless network: every batch leaves with its one record,
/// which is its batch's first and so stays whole. By hand: the batch is the 61-byte header, lz4's
/// 15-byte frame and the 1,033-byte record, 1,109 bytes for 1,033: a ratio of 0.9315, worse than
/// none. With `linger.ms = 100` the 16 KiB `batch.size` ends a batch first, counted on the estimated
/// compressed size: 15 records while the estimate is 1.0 (15 x 1,033 x 1.05 + 61 = 16,330), and
/// more as it improves by 0.005 a batch, toward 30 after the run's hundred batches. Each record past
/// the first costs lz4's rate, 1.474 / 3.1 of its 1,033 bytes (491.2): 15 records compress
/// 15,495 / (1,109 + 14 x 491.2) = 1.94 times, 30 records 2.02. The broker stores the batches as
/// sent, so the log's peak size is the compressed bytes exactly.
#[test]
fn a_lone_record_does_not_compress_and_lingering_batches_do() {
    let s = scenario(&one_partition("linger = \"0ms\"\ncompression_type = \"lz4\""));
    let sum = run_one(&s, SystemKind::Kafka, None).summary(&s);
    let c = sum.compression.clone().expect("compression figures");
    assert_eq!(c.codec, "lz4");
    let n = sum.published;
    assert!(n > 1900, "{n}");
    assert_eq!(c.batches, n, "one batch per record");
    assert_eq!((c.uncompressed_bytes, c.compressed_bytes), (n * 1033, n * 1109));
    assert_eq!(c.ratio, 0.9315);
    assert_eq!(sum.peak_stored_bytes, c.compressed_bytes, "the log holds the batches as sent");

    let s = scenario(&one_partition("linger = \"100ms\"\ncompression_type = \"lz4\""));
    let sum = run_one(&s, SystemKind::Kafka, None).summary(&s);
    let c = sum.compression.clone().expect("compression figures");
    assert!(c.records_per_batch > 15.0 && c.records_per_batch < 31.0, "{c:?}");
    assert!(c.ratio > 1.93 && c.ratio < 2.03, "{c:?}");
    assert_eq!(sum.peak_stored_bytes, c.compressed_bytes);
    assert_eq!(sum.processed, sum.published, "everything is delivered");

    // Without compression, nothing changes and nothing is reported.
    let s = scenario(&one_partition("linger = \"100ms\""));
    let sum = run_one(&s, SystemKind::Kafka, None).summary(&s);
    assert!(sum.compression.is_none());
    assert_eq!(sum.peak_stored_bytes, sum.published * 1024, "stored as the values");
}

/// A producer host on 1 GbE (125,000,000 bytes/s) offered 300k msg/s of 1 KiB: its card is the
/// ceiling. By hand, without compression each record takes 1,033 bytes in a batch of 15 (16 KiB)
/// plus a 61-byte header per batch and a 64-byte request header per request of up to 4 batches
/// (12 partitions, 3 brokers): about 1,033 + 61/15 + 64/60 = 1,038 bytes, 120.4k records/s. With
/// lz4 each record takes its share of a compressed batch, `compressed_bytes / records`, and the
/// ceiling rises by the ratio of the two sizes (about 2). Tolerance 3%: the warmup and the end of the run
/// catch the pipeline filling and draining.
#[test]
fn on_a_network_bound_producer_compression_raises_the_ceiling_by_its_ratio() {
    let text = |codec: &str| {
        format!(
            r#"
duration = "2s"
warmup = "500ms"
drain = "1s"
profile = "omb-2020"
systems = ["kafka"]
[cluster]
brokers = 3
nic = "1Gbps"
[workload]
rate = 300000.0
message_bytes = "1KiB"
[[groups]]
name = "g"
consumers = 12
processing = {{ distribution = "constant", value = "1us" }}
[kafka]
partitions = 12
linger = "10ms"
compression_type = "{codec}"
"#
        )
    };
    let nic = 125_000_000.0;
    let s = scenario(&text("none"));
    let none = run_one(&s, SystemKind::Kafka, None).summary(&s);
    let expected_none = nic / (1033.0 + 61.0 / 15.0 + 64.0 / 60.0);
    assert!(
        (none.throughput_per_s / expected_none - 1.0).abs() < 0.03,
        "none: {} msg/s, expected {expected_none:.0}",
        none.throughput_per_s
    );
    let s = scenario(&text("lz4"));
    let lz4 = run_one(&s, SystemKind::Kafka, None).summary(&s);
    let c = lz4.compression.clone().expect("compression figures");
    // Each record's share of its compressed batch, and of a request of 4 such batches.
    let per_record = c.compressed_bytes as f64 / (c.records_per_batch * c.batches as f64);
    let expected_lz4 = nic / (per_record + 64.0 / (4.0 * c.records_per_batch));
    assert!(
        (lz4.throughput_per_s / expected_lz4 - 1.0).abs() < 0.03,
        "lz4: {} msg/s, expected {expected_lz4:.0} ({c:?})",
        lz4.throughput_per_s
    );
    // lz4's ratio on this payload, 3.1 / 1.474 = 2.10 over a large batch, a little less in 16 KiB.
    assert!(c.ratio > 1.9 && c.ratio < 2.11, "{c:?}");
    let bottleneck = &lz4.utilisation.as_ref().unwrap().bottleneck;
    assert!(bottleneck.starts_with("network out of producer host"), "{bottleneck}");
}

/// gzip compresses at 20 MB/s (50 ns a byte) on the producer's one sending thread: that thread, not
/// the card, caps the producer at 1 / (1,033 x 50 ns) = 19.4k records/s. Offered 50k/s, the thread
/// is busy from the first record to the end of the run (3 s), so the producer gets about 3 x 19.4k
/// records acknowledged. Tolerance 3%: the thread's work is varied exponentially around its mean (as
/// every CPU piece under a calibrated profile), 0.4% over ~58k records, and the last requests are
/// still on their way when the run ends.
#[test]
fn gzip_on_one_producer_thread_is_capped_by_its_cpu() {
    let s = scenario(
        r#"
duration = "2s"
drain = "1s"
profile = "omb-2020"
systems = ["kafka"]
[workload]
rate = 50000.0
message_bytes = "1KiB"
[[groups]]
name = "g"
consumers = 4
processing = { distribution = "constant", value = "1us" }
[kafka]
partitions = 4
compression_type = "gzip"
"#,
    );
    let run = run_one(&s, SystemKind::Kafka, None);
    let expected = 3.0 * 1e9 / (1033.0 * 50.0);
    let acknowledged = run.delivery.acknowledged as f64;
    assert!((acknowledged / expected - 1.0).abs() < 0.03, "{acknowledged} acknowledged, expected {expected:.0}");
    let sum = run.summary(&s);
    let u = sum.utilisation.as_ref().unwrap();
    assert!(u.bottleneck.starts_with("one sending thread on producer host"), "{}", u.bottleneck);
}

#[test]
fn bad_compression_settings_are_refused_naming_the_field() {
    let err = |extra_kafka: &str, workload: &str, profile: &str| {
        let text = format!(
            "duration = \"1s\"\n{profile}\n[workload]\nrate = 10.0\n{workload}\n[[groups]]\nname = \"g\"\n[kafka]\n{extra_kafka}\n"
        );
        pushpull::plan::parse(&text, "bad.toml", false).expect_err("refused").to_string()
    };
    let e = err("compression_type = \"brotli\"", "", "");
    assert!(e.contains("kafka.compression_type") && e.contains("brotli") && e.contains("zstd"), "{e}");
    let e = err("compression_type = \"lz4\"", "compression_ratio = 0.5", "");
    assert!(e.contains("workload.compression_ratio") && e.contains("0.5"), "{e}");
    let e = err("compression_type = \"zstd\"", "", "profile = \"kreps-2014\"");
    assert!(e.contains("kafka.compression_type") && e.contains("kreps-2014") && e.contains("omb-2020"), "{e}");
}

/// `--set kafka.compression_type=lz4` reaches the model through the CLI, and the run's summary says
/// so; a bad value names `--set`.
#[test]
fn compression_type_can_be_set_on_the_command_line() {
    let dir = tmpdir_in("compression", "set");
    let file = write(&dir, "c.toml", one_partition("linger = \"50ms\""));
    let out = dir.join("out");
    let status = bin()
        .args(["run", file.to_str().unwrap(), "--set", "kafka.compression_type=lz4", "--out"])
        .arg(&out)
        .args(["--quiet", "--no-charts"])
        .status()
        .unwrap();
    assert!(status.success());
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["systems"]["kafka"]["compression"]["codec"], "lz4");
    let bad =
        bin().args(["validate", file.to_str().unwrap(), "--set", "kafka.compression_type=lzma"]).output().unwrap();
    let text = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && text.contains("--set") && text.contains("lzma"), "{text}");
}
