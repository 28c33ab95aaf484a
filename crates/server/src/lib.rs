//! The Conclave room server: WebSocket signaling plus an SFU.
//!
//! Inside (private; `cargo doc --document-private-items` shows them):
//!
//! - `rooms`: the room rules as a sans-IO state machine (who is in which
//!   room, roles, limits, chat, kick).
//! - `hub`: the one task that owns that state and wires the SFU.
//! - `peer`: each member's WebRTC connection (the server always offers).
//! - `forwarder`: one published track fanned out to subscribers, RTP as is.
//! - `connection`: one WebSocket.
//!
//! The desktop app embeds this with [`start`]; `conclave-server` runs it alone.

mod answer_check;
pub(crate) mod connection;
pub(crate) mod forwarder;
pub(crate) mod hub;
pub(crate) mod peer;
pub(crate) mod rooms;
mod secrets;
mod text;

use std::net::SocketAddr;

use conclave_protocol::Limits;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::hub::Hub;
use crate::rooms::{ConnId, Rooms};

#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Signaling address. Media binds to the same IP on ephemeral UDP ports.
    pub listen: SocketAddr,
    pub limits: Limits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7880)),
            limits: Limits::default(),
        }
    }
}

/// A running server. Dropping it does not stop it; call [`RunningServer::stop`].
pub struct RunningServer {
    pub addr: SocketAddr,
    accept: tokio::task::JoinHandle<()>,
    hub: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    pub fn stop(self) {
        self.accept.abort();
        self.hub.abort();
    }
    pub async fn wait(self) {
        let _ = self.accept.await;
    }
}

/// Binds and starts serving in the background.
pub async fn start(config: ServerConfig) -> std::io::Result<RunningServer> {
    let listener = TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let (inputs_tx, inputs_rx) = mpsc::unbounded_channel();
    let server_name = format!("conclave-server {}", env!("CARGO_PKG_VERSION"));
    let max_frame_bytes = config.limits.max_frame_bytes;
    let hub = Hub::new(
        Rooms::new(config.limits, server_name),
        addr.ip(),
        inputs_tx.clone(),
    );
    let hub = tokio::spawn(hub.run(inputs_rx));
    let accept = tokio::spawn(async move {
        let mut next_conn = 1u64;
        loop {
            match listener.accept().await {
                Ok((stream, _peer)) => {
                    let conn = ConnId(next_conn);
                    next_conn += 1;
                    tokio::spawn(connection::serve(
                        conn,
                        stream,
                        max_frame_bytes,
                        inputs_tx.clone(),
                    ));
                }
                Err(err) => tracing::warn!(%err, "accept failed"),
            }
        }
    });
    Ok(RunningServer { addr, accept, hub })
}
