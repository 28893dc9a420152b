//! The one error type of the core. The Python mapping lives in
//! `python/errors.rs`; everything that can fail returns [`Result`].

use std::time::Duration;

/// Result alias for the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the core.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// A configuration value or argument is invalid (→ `ValueError`).
    #[error("{0}")]
    InvalidConfig(String),

    /// Membership is known but holds no worker.
    #[error("no Alluxio worker is registered in {source_desc}")]
    NoWorkers {
        /// Where membership came from, e.g. `etcd 127.0.0.1:2379 (cluster DefaultAlluxioCluster)`.
        source_desc: String,
    },

    /// etcd could not be reached (every endpoint tried).
    #[error("cannot reach etcd at {endpoints}: {message}")]
    EtcdUnavailable {
        /// The endpoints tried.
        endpoints: String,
        /// The last failure.
        message: String,
    },

    /// etcd refused the credentials.
    #[error("etcd at {endpoints} rejected the credentials for user {user:?}: {message}")]
    EtcdAuth {
        /// The endpoints tried.
        endpoints: String,
        /// User name sent.
        user: String,
        /// What etcd said.
        message: String,
    },

    /// An operation did not finish in time.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long.
        after: Duration,
    },
}
