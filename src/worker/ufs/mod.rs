//! Under storage: local directories and S3, confined to configured roots (in progress).
