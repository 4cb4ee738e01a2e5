//! Which partition a record goes to, as Kafka's producer decides it:
//! * keyed records: `toPositive(murmur2(keyBytes)) % numPartitions` (the default partitioner);
//! * null keys: the built-in "uniform sticky" partitioner (KIP-794, Kafka 3.3+) sticks to one
//!   partition until `batch.size` bytes went to it, then switches to a random one.

use crate::engine::rng::{self, SimRng, Stream};

/// Kafka's `Utils.murmur2` (MurmurHash2, seed 0x9747b28c), bit for bit.
pub fn murmur2(data: &[u8]) -> i32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = 0x9747_b28c ^ len as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= (tail[2] as u32) << 16;
    }
    if tail.len() >= 2 {
        h ^= (tail[1] as u32) << 8;
    }
    if !tail.is_empty() {
        h ^= tail[0] as u32;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The bytes of key number `k`: its decimal digits, as a producer with a String serializer sends
/// `String.valueOf(k)`.
pub fn key_bytes(k: u64, buf: &mut [u8; 20]) -> &[u8] {
    // Two digits a step (one division by 100 instead of two by 10): this runs for every keyed
    // record.
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let mut i = buf.len();
    let mut v = k;
    while v >= 100 {
        let d = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[d..d + 2]);
    }
    if v >= 10 {
        let d = v as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[d..d + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + v as u8;
    }
    &buf[i..]
}

/// The length of [`key_bytes`]: the number of decimal digits of `k`.
pub fn key_len(k: u64) -> u64 {
    u64::from(k.checked_ilog10().unwrap_or(0)) + 1
}

/// The partition of key number `k` among `partitions`.
pub fn partition_for_key(k: u64, partitions: u32) -> u32 {
    let mut buf = [0u8; 20];
    let h = murmur2(key_bytes(k, &mut buf));
    ((h & 0x7fff_ffff) as u32) % partitions
}

/// The uniform sticky partitioner for null keys (Kafka's `BuiltInPartitioner`, KIP-794). It counts
/// the bytes appended to the current partition (batch headers included) and switches to a random
/// partition once they reach `batch.size` and the partition's batches are all full, or at the
/// latest at 2 x `batch.size`: switching only at a batch boundary avoids fractional batches.
/// (Kafka's adaptive weighting by queue size is not modelled: with equal queues it is uniform.)
pub struct StickyPartitioner {
    rng: SimRng,
    partitions: u32,
    current: u32,
    produced_bytes: u64,
    batch_size: u64,
}

impl StickyPartitioner {
    pub fn new(seed: u64, partitions: u32, batch_size: u64) -> Self {
        Self::of_producer(seed, 0, partitions, batch_size)
    }

    /// The partitioner of producer `producer` (`[workload] producers`): each draws from its own
    /// stream, the first from the one a single producer always had.
    pub fn of_producer(seed: u64, producer: u32, partitions: u32, batch_size: u64) -> Self {
        let mut rng = rng::stream(seed, Stream::Partitioner, u64::from(producer));
        let current = rng::below(&mut rng, partitions as u64) as u32;
        StickyPartitioner { rng, partitions, current, produced_bytes: 0, batch_size: batch_size.max(1) }
    }

    /// The partition the next null-key record goes to.
    pub fn current(&self) -> u32 {
        self.current
    }

    /// `updatePartitionInfo`: `appended` bytes went to the current partition; `all_batches_full`
    /// says whether its last batch is closed (or it has none).
    pub fn appended(&mut self, appended: u64, all_batches_full: bool) {
        self.produced_bytes += appended;
        if self.produced_bytes >= self.batch_size && all_batches_full || self.produced_bytes >= 2 * self.batch_size {
            self.current = rng::below(&mut self.rng, self.partitions as u64) as u32;
            self.produced_bytes = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafka_test_vectors() {
        // From Kafka's UtilsTest.testMurmur2.
        assert_eq!(murmur2(b"21"), -973932308);
        assert_eq!(murmur2(b"foobar"), -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string"), -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string"), -1486304829);
        assert_eq!(murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
        assert_eq!(murmur2(b"abc"), 479470107);
    }

    #[test]
    fn key_bytes_are_decimal() {
        let mut b = [0u8; 20];
        assert_eq!(key_bytes(0, &mut b), b"0");
        assert_eq!(key_bytes(1234567, &mut b), b"1234567");
        assert_eq!(key_bytes(u64::MAX, &mut b), b"18446744073709551615");
        for k in [0, 9, 10, 99, 100, 1234567, 10u64.pow(19) - 1, 10u64.pow(19), u64::MAX] {
            assert_eq!(key_len(k), key_bytes(k, &mut b).len() as u64, "key {k}");
        }
        for k in (0..100_000).chain([10u64.pow(19) - 1, 10u64.pow(19), u64::MAX - 1]) {
            assert_eq!(key_bytes(k, &mut b), k.to_string().as_bytes(), "key {k}");
        }
    }

    #[test]
    fn sticky_switches_at_a_full_batch_or_twice_batch_size() {
        let mut p = StickyPartitioner::new(7, 1000, 100);
        let first = p.current();
        p.appended(99, true);
        assert_eq!(p.current(), first, "under batch.size");
        p.appended(50, false);
        assert_eq!(p.current(), first, "over batch.size but the open batch is not full: stay");
        p.appended(51, false);
        assert_eq!(p.produced_bytes, 0, "2 x batch.size reached: switch even with an open batch");
        p.appended(100, true);
        assert_eq!(p.produced_bytes, 0, "batch.size reached with every batch full: switch");
    }
}
