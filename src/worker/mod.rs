//! The alluxiofs cache worker: an Alluxio 3.x-compatible worker (PROTOCOL.md
//! §1, §5, Appendix B) built on the same pure modules as the client.

pub mod page_store;
pub mod ufs;
