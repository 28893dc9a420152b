//! Page store: cached pages on disk under a byte quota (in progress).
