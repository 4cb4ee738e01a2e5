//! Kafka's producer compression (`compression.type`) and what each codec does to a payload: the
//! data behind the model (`docs/compression.md` says where each figure comes from).
//!
//! Every codec's figures come from one table measured on one machine, so that they compare: lzbench
//! 1.7.1 on one core of an Intel Core i5-4300U over the Silesia corpus (the lzbench README). Kafka's
//! Java codecs are the same C libraries behind JNI (zstd-jni, snappy-java, lz4-java) or zlib behind
//! `java.util.zip`, at Kafka's default levels (KIP-390): gzip 6 (`Deflater.DEFAULT_COMPRESSION`),
//! lz4 9 (which Kafka runs with lz4's fast compressor), zstd 3; snappy has no levels.

/// Producer `compression.type`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// The real default: batches travel and are stored as written.
    #[default]
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

/// What one codec does: its output size next to zstd's, its frame, and its speed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodecFigures {
    /// Compressed size relative to zstd level 3's on the same input, in thousandths (Silesia:
    /// the codec's compressed size / zstd 3's).
    pub size_vs_zstd_milli: u64,
    /// Bytes the codec's stream adds to a batch (header, trailer, block lengths).
    pub frame_bytes: u64,
    /// CPU to compress one input byte, picoseconds (1 / compression speed).
    pub compress_ps: u64,
    /// CPU to decompress into one output byte, picoseconds (1 / decompression speed).
    pub decompress_ps: u64,
}

impl Codec {
    pub const ALL: [Codec; 5] = [Codec::None, Codec::Gzip, Codec::Snappy, Codec::Lz4, Codec::Zstd];

    pub fn name(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Gzip => "gzip",
            Codec::Snappy => "snappy",
            Codec::Lz4 => "lz4",
            Codec::Zstd => "zstd",
        }
    }

    pub fn is_none(&self) -> bool {
        *self == Codec::None
    }

    /// The codec's figures; `None` for no compression.
    pub fn figures(self) -> Option<CodecFigures> {
        // lzbench 1.7.1, i5-4300U, silesia.tar (211,947,520 bytes): compressed size, compression
        // and decompression speed in MB/s. zstd level 3 is not in the table: it is interpolated
        // between its -2 row (33.10%, 185, 587) and -5 row (30.67%, 88, 553), a third of the way.
        const ZSTD3_SIZE: u64 = 32_290; // % x 1000
        let f = |size: u64, frame, compress_mb_s: u64, decompress_mb_s: u64| CodecFigures {
            size_vs_zstd_milli: size * 1000 / ZSTD3_SIZE,
            frame_bytes: frame,
            compress_ps: 1_000_000 / compress_mb_s,
            decompress_ps: 1_000_000 / decompress_mb_s,
        };
        match self {
            Codec::None => None,
            // zlib 1.2.11 -6: 32.19%, 20 MB/s, 267 MB/s. Frame: the gzip header (10) and trailer
            // (CRC-32 and length, 8).
            Codec::Gzip => Some(f(32_190, 18, 20, 267)),
            // snappy 1.1.4: 48.19%, 327 MB/s, 1075 MB/s. Frame: snappy-java's stream header (16)
            // and each block's two lengths (8).
            Codec::Snappy => Some(f(48_190, 24, 327, 1075)),
            // lz4 1.7.5: 47.60%, 452 MB/s, 2244 MB/s. Frame: Kafka's LZ4 frame (magic 4, FLG/BD 2,
            // header checksum 1, block length 4, end mark 4).
            Codec::Lz4 => Some(f(47_600, 15, 452, 2244)),
            // zstd 3 (interpolated): 32.29%, 153 MB/s, 576 MB/s. Frame: magic 4, frame header 2-6,
            // block header 3.
            Codec::Zstd => Some(f(ZSTD3_SIZE, 12, 153, 576)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zstd_is_the_reference_and_the_fast_codecs_are_half_again_larger() {
        assert_eq!(Codec::Zstd.figures().unwrap().size_vs_zstd_milli, 1000);
        // Silesia: lz4 47.60% / 32.29% = 1.474; snappy 48.19% / 32.29% = 1.492; gzip 0.997.
        assert_eq!(Codec::Lz4.figures().unwrap().size_vs_zstd_milli, 1474);
        assert_eq!(Codec::Snappy.figures().unwrap().size_vs_zstd_milli, 1492);
        assert_eq!(Codec::Gzip.figures().unwrap().size_vs_zstd_milli, 996);
        // gzip at 20 MB/s: 50 ns a byte; lz4's decompression at 2244 MB/s: 445 ps.
        assert_eq!(Codec::Gzip.figures().unwrap().compress_ps, 50_000);
        assert_eq!(Codec::Lz4.figures().unwrap().decompress_ps, 445);
        assert!(Codec::None.figures().is_none());
    }
}
