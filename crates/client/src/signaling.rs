//! The signaling seam.
//!
//! A [`Signaling`] carries protocol messages to and from a room server. The
//! session knows nothing else about the transport, so a second backend (an
//! existing SFU engine's API, say) is a new implementation of this trait and
//! touches neither the events nor the UI.

use conclave_protocol::{ClientMessage, ErrorCode, ErrorInfo, ServerMessage};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, thiserror::Error)]
pub enum SignalingError {
    #[error("cannot connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    /// The server answered the upgrade with a typed refusal (HTTP 503, `too_many_connections`).
    #[error("{url} refused the connection: {}", .error.message)]
    Refused { url: String, error: ErrorInfo },
    #[error("the connection to the server was lost: {0}")]
    Lost(String),
    #[error("the server sent something that is not protocol: {0}")]
    Garbled(String),
}

#[async_trait::async_trait]
pub trait Signaling: Send {
    async fn send(&mut self, message: &ClientMessage) -> Result<(), SignalingError>;
    /// The next message, or `None` once the server closed the connection.
    async fn recv(&mut self) -> Option<Result<ServerMessage, SignalingError>>;
    async fn close(&mut self);
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Conclave's own protocol over a WebSocket (`docs/protocol.md`).
pub struct WebSocketSignaling {
    socket: Socket,
}

impl WebSocketSignaling {
    pub async fn connect(url: &str) -> Result<Self, SignalingError> {
        let (socket, _) =
            tokio_tungstenite::connect_async(url)
                .await
                .map_err(|e| match refusal(&e) {
                    Some(error) => SignalingError::Refused {
                        url: url.to_owned(),
                        error,
                    },
                    None => SignalingError::Connect {
                        url: url.to_owned(),
                        reason: e.to_string(),
                    },
                })?;
        Ok(Self { socket })
    }
}

/// The server's typed refusal of the upgrade: HTTP 503 with `{"error": ErrorInfo}`.
fn refusal(error: &tokio_tungstenite::tungstenite::Error) -> Option<ErrorInfo> {
    let tokio_tungstenite::tungstenite::Error::Http(response) = error else {
        return None;
    };
    if response.status().as_u16() != 503 {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct Body {
        error: ErrorInfo,
    }
    let parsed = response
        .body()
        .as_deref()
        .and_then(|body| serde_json::from_slice::<Body>(body).ok());
    Some(match parsed {
        Some(body) => body.error,
        None => ErrorInfo::new(
            ErrorCode::TooManyConnections,
            "the server is not taking connections now (HTTP 503)",
        ),
    })
}

#[async_trait::async_trait]
impl Signaling for WebSocketSignaling {
    async fn send(&mut self, message: &ClientMessage) -> Result<(), SignalingError> {
        let text = serde_json::to_string(message).expect("client messages serialize");
        self.socket
            .send(Message::text(text))
            .await
            .map_err(|e| SignalingError::Lost(e.to_string()))
    }

    async fn recv(&mut self) -> Option<Result<ServerMessage, SignalingError>> {
        loop {
            return match self.socket.next().await? {
                Ok(Message::Text(text)) => Some(
                    serde_json::from_str(&text)
                        .map_err(|e| SignalingError::Garbled(format!("{e}: {text}"))),
                ),
                Ok(Message::Close(_)) => None,
                Ok(_) => continue, // pings are answered by tungstenite
                Err(e) => Some(Err(SignalingError::Lost(e.to_string()))),
            };
        }
    }

    async fn close(&mut self) {
        let _ = self.socket.close(None).await;
    }
}
