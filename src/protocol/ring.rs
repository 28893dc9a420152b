//! Alluxio's consistent-hash ring (`ConsistentHashProvider`, docs/protocol.md §3):
//! pure, immutable, no I/O. Rebuilt whole on membership change and swapped in
//! atomically by the membership layer.

use std::collections::HashMap;

use crate::protocol::identity::WorkerIdentity;
use crate::protocol::murmur3::Murmur3;
use crate::protocol::worker_info::WorkerInfo;

/// Attempts `get_multiple` makes before giving up (Java and alluxiofs: 100).
pub const MAX_ATTEMPTS: i32 = 100;

/// An immutable ring of virtual nodes.
#[derive(Debug, Clone, Default)]
pub struct Ring {
    /// `(position, index into workers)`, sorted by signed position.
    /// Invariant: positions are unique.
    nodes: Vec<(i32, u32)>,
    /// Distinct workers (by identity) in the order first given.
    workers: Vec<WorkerInfo>,
    virtual_nodes: u32,
}

/// Position of virtual node `index` of `id`:
/// `murmur3(identifier ‖ LE32(version) ‖ LE32(index))`.
pub fn vnode_position(id: &WorkerIdentity, index: u32) -> i32 {
    Murmur3::new()
        .update(id.identifier())
        .update_i32(id.version())
        .update(&index.to_le_bytes())
        .finish()
}

/// Key hash for an attempt (attempts start at 1): `murmur3(UTF8(key) ‖ LE32(attempt))`.
pub fn key_hash(key: &str, attempt: i32) -> i32 {
    Murmur3::new()
        .update(key.as_bytes())
        .update_i32(attempt)
        .finish()
}

impl Ring {
    /// Builds the ring. Workers with the same identity collapse into one (the
    /// last address given wins); on a position collision the later worker wins,
    /// as with Java's `TreeMap.put`.
    pub fn new(workers: impl IntoIterator<Item = WorkerInfo>, virtual_nodes: u32) -> Self {
        let mut distinct: Vec<WorkerInfo> = Vec::new();
        let mut seen: HashMap<WorkerIdentity, usize> = HashMap::new();
        for w in workers {
            if let Some(&i) = seen.get(&w.identity) {
                distinct[i] = w;
            } else {
                seen.insert(w.identity.clone(), distinct.len());
                distinct.push(w);
            }
        }
        let mut nodes = Vec::with_capacity(distinct.len() * virtual_nodes as usize);
        for (i, w) in distinct.iter().enumerate() {
            let idx = u32::try_from(i).expect("fewer than 2^32 workers");
            for v in 0..virtual_nodes {
                nodes.push((vnode_position(&w.identity, v), idx));
            }
        }
        // Stable sort keeps insertion order among equal positions; keep the last.
        nodes.sort_by_key(|&(p, _)| p);
        let mut dedup: Vec<(i32, u32)> = Vec::with_capacity(nodes.len());
        for n in nodes {
            match dedup.last_mut() {
                Some(last) if last.0 == n.0 => *last = n,
                _ => dedup.push(n),
            }
        }
        Self {
            nodes: dedup,
            workers: distinct,
            virtual_nodes,
        }
    }

    /// Whether the ring has no worker.
    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }

    /// Distinct workers, in the order first given.
    pub fn workers(&self) -> &[WorkerInfo] {
        &self.workers
    }

    /// Virtual nodes per worker this ring was built with.
    pub fn virtual_nodes(&self) -> u32 {
        self.virtual_nodes
    }

    /// `(position, worker)` in ring order.
    pub fn nodes(&self) -> impl Iterator<Item = (i32, &WorkerInfo)> + '_ {
        self.nodes
            .iter()
            .map(|&(p, i)| (p, &self.workers[i as usize]))
    }

    /// Index of the worker owning hash `h`: the first node at a position
    /// `>= h` (Java `ceilingEntry`), wrapping to the smallest.
    fn owner_index(&self, h: i32) -> u32 {
        let at = self.nodes.partition_point(|&(p, _)| p < h);
        self.nodes[if at == self.nodes.len() { 0 } else { at }].1
    }

    /// Up to `n` distinct workers for `key`, in ring (discovery) order, trying
    /// at most [`MAX_ATTEMPTS`] key hashes. The key is used verbatim.
    pub fn get_multiple(&self, key: &str, n: usize) -> Vec<&WorkerInfo> {
        let want = n.min(self.workers.len());
        let mut found: Vec<u32> = Vec::with_capacity(want);
        let mut attempt = 0;
        while found.len() < want && attempt < MAX_ATTEMPTS {
            attempt += 1;
            let idx = self.owner_index(key_hash(key, attempt));
            if !found.contains(&idx) {
                found.push(idx);
            }
        }
        found.iter().map(|&i| &self.workers[i as usize]).collect()
    }

    /// The worker owning `key`, if the ring has any.
    pub fn owner(&self, key: &str) -> Option<&WorkerInfo> {
        if self.nodes.is_empty() {
            return None;
        }
        Some(&self.workers[self.owner_index(key_hash(key, 1)) as usize])
    }

    /// Fraction of the 2^32 hash space each worker owns, in `workers()` order.
    pub fn shares(&self) -> Vec<f64> {
        let mut owned = vec![0u64; self.workers.len()];
        let n = self.nodes.len();
        for (k, &(pos, idx)) in self.nodes.iter().enumerate() {
            // A node owns the hashes in (previous position, its position].
            let prev = if k == 0 {
                self.nodes[n - 1].0
            } else {
                self.nodes[k - 1].0
            };
            let span = (i64::from(pos) - i64::from(prev)).rem_euclid(1 << 32);
            owned[idx as usize] += if n == 1 { 1 << 32 } else { span as u64 };
        }
        owned
            .into_iter()
            .map(|o| o as f64 / 4_294_967_296.0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::worker_info::WorkerNetAddress;

    fn static_worker(name: &str) -> WorkerInfo {
        WorkerInfo {
            identity: WorkerIdentity::from_hostname(name),
            address: WorkerNetAddress::with_http(name, 28080),
        }
    }

    fn three() -> Ring {
        Ring::new(["worker1", "worker2", "worker3"].map(static_worker), 5)
    }

    #[test]
    fn worked_example_ring() {
        // docs/protocol.md §3.5.
        let want = [
            (-1_273_487_460, "worker3"),
            (-1_025_292_451, "worker2"),
            (-680_699_647, "worker1"),
            (-668_249_240, "worker3"),
            (-36_601_180, "worker2"),
            (138_868_292, "worker1"),
            (327_488_655, "worker2"),
            (657_120_561, "worker1"),
            (739_076_151, "worker2"),
            (741_530_990, "worker1"),
            (1_371_558_004, "worker3"),
            (1_407_540_905, "worker3"),
            (1_582_892_386, "worker1"),
            (1_842_680_983, "worker3"),
            (1_946_073_326, "worker2"),
        ];
        let ring = three();
        let got: Vec<(i32, &str)> = ring
            .nodes()
            .map(|(p, w)| (p, w.address.host.as_str()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn worked_example_lookups() {
        let ring = three();
        let hosts = |k: &str, n| -> Vec<String> {
            ring.get_multiple(k, n)
                .iter()
                .map(|w| w.address.host.clone())
                .collect()
        };
        assert_eq!(key_hash("s3://bucket/file", 2), -1_749_754_584);
        assert_eq!(hosts("s3://bucket/file", 2), ["worker1", "worker3"]);
        assert_eq!(hosts("s3://bucket/path/to/file", 2), ["worker3", "worker2"]);
        assert_eq!(hosts("s3://bucket/path/to/file", 10).len(), 3);
        assert_eq!(
            ring.owner("s3://bucket/file").unwrap().address.host,
            "worker1"
        );
    }

    #[test]
    fn ceiling_is_inclusive_and_wraps() {
        let ring = three();
        assert_eq!(
            ring.owner_index(-1_273_487_460),
            ring.owner_index(-1_273_487_461)
        );
        let w3 = ring.owner_index(-1_273_487_460);
        assert_eq!(ring.workers()[w3 as usize].address.host, "worker3");
        // Past the largest position wraps to the smallest.
        assert_eq!(ring.owner_index(i32::MAX), w3);
    }

    #[test]
    fn empty_and_duplicates() {
        let ring = Ring::new(Vec::new(), 5);
        assert!(
            ring.is_empty() && ring.owner("x").is_none() && ring.get_multiple("x", 3).is_empty()
        );
        let mut again = static_worker("worker1");
        again.address.http_server_port = 1;
        let ring = Ring::new([static_worker("worker1"), again], 5);
        assert_eq!(ring.workers().len(), 1);
        assert_eq!(ring.workers()[0].address.http_server_port, 1);
        assert_eq!(ring.nodes().count(), 5);
    }

    #[test]
    fn shares_sum_to_one() {
        let s = three().shares();
        assert!((s.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        let one = Ring::new([static_worker("w")], 3).shares();
        assert!((one[0] - 1.0).abs() < 1e-9);
    }
}
