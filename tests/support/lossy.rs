//! Random loss on one process's media on loopback, for tests that run the
//! members there (the window test): an nftables table in the test's own
//! namespace that drops a share of the UDP packets to and from the
//! process's ports on `lo`, and is deleted again on drop.

use std::process::Command;

use crate::netns::nft_in;

pub struct LossyProcess {
    table: String,
}

impl LossyProcess {
    /// `percent` % of the UDP packets `pid` sends or receives on loopback are dropped.
    pub fn new(pid: u32, percent: u32) -> LossyProcess {
        let ports = udp_ports(pid);
        assert!(!ports.is_empty(), "process {pid} has no UDP sockets");
        let table = format!("cvlossy{pid}");
        let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
        let ports = ports.join(", ");
        let drop = format!("numgen random mod 100 < {percent} drop;");
        nft_in(
            None,
            &format!(
                "table inet {table} {{ chain output {{ type filter hook output priority -5; \
                 oifname \"lo\" udp sport {{ {ports} }} {drop} \
                 oifname \"lo\" udp dport {{ {ports} }} {drop} }}; }}"
            ),
        );
        LossyProcess { table }
    }
}

impl Drop for LossyProcess {
    fn drop(&mut self) {
        let _ = Command::new("nft")
            .args(["delete", "table", "inet", &self.table])
            .status();
    }
}

/// The local UDP ports of process `pid` (`ss`).
fn udp_ports(pid: u32) -> Vec<u16> {
    let out = Command::new("ss")
        .args(["-Hnuap"])
        .output()
        .expect("ss (iproute2) is installed");
    let needle = format!("pid={pid},");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|line| line.contains(&needle))
        .filter_map(|line| {
            let local = line.split_whitespace().nth(3)?;
            local.rsplit(':').next()?.parse().ok()
        })
        .collect()
}
