//! Worker identity (`alluxio.wire.WorkerIdentity`, docs/protocol.md §2).

use std::fmt;

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

/// A worker's identity: a version and its identifier bytes
/// (16 bytes of a UUID for version 1, 8 bytes of a Java long for version 0).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkerIdentity {
    version: i32,
    identifier: Vec<u8>,
}

/// Why an identity could not be built from its parts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// Only versions 0 and 1 exist.
    #[error("unknown worker identity version {0}")]
    UnknownVersion(i32),
    /// The identifier has the wrong number of bytes for its version.
    #[error("worker identity version {version} needs {expected} identifier bytes, got {got}")]
    BadLength {
        /// Identity version.
        version: i32,
        /// Bytes required by that version.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// The identifier is not hexadecimal.
    #[error("worker identifier {0:?} is not hexadecimal")]
    BadHex(String),
}

impl WorkerIdentity {
    /// Builds an identity, checking the identifier length for the version.
    pub fn new(version: i32, identifier: Vec<u8>) -> Result<Self, IdentityError> {
        let expected = match version {
            0 => 8,
            1 => 16,
            v => return Err(IdentityError::UnknownVersion(v)),
        };
        if identifier.len() != expected {
            return Err(IdentityError::BadLength {
                version,
                expected,
                got: identifier.len(),
            });
        }
        Ok(Self {
            version,
            identifier,
        })
    }

    /// Parses the JSON form's parts: a version and a hex identifier.
    pub fn from_hex(version: i32, hex_id: &str) -> Result<Self, IdentityError> {
        let bytes = hex::decode(hex_id).map_err(|_| IdentityError::BadHex(hex_id.to_owned()))?;
        Self::new(version, bytes)
    }

    /// A version-1 identity from 16 UUID bytes (big-endian, RFC 4122 layout).
    pub fn from_uuid_bytes(bytes: [u8; 16]) -> Self {
        Self {
            version: 1,
            identifier: bytes.to_vec(),
        }
    }

    /// The identity static membership gives a host: UUID v3 of the name with
    /// an empty namespace, exactly Java's `UUID.nameUUIDFromBytes`.
    pub fn from_hostname(name: &str) -> Self {
        let mut b: [u8; 16] = Md5::digest(name.as_bytes()).into();
        b[6] = (b[6] & 0x0f) | 0x30;
        b[8] = (b[8] & 0x3f) | 0x80;
        Self::from_uuid_bytes(b)
    }

    /// Parses canonical UUID text (`cb157baa-afe0-4b98-8af0-1a4645d38456`), as
    /// stored in a worker's identity file.
    pub fn from_uuid_str(text: &str) -> Result<Self, IdentityError> {
        let t = text.trim();
        let dashes_ok = t.len() == 36 && [8, 13, 18, 23].iter().all(|&i| t.as_bytes()[i] == b'-');
        let hex_part: String = t.chars().filter(|&c| c != '-').collect();
        if !dashes_ok || hex_part.len() != 32 {
            return Err(IdentityError::BadHex(t.to_owned()));
        }
        Self::from_hex(1, &hex_part.to_ascii_lowercase())
    }

    /// A fresh random version-1 identity (UUID v4), as a new Java worker makes.
    pub fn random_v4(random: [u8; 16]) -> Self {
        let mut b = random;
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        Self::from_uuid_bytes(b)
    }

    /// Identity version.
    pub fn version(&self) -> i32 {
        self.version
    }

    /// Identifier bytes.
    pub fn identifier(&self) -> &[u8] {
        &self.identifier
    }

    /// Lowercase hex of the identifier (the JSON `identifier` field).
    pub fn hex(&self) -> String {
        hex::encode(&self.identifier)
    }

    /// `WorkerIdentity.toString()`: `worker-<uuid>` (v1) or `worker-<long>` (v0);
    /// the etcd key suffix.
    pub fn service_entity_name(&self) -> String {
        format!("worker-{self}")
    }

    /// Canonical UUID text for version 1 identities.
    fn uuid_string(&self) -> String {
        let h = self.hex();
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

impl fmt::Display for WorkerIdentity {
    /// The version-specific representation (UUID text or decimal long).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.version == 1 {
            f.write_str(&self.uuid_string())
        } else {
            let mut b = [0u8; 8];
            b.copy_from_slice(&self.identifier);
            write!(f, "{}", i64::from_be_bytes(b))
        }
    }
}

impl fmt::Debug for WorkerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WorkerIdentity(v{}, {})", self.version, self.hex())
    }
}

/// The JSON shape `{"version":1,"identifier":"<hex>"}` (Gson `WorkerIdentity.GsonSerde`).
#[derive(Serialize, Deserialize)]
pub(crate) struct IdentityJson {
    pub version: i32,
    pub identifier: String,
}

impl From<&WorkerIdentity> for IdentityJson {
    fn from(id: &WorkerIdentity) -> Self {
        Self {
            version: id.version,
            identifier: id.hex(),
        }
    }
}

impl TryFrom<IdentityJson> for WorkerIdentity {
    type Error = IdentityError;
    fn try_from(j: IdentityJson) -> Result<Self, IdentityError> {
        Self::from_hex(j.version, &j.identifier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_v3_from_hostname() {
        // docs/protocol.md §2.2 examples (verified against Java and Python).
        for (host, want) in [
            ("localhost", "421aa90e079f3326b6494f812ad13e79"),
            ("worker-fmvjygixyt-8993", "4f23e7a1a230318a912dbdf8f78e0aed"),
            ("worker1", "ebad64149cc737baa6ef069819279fd5"),
            ("worker2", "01925b7892e23a198993afdd20a7c761"),
            ("worker3", "b504f5a746de3fd3a78b9c85c20ca653"),
        ] {
            assert_eq!(WorkerIdentity::from_hostname(host).hex(), want, "{host}");
        }
        assert_eq!(
            WorkerIdentity::from_hostname("localhost").service_entity_name(),
            "worker-421aa90e-079f-3326-b649-4f812ad13e79"
        );
    }

    #[test]
    fn rejects_bad_parts() {
        assert_eq!(
            WorkerIdentity::from_hex(2, "00"),
            Err(IdentityError::UnknownVersion(2))
        );
        assert!(matches!(
            WorkerIdentity::from_hex(1, "0011"),
            Err(IdentityError::BadLength {
                expected: 16,
                got: 2,
                ..
            })
        ));
        assert!(matches!(
            WorkerIdentity::from_hex(1, "zz"),
            Err(IdentityError::BadHex(_))
        ));
        let v0 = WorkerIdentity::from_hex(0, "0000000000000007").unwrap();
        assert_eq!(v0.service_entity_name(), "worker-7");
    }

    #[test]
    fn uuid_text_round_trip() {
        let id = WorkerIdentity::from_uuid_str("CB157BAA-afe0-4b98-8af0-1a4645d38456").unwrap();
        assert_eq!(id.to_string(), "cb157baa-afe0-4b98-8af0-1a4645d38456");
        for bad in [
            "",
            "cb157baa",
            "cb157baaafe04b988af01a4645d38456",
            "zb157baa-afe0-4b98-8af0-1a4645d38456",
        ] {
            assert!(WorkerIdentity::from_uuid_str(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn random_v4_sets_version_bits() {
        let id = WorkerIdentity::random_v4([0xff; 16]);
        assert_eq!(id.to_string().as_bytes()[14], b'4');
    }
}
