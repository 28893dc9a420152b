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

    /// A file, directory, page or job does not exist (HTTP 404, `FileNotFoundError`).
    #[error("not found: {0}")]
    NotFound(String),

    /// Access refused, e.g. a path outside the worker's under-storage roots
    /// (HTTP 403, `PermissionError`).
    #[error("permission denied: {0}")]
    PermissionDenied(String),

    /// The target exists already (HTTP 409, `FileExistsError`).
    #[error("already exists: {0}")]
    AlreadyExists(String),

    /// A file operation was asked of a directory (HTTP 400, `IsADirectoryError`).
    #[error("is a directory: {0}")]
    IsADirectory(String),

    /// A request argument is invalid (HTTP 400, `ValueError`).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The under storage failed (HTTP 500).
    #[error("under storage error at {path}: {message}")]
    Ufs {
        /// The path being accessed.
        path: String,
        /// What failed.
        message: String,
    },

    /// Local I/O failed, e.g. in the page store (HTTP 500).
    #[error("{context}: {message}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        message: String,
    },

    /// A worker answered with an unexpected status or a malformed body.
    #[error("worker {worker}: {message}")]
    Worker {
        /// `host:port` of the worker.
        worker: String,
        /// HTTP status, if a response arrived.
        status: Option<u16>,
        /// What went wrong.
        message: String,
    },

    /// A worker could not be reached or dropped the connection.
    #[error("worker {worker} unreachable: {message}")]
    Transport {
        /// `host:port` of the worker.
        worker: String,
        /// The transport error.
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

impl Error {
    /// Whether retrying the same request (or the next worker) may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport { .. } | Self::Timeout { .. } => true,
            Self::Worker { status, .. } => status.is_none_or(|s| s >= 500 || s == 429),
            _ => false,
        }
    }

    /// An [`Error::Io`] from an `std::io::Error`, keeping its kind where it matters.
    pub fn io(context: impl Into<String>, e: &std::io::Error) -> Self {
        let context = context.into();
        match e.kind() {
            std::io::ErrorKind::NotFound => Self::NotFound(context),
            std::io::ErrorKind::PermissionDenied => Self::PermissionDenied(context),
            std::io::ErrorKind::AlreadyExists => Self::AlreadyExists(context),
            _ => Self::Io {
                context,
                message: e.to_string(),
            },
        }
    }

    /// The HTTP status a worker answers with for this error.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::InvalidConfig(_) | Self::InvalidArgument(_) | Self::IsADirectory(_) => 400,
            Self::PermissionDenied(_) | Self::EtcdAuth { .. } => 403,
            Self::NotFound(_) => 404,
            Self::AlreadyExists(_) => 409,
            Self::NoWorkers { .. } | Self::EtcdUnavailable { .. } => 503,
            Self::Timeout { .. } => 504,
            Self::Ufs { .. } | Self::Io { .. } => 500,
            Self::Worker { .. } | Self::Transport { .. } => 502,
        }
    }
}
