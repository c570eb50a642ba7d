//! Which partition a key goes to: the Java client's default partitioner, so a record keyed by
//! an aggregate id lands on the same partition whoever produces it (Java, Go's Sarama with its
//! Java-compatible hasher, librdkafka's `murmur2_random`, or this crate).

/// Kafka's `Utils.murmur2`: MurmurHash2, 32-bit, seed `0x9747b28c`, as the Java client computes it.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len();
    let mut h: u32 = SEED ^ (length as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition of `key` among `partitions`: `toPositive(murmur2(key)) % partitions`, exactly
/// as the Java client's default partitioner does for a keyed record.
pub fn partition_for(key: &[u8], partitions: u32) -> u32 {
    assert!(partitions > 0, "a topic has at least one partition");
    let positive = (murmur2(key) as u32) & 0x7fff_ffff;
    positive % partitions
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectors of the Java client's own test (`UtilsTest.testMurmur2`).
    #[test]
    fn matches_the_java_client() {
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (key, expected) in cases {
            assert_eq!(murmur2(key), expected, "{}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn partitions_are_stable_and_in_range() {
        // toPositive(-973932308) % 8 = (0x7fffffff & -973932308) % 8.
        assert_eq!(
            partition_for(b"21", 8),
            ((-973_932_308_i32 as u32) & 0x7fff_ffff) % 8
        );
        for partitions in 1..=64 {
            for key in ["order-1", "SKU-1@BER-1", "", "ü"] {
                let p = partition_for(key.as_bytes(), partitions);
                assert!(p < partitions);
                assert_eq!(p, partition_for(key.as_bytes(), partitions));
            }
        }
    }
}
