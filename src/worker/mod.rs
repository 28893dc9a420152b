//! The alluxiofs cache worker: an Alluxio 3.x-compatible worker (docs/protocol.md
//! §1, §5, Appendix B) built on the same pure modules as the client.

pub mod config;
pub mod connection;
pub mod file_info;
pub mod identity_file;
pub mod load_job;
pub mod meta_sync;
pub mod page_store;
pub mod query;
pub mod registration;
pub mod respond;
pub mod routes;
pub mod s3;
pub mod server;
pub mod settings;
pub mod state;
pub mod ufs;
