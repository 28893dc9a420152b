//! The one error type of the core. The Python mapping lives in
//! `python/errors.rs`; everything that can fail returns [`Result`].

use std::time::Duration;

/// Result alias for the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How a request to a worker failed. Retry, failover, the range probe and
/// the Python mapping decide on this, never on a message's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// The worker's host refused the connection (nothing listens on the
    /// port): the request was never sent.
    Refused,
    /// The connection could not be made otherwise (unreachable, no such
    /// address): the request was never sent.
    ConnectFailed,
    /// The connection was not made within the connect timeout: the request
    /// was never sent.
    ConnectTimeout,
    /// The connection closed or was reset after the request was sent and
    /// before any byte of an answer (an OSS worker does this for an endpoint
    /// it does not have).
    ClosedBeforeAnswer,
    /// The connection closed or was reset in the middle of an answer (its
    /// headers or its body, e.g. fewer bytes than its `Content-Length`).
    ClosedMidAnswer,
    /// No complete answer within the request timeout.
    AnswerTimeout,
    /// The operation's deadline (across retries and failover) passed.
    Deadline,
    /// The answer is not HTTP, or its framing is broken.
    BadHttp,
    /// A complete answer with fewer bytes than were asked for.
    ShortBody,
    /// An answer with more bytes than were asked for.
    LongBody,
    /// A complete answer whose content could not be used (e.g. malformed JSON).
    BadBody,
    /// An HTTP status the client has no other error for (5xx, 429, ...).
    Status(u16),
}

impl TransportKind {
    /// The words a message starts with.
    fn lead(self) -> String {
        match self {
            Self::Refused => "unreachable: connection refused".into(),
            Self::ConnectFailed => "unreachable: cannot connect".into(),
            Self::ConnectTimeout => "unreachable: timed out connecting".into(),
            Self::ClosedBeforeAnswer => "closed the connection before answering".into(),
            Self::ClosedMidAnswer => "the connection broke off in the middle of the answer".into(),
            Self::AnswerTimeout => "timed out waiting for the answer".into(),
            Self::Deadline => "timed out: the operation's deadline passed".into(),
            Self::BadHttp => "invalid HTTP answer".into(),
            Self::ShortBody => "answered too few bytes".into(),
            Self::LongBody => "answered too many bytes".into(),
            Self::BadBody => "malformed answer".into(),
            Self::Status(s) => format!("HTTP {s}"),
        }
    }

    /// Whether the request cannot have reached the worker (a non-idempotent
    /// request may be sent again).
    pub fn never_sent(self) -> bool {
        matches!(
            self,
            Self::Refused | Self::ConnectFailed | Self::ConnectTimeout
        )
    }

    /// Whether the worker failed to answer at all (refused, reset, silent):
    /// it goes to the back of the candidate order for a while.
    pub fn unresponsive(self) -> bool {
        matches!(
            self,
            Self::Refused
                | Self::ConnectFailed
                | Self::ConnectTimeout
                | Self::ClosedBeforeAnswer
                | Self::ClosedMidAnswer
                | Self::AnswerTimeout
                | Self::BadHttp
        )
    }

    /// Whether this is a timeout (a `TimeoutError` in Python).
    pub fn is_timeout(self) -> bool {
        matches!(
            self,
            Self::ConnectTimeout | Self::AnswerTimeout | Self::Deadline
        )
    }

    /// Whether the connection failed (a `ConnectionError` in Python), as
    /// opposed to a timeout or an answer the client cannot use.
    pub fn is_connection(self) -> bool {
        matches!(
            self,
            Self::Refused
                | Self::ConnectFailed
                | Self::ClosedBeforeAnswer
                | Self::ClosedMidAnswer
                | Self::BadHttp
        )
    }

    /// A short name (`refused`, `status`, ...), e.g. for Python's `.kind`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Refused => "refused",
            Self::ConnectFailed => "connect_failed",
            Self::ConnectTimeout => "connect_timeout",
            Self::ClosedBeforeAnswer => "closed_before_answer",
            Self::ClosedMidAnswer => "closed_mid_answer",
            Self::AnswerTimeout => "answer_timeout",
            Self::Deadline => "deadline",
            Self::BadHttp => "bad_http",
            Self::ShortBody => "short_body",
            Self::LongBody => "long_body",
            Self::BadBody => "bad_body",
            Self::Status(_) => "status",
        }
    }
}

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

    /// A directory removed without `recursive` has entries (HTTP 400,
    /// `OSError` with `errno.ENOTEMPTY`, as `os.rmdir` raises).
    #[error("directory not empty: {0}")]
    NotEmpty(String),

    /// A request argument is invalid (HTTP 400, `ValueError`).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// A request body is larger than its endpoint accepts, e.g. a page
    /// write of more than one page (HTTP 413, `ValueError`).
    #[error("too large: {0}")]
    TooLarge(String),

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

    /// A request to a worker failed: it could not be reached, dropped the
    /// connection, was too slow, answered with an error status or with a
    /// body of the wrong length or shape. Decisions (retry, failover, the
    /// range probe, the Python class) read `kind`; `message` is for people.
    #[error("worker {worker}: {}: {message}", kind.lead())]
    Transport {
        /// `host:port` of the worker.
        worker: String,
        /// What went wrong.
        kind: TransportKind,
        /// The details (the OS error, the sizes, the worker's own message).
        message: String,
    },

    /// An operation other than a worker request (e.g. the first membership
    /// listing) did not finish in time.
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
            Self::Timeout { .. } => true,
            Self::Transport { kind, .. } => match kind {
                TransportKind::Status(s) => *s >= 500 || *s == 429,
                TransportKind::Deadline => false,
                _ => true,
            },
            _ => false,
        }
    }

    /// An [`Error::Transport`].
    pub fn transport(
        worker: impl Into<String>,
        kind: TransportKind,
        message: impl Into<String>,
    ) -> Self {
        Self::Transport {
            worker: worker.into(),
            kind,
            message: message.into(),
        }
    }

    /// The kind of a failed worker request, if this is one.
    pub fn transport_kind(&self) -> Option<TransportKind> {
        match self {
            Self::Transport { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// Whether this is a timeout, of a worker request or of anything else.
    pub fn is_timeout(&self) -> bool {
        match self {
            Self::Timeout { .. } => true,
            Self::Transport { kind, .. } => kind.is_timeout(),
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
            Self::InvalidConfig(_)
            | Self::InvalidArgument(_)
            | Self::IsADirectory(_)
            | Self::NotEmpty(_) => 400,
            Self::PermissionDenied(_) | Self::EtcdAuth { .. } => 403,
            Self::NotFound(_) => 404,
            Self::AlreadyExists(_) => 409,
            Self::TooLarge(_) => 413,
            Self::NoWorkers { .. } | Self::EtcdUnavailable { .. } => 503,
            Self::Timeout { .. } => 504,
            Self::Transport { kind, .. } if kind.is_timeout() => 504,
            Self::Ufs { .. } | Self::Io { .. } => 500,
            Self::Transport { .. } => 502,
        }
    }
}
