//! The Conclave room server: WebSocket signaling plus an SFU.
//!
//! Inside (private; `cargo doc --document-private-items` shows them):
//!
//! - `rooms`: the room rules as a sans-IO state machine (who is in which
//!   room, roles, limits, chat, kick).
//! - `hub`: the one task that owns that state and wires the SFU.
//! - `peer`: each member's WebRTC connection (the server always offers).
//! - `forwarder`: one published track fanned out to subscribers, RTP as is.
//! - `connection`: one WebSocket, with its deadlines; `outqueue`: its
//!   bounded outgoing queue; `metered`: the budget for unfinished incoming
//!   messages; `gate`: connection caps and the per-address rate limit.
//! - [`accept`]: an accept loop that backs off on errors (public: the desktop
//!   app's frame socket uses it too).
//!
//! The desktop app embeds this with [`start`]; `conclave-server` runs it alone.

pub mod accept;
pub(crate) mod allocation;
mod answer_check;
mod bucket;
pub(crate) mod connection;
mod eventlog;
pub(crate) mod forwarder;
pub(crate) mod gate;
pub(crate) mod hub;
pub mod logs;
pub(crate) mod metered;
pub(crate) mod outqueue;
pub(crate) mod peer;
mod quality;
pub(crate) mod rooms;
mod secrets;
mod text;
pub mod tls;
pub mod tokens;
pub mod turn;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use conclave_protocol::Limits;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::accept::{Acceptor, LogEvery};
pub use crate::connection::Origins;
use crate::gate::Gate;
use crate::hub::{Hub, HubInput};
use crate::rooms::{ConnId, Rooms};
pub use crate::tls::{TlsError, TlsIdentity};
pub use crate::turn::TurnConfig;

#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Signaling address. Media binds to the same IP on ephemeral UDP ports.
    pub listen: SocketAddr,
    pub limits: Limits,
    pub connections: ConnectionLimits,
    /// Serve `wss://` with this certificate; plain `ws://` without.
    pub tls: Option<Arc<TlsIdentity>>,
    /// Which web pages may connect, besides the server's own.
    pub origins: Origins,
    /// The address members reach this server at, when it is behind 1:1 NAT.
    pub public_ip: Option<std::net::IpAddr>,
    /// Only members with a join token signed with this secret may join.
    pub auth_secret: Option<String>,
    /// Offer ICE over TCP too (for members whose networks block UDP).
    pub ice_tcp: bool,
    /// TURN servers whose credentials members get in `welcome`.
    pub turn: Option<TurnConfig>,
    /// Media ports, one per member, from this range; ephemeral without it.
    pub media_ports: Option<conclave_rtc::PortRange>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7880)),
            limits: Limits::default(),
            connections: ConnectionLimits::default(),
            tls: None,
            origins: Origins::default(),
            public_ip: None,
            auth_secret: None,
            ice_tcp: false,
            turn: None,
            media_ports: None,
        }
    }
}

/// Caps and deadlines of the transport, below the room rules of [`Limits`].
/// Documented in `docs/protocol.md` (Limits).
#[derive(Clone, Debug)]
pub struct ConnectionLimits {
    /// Most connections open at once, handshakes included. Default 1024.
    pub max_connections: usize,
    /// Most connections open at once from one IP address. Default 32.
    pub max_connections_per_ip: usize,
    /// Frames per second all connections from one IP address may send
    /// together, on average (a token bucket: twice this in a burst), on top
    /// of each connection's own `max_messages_per_second`. 0: no such limit.
    /// Default 100.
    pub max_messages_per_second_per_ip: u32,
    /// From the TCP accept to the WebSocket handshake and an accepted
    /// `hello`. Default 5 s.
    pub hello_timeout: Duration,
    /// Most bytes waiting to be written to one connection. Default 1 MiB.
    pub max_queued_bytes: usize,
    /// Most bytes of unfinished incoming messages, all connections together
    /// (counted as read from the sockets; the WebSocket layer's buffers take
    /// up to about three times that in memory). Default 32 MiB.
    pub max_inflight_bytes: usize,
    /// How long one incoming message may take from its first byte to its
    /// last. Default 10 s.
    pub message_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_connections_per_ip: 32,
            max_messages_per_second_per_ip: 100,
            hello_timeout: Duration::from_secs(5),
            max_queued_bytes: 1 << 20,
            max_inflight_bytes: 32 << 20,
            message_timeout: Duration::from_secs(10),
        }
    }
}

/// A running server. Dropping it does not stop it; call [`RunningServer::stop`].
pub struct RunningServer {
    pub addr: SocketAddr,
    tls: bool,
    accept: tokio::task::JoinHandle<()>,
    hub: tokio::task::JoinHandle<()>,
    inputs: mpsc::UnboundedSender<HubInput>,
}

/// How long a stopping server lets its members' queues drain `room.left`.
const SHUTDOWN_FLUSH: Duration = Duration::from_millis(500);

impl RunningServer {
    /// `wss://ADDR/ws`, or `ws://` for a server without TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://{}/ws", self.addr)
    }

    /// Stops at once: members see their connection drop.
    pub fn stop(self) {
        self.accept.abort();
        self.hub.abort();
    }

    /// Stops taking newcomers, ends every meeting (each member hears
    /// `room.left` with reason `ended`), lets that reach them, then stops.
    pub async fn shutdown(self) {
        self.accept.abort();
        let (done, ended) = tokio::sync::oneshot::channel();
        if self.inputs.send(HubInput::Shutdown { done }).is_ok() {
            let _ = ended.await;
            tokio::time::sleep(SHUTDOWN_FLUSH).await;
        }
        self.hub.abort();
    }
}

/// Binds and starts serving in the background.
pub async fn start(config: ServerConfig) -> std::io::Result<RunningServer> {
    let listener = TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let mut acceptor = Acceptor::new(listener, "signaling");
    let (inputs_tx, inputs_rx) = mpsc::unbounded_channel();
    let server_name = format!("conclave-server {}", env!("CARGO_PKG_VERSION"));
    let tls = match &config.tls {
        Some(identity) => Some(identity.acceptor().map_err(std::io::Error::other)?),
        None => None,
    };
    let shared = connection::Shared::new(
        inputs_tx.clone(),
        config.limits.max_frame_bytes,
        config.connections.clone(),
        tls,
        config.origins.clone(),
    );
    let mut rooms = Rooms::new(config.limits, server_name);
    if let Some(secret) = &config.auth_secret {
        rooms = rooms.with_tokens(tokens::TokenKey::new(secret.as_bytes()));
    }
    if let Some(turn) = &config.turn {
        rooms = rooms.with_turn(turn.clone());
    }
    let relay = config.turn.clone().filter(|turn| turn.relay_server_media);
    let hub = Hub::new(
        rooms,
        conclave_rtc::MediaNetwork {
            bind_ip: addr.ip(),
            public_ip: config.public_ip,
            ice_tcp: config.ice_tcp,
            ports: config.media_ports,
            rebind_on_ice_restart: false,
        },
        relay,
        inputs_tx.clone(),
    );
    let hub = tokio::spawn(hub.run(inputs_rx));
    let gate = Gate::new(&config.connections);
    let accept = tokio::spawn(async move {
        let mut next_conn = 1u64;
        let mut refusals = LogEvery::new(Duration::from_secs(10));
        loop {
            let (stream, peer) = acceptor.accept().await;
            match gate.admit(peer.ip()) {
                Ok(ticket) => {
                    let conn = ConnId(next_conn);
                    next_conn += 1;
                    tokio::spawn(connection::serve(conn, stream, ticket, shared.clone()));
                }
                Err(refusal) => {
                    if let Some(more) = refusals.hit(Instant::now()) {
                        tracing::warn!(%peer, "refused a connection: {refusal} ({more} more refused since the last report)");
                    }
                    connection::refuse(stream, peer.ip(), refusal, &shared);
                }
            }
        }
    });
    Ok(RunningServer {
        addr,
        tls: config.tls.is_some(),
        accept,
        hub,
        inputs: inputs_tx,
    })
}
