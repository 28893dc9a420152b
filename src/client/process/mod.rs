//! Process-wide client state: the shared runtime and memberships
//! ([`runtime`]), the short-call runtime ([`short_runtime`]), the choice
//! between them ([`exec`]), and values tied to one process or runtime
//! generation ([`stale`]). All of it is built lazily and rebuilt after
//! `fork`.

pub mod exec;
pub mod runtime;
pub mod short_runtime;
pub mod stale;
