//! Simulated networks for the tests: Linux network namespaces joined by veth
//! pairs, with routes and (later) nftables rules, all created by the test and
//! removed when its [`Lab`] is dropped. Needs root (CI runs as root). Only
//! documentation-range addresses inside these namespaces are used.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Links made by this process so far: veth names must be unique across the
/// labs of tests that run at the same time.
static LINKS: AtomicUsize = AtomicUsize::new(0);

/// A set of namespaces and the links between them; dropped, all are gone
/// (deleting a namespace deletes its end of every veth pair too).
pub struct Lab {
    prefix: String,
    namespaces: Vec<String>,
}

fn run(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", args.join(" ")));
    assert!(
        out.status.success(),
        "{} failed (network namespaces need root): {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Lab {
    /// A lab whose namespaces are named `<tag><pid>-<name>`, so parallel tests never meet.
    pub fn new(tag: &str) -> Lab {
        Lab {
            prefix: format!("{tag}{}", std::process::id()),
            namespaces: Vec::new(),
        }
    }

    /// A new namespace with its loopback up; returns its full name.
    pub fn host(&mut self, name: &str) -> String {
        let ns = format!("{}-{name}", self.prefix);
        // One left over from a killed run of the same pid would be in the way.
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        run(&["ip", "netns", "add", &ns]);
        run(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
        self.namespaces.push(ns.clone());
        ns
    }

    /// A cable between two namespaces: `a_addr` and `b_addr` are `IP/PREFIX`.
    /// Returns the names of its two ends (in `a`, in `b`).
    pub fn link(&mut self, a: &str, a_addr: &str, b: &str, b_addr: &str) -> (String, String) {
        // Interface names are at most 15 bytes: keep them short and unique.
        let n = LINKS.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id() % 100_000;
        let (va, vb) = (format!("v{pid}x{n}a"), format!("v{pid}x{n}b"));
        run(&[
            "ip", "link", "add", &va, "type", "veth", "peer", "name", &vb,
        ]);
        for (ns, dev, addr) in [(a, &va, a_addr), (b, &vb, b_addr)] {
            run(&["ip", "link", "set", dev, "netns", ns]);
            run(&["ip", "-n", ns, "addr", "add", addr, "dev", dev]);
            run(&["ip", "-n", ns, "link", "set", dev, "up"]);
        }
        (va, vb)
    }

    /// A host on its own subnet `192.168.<subnet>.0/24` behind `router`
    /// (the router is .1, the host .2, routed to the rest of 192.168.0.0/16).
    /// Returns the host's namespace and its cable (the router's end, the host's).
    pub fn host_behind(
        &mut self,
        router: &str,
        name: &str,
        subnet: u8,
    ) -> (String, (String, String)) {
        let ns = self.host(name);
        let cable = self.link(
            router,
            &format!("192.168.{subnet}.1/24"),
            &ns,
            &format!("192.168.{subnet}.2/24"),
        );
        self.route(&ns, "192.168.0.0/16", &format!("192.168.{subnet}.1"));
        (ns, cable)
    }

    /// One more address (`IP/PREFIX`) on device `dev` of `ns`.
    pub fn address(&self, ns: &str, addr: &str, dev: &str) {
        run(&["ip", "-n", ns, "addr", "add", addr, "dev", dev]);
    }

    /// Takes address `addr` (`IP/PREFIX`) off device `dev` of `ns`.
    pub fn unaddress(&self, ns: &str, addr: &str, dev: &str) {
        run(&["ip", "-n", ns, "addr", "del", addr, "dev", dev]);
    }

    /// A route in `ns` to `destination` (`NET/PREFIX`, or `default`) through `via`.
    pub fn route(&self, ns: &str, destination: &str, via: &str) {
        run(&["ip", "-n", ns, "route", "add", destination, "via", via]);
    }

    /// Makes `ns` a router: it forwards between its links.
    pub fn forward(&self, ns: &str) {
        run(&[
            "ip",
            "netns",
            "exec",
            ns,
            "sysctl",
            "-q",
            "-w",
            "net.ipv4.ip_forward=1",
        ]);
    }

    /// Loads an nftables ruleset (`nft -f` syntax) into `ns`: NAT, firewalls.
    pub fn nft(&self, ns: &str, ruleset: &str) {
        nft_in(Some(ns), ruleset);
    }

    /// Whether `ns` has a default route (the point of some tests is that it has none).
    pub fn has_default_route(&self, ns: &str) -> bool {
        let out = Command::new("ip")
            .args(["-n", ns, "route", "show", "default"])
            .output()
            .expect("ip route");
        !String::from_utf8_lossy(&out.stdout).trim().is_empty()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.namespaces.drain(..).rev() {
            let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        }
    }
}

/// Loads an nftables ruleset (`nft -f` syntax) into namespace `ns`, or the
/// test's own with `None`.
pub fn nft_in(ns: Option<&str>, ruleset: &str) {
    use std::io::Write;
    let mut command = match ns {
        Some(ns) => {
            let mut command = Command::new("ip");
            command.args(["netns", "exec", ns, "nft"]);
            command
        }
        None => Command::new("nft"),
    };
    let mut nft = command
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("nft (nftables) is installed (scripts/install-deps.sh)");
    nft.stdin
        .take()
        .unwrap()
        .write_all(ruleset.as_bytes())
        .unwrap();
    let out = nft.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "nft in {}: {}\n{ruleset}",
        ns.unwrap_or("the test's namespace"),
        String::from_utf8_lossy(&out.stderr)
    );
}
