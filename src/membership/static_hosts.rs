//! Static membership from `worker_hosts`.

use crate::config::HostPort;
use crate::protocol::identity::WorkerIdentity;
use crate::protocol::worker_info::{WorkerInfo, WorkerNetAddress};

/// Workers for a static host list. A bare `host` gets Java's identity
/// (UUID v3 of the host name, so rings match `StaticMembershipManager` and
/// alluxiofs); an entry with an explicit port is identified by `host:port`,
/// so several workers on one host stay distinct.
pub fn static_workers(hosts: &[HostPort]) -> Vec<WorkerInfo> {
    hosts
        .iter()
        .map(|h| {
            let name = if h.explicit_port {
                h.authority()
            } else {
                h.host.clone()
            };
            WorkerInfo {
                identity: WorkerIdentity::from_hostname(&name),
                address: WorkerNetAddress::with_http(h.host.clone(), h.port),
            }
        })
        .collect()
}
