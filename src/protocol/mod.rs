//! The pure protocol of `docs/protocol.md`: what the Java servers compute and
//! send, reproduced byte for byte. No I/O, no runtime: every module here is a
//! function of its inputs, tested against the Java implementation's vectors.

pub mod gson;
pub mod identity;
pub mod murmur3;
pub mod path_id;
pub mod ring;
pub mod size;
pub mod wire;
pub mod worker_info;
