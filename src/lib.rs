//! alluxiofs core: Alluxio worker discovery (etcd or static), the consistent-hash
//! ring that picks the same worker the Java servers pick, the client's read
//! path, and an Alluxio-compatible cache worker.
//!
//! Layout:
//! - [`protocol`]: the pure wire protocol of `docs/protocol.md` (hashing,
//!   worker identity and info, the ring, file ids, JSON shapes, sizes);
//!   no I/O.
//! - [`membership`]: which workers exist (etcd or a static list).
//! - [`cache`]: the node-shared local page cache (files, cross-process
//!   locks and quota); no network.
//! - [`client`]: the client core (reads, metadata, writes, load jobs) and
//!   its process-wide state ([`client::process`]).
//! - [`worker`]: the cache worker and `local-cluster`'s building blocks.
//! - [`config`], [`error`]: configuration and the one error type.
//!
//! Everything here is PyO3-free; the Python bindings live in `python/` and are
//! compiled only with the `python` feature.
#![deny(unsafe_op_in_unsafe_fn)]

pub mod cache;
pub mod client;
pub mod config;
pub mod error;
pub mod membership;
pub mod protocol;
pub mod worker;

#[cfg(feature = "python")]
mod python;

pub use config::{ClientConfig, ConfigInput, MembershipConfig};
pub use error::{Error, Result};
pub use protocol::identity::WorkerIdentity;
pub use protocol::ring::Ring;
pub use protocol::worker_info::{WorkerInfo, WorkerNetAddress};
