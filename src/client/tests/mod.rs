//! Unit tests of the read path: destinations and lending ([`dest`]), slice
//! planning ([`plan`]) and reads through an in-memory tier ([`reads`]).

mod dest;
mod mem;
mod plan;
mod reads;
