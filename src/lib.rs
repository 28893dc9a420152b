//! alluxiofs core: Alluxio worker discovery (etcd or static), the consistent-hash
//! ring that picks the same worker the Java servers pick, and configuration.
//!
//! Everything here is PyO3-free; the Python bindings live in `python/` and are
//! compiled only with the `python` feature.

pub mod client;
pub mod config;
pub mod error;
pub mod gson;
pub mod identity;
pub mod membership;
pub mod murmur3;
pub mod path_id;
pub mod ring;
pub mod runtime;
pub mod short_runtime;
pub mod size;
pub mod stale;
pub mod wire;
pub mod worker;
pub mod worker_info;

#[cfg(feature = "python")]
mod python;

pub use config::{ClientConfig, ConfigInput, MembershipConfig};
pub use error::{Error, Result};
pub use identity::WorkerIdentity;
pub use ring::Ring;
pub use worker_info::{WorkerInfo, WorkerNetAddress};
