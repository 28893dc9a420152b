//! MurmurHash3 x86 32-bit (seed 0), the hash Alluxio's ring uses
//! (Guava `murmur3_32_fixed`, docs/protocol.md §3.1).
//!
//! Streaming: `update(a); update(b)` equals hashing `a ‖ b`, which is how
//! Guava's `Hasher` feeds the identity, version and vnode index.

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

/// Incremental MurmurHash3 x86_32 hasher with seed 0.
#[derive(Debug, Clone, Default)]
pub struct Murmur3 {
    h: u32,
    tail: [u8; 4],
    tail_len: usize,
    total: usize,
}

#[inline]
fn mix_k(mut k: u32) -> u32 {
    k = k.wrapping_mul(C1);
    k = k.rotate_left(15);
    k.wrapping_mul(C2)
}

impl Murmur3 {
    /// A hasher with seed 0 and no input yet.
    pub fn new() -> Self {
        Self::default()
    }

    #[inline]
    fn block(&mut self, k: u32) {
        self.h ^= mix_k(k);
        self.h = self.h.rotate_left(13);
        self.h = self.h.wrapping_mul(5).wrapping_add(0xe654_6b64);
    }

    /// Feeds more bytes.
    pub fn update(&mut self, mut data: &[u8]) -> &mut Self {
        self.total += data.len();
        if self.tail_len > 0 {
            let need = 4 - self.tail_len;
            let take = need.min(data.len());
            self.tail[self.tail_len..self.tail_len + take].copy_from_slice(&data[..take]);
            self.tail_len += take;
            data = &data[take..];
            if self.tail_len < 4 {
                return self;
            }
            let k = u32::from_le_bytes(self.tail);
            self.block(k);
            self.tail_len = 0;
        }
        let mut chunks = data.chunks_exact(4);
        for c in &mut chunks {
            self.block(u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        }
        let rest = chunks.remainder();
        self.tail[..rest.len()].copy_from_slice(rest);
        self.tail_len = rest.len();
        self
    }

    /// Feeds a 32-bit int little-endian, as Guava's `putInt` does.
    pub fn update_i32(&mut self, v: i32) -> &mut Self {
        self.update(&v.to_le_bytes())
    }

    /// The hash as a signed 32-bit int (Guava `HashCode.asInt()`).
    pub fn finish(&self) -> i32 {
        let mut h = self.h;
        if self.tail_len > 0 {
            let mut k = 0u32;
            for i in (0..self.tail_len).rev() {
                k = (k << 8) | u32::from(self.tail[i]);
            }
            h ^= mix_k(k);
        }
        // Murmur3 mixes in the length modulo 2^32, as Guava does.
        #[allow(clippy::cast_possible_truncation)]
        {
            h ^= self.total as u32;
        }
        h ^= h >> 16;
        h = h.wrapping_mul(0x85eb_ca6b);
        h ^= h >> 13;
        h = h.wrapping_mul(0xc2b2_ae35);
        h ^= h >> 16;
        h as i32
    }
}

/// One-shot hash of `data` (seed 0, signed result).
pub fn murmur3_32(data: &[u8]) -> i32 {
    Murmur3::new().update(data).finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // docs/protocol.md §3.1 and Appendix A (Guava 31.1 murmur3_32_fixed).
        assert_eq!(murmur3_32(b""), 0);
        assert_eq!(murmur3_32(b"hello"), 613_153_351);
        assert_eq!(
            murmur3_32(b"The quick brown fox jumps over the lazy dog"),
            776_992_547
        );
    }

    #[test]
    fn vnode_and_key_vectors() {
        let w1 = hex::decode("ebad64149cc737baa6ef069819279fd5").unwrap();
        let h = Murmur3::new()
            .update(&w1)
            .update_i32(1)
            .update_i32(0)
            .finish();
        assert_eq!(h, 1_582_892_386);
        let golden = hex::decode("b785d1f098863821a4eb6bee226c35b7").unwrap();
        let h = Murmur3::new()
            .update(&golden)
            .update_i32(1)
            .update_i32(0)
            .finish();
        assert_eq!(h, -650_059_480);
        let h = Murmur3::new()
            .update(b"s3://bucket/file")
            .update_i32(1)
            .finish();
        assert_eq!(h, 38_139_465);
    }

    #[test]
    fn streaming_equals_one_shot() {
        let data: Vec<u8> = (0u8..=200).collect();
        for split in 0..data.len() {
            for split2 in split..data.len().min(split + 7) {
                let mut m = Murmur3::new();
                m.update(&data[..split]);
                m.update(&data[split..split2]);
                m.update(&data[split2..]);
                assert_eq!(m.finish(), murmur3_32(&data), "split {split}/{split2}");
            }
        }
    }
}
