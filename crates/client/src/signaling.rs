//! The signaling seam.
//!
//! A [`Signaling`] carries protocol messages to and from a room server. The
//! session knows nothing else about the transport, so a second backend (an
//! existing SFU engine's API, say) is a new implementation of this trait and
//! touches neither the events nor the UI.

use std::sync::Arc;

use conclave_protocol::{ClientMessage, ErrorCode, ErrorInfo, Fingerprint, ServerMessage};
use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use crate::tls::{self, CertificateProblem};

#[derive(Debug, thiserror::Error)]
pub enum SignalingError {
    /// Said as a person would: what happened and what to check.
    #[error("{}", why.sentence(host))]
    Connect { host: String, why: ConnectFailure },
    /// The server answered the upgrade with a typed refusal (HTTP 503
    /// `too_many_connections`, HTTP 403 `origin_refused`).
    #[error("{host} refused the connection: {}", .error.message)]
    Refused { host: String, error: ErrorInfo },
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

/// Why a connection to a server could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectFailure {
    /// The computer answered, but nothing listens on that port.
    Refused,
    /// No route, or no answer in time.
    Unreachable,
    /// The name did not resolve.
    UnknownHost,
    /// Something answered, but not a Conclave server (the WebSocket upgrade failed).
    NotConclave(String),
    /// The server's certificate failed the check.
    Certificate(CertificateProblem),
    /// The TLS handshake failed otherwise (a plain `ws://` server, say).
    Tls(String),
    /// Anything else, as the system said it.
    Other(String),
}

impl ConnectFailure {
    fn of_io(io: &std::io::Error) -> Self {
        use std::io::ErrorKind;
        match io.kind() {
            ErrorKind::ConnectionRefused => ConnectFailure::Refused,
            ErrorKind::TimedOut | ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => {
                ConnectFailure::Unreachable
            }
            _ if io.to_string().contains("lookup") => ConnectFailure::UnknownHost,
            _ => ConnectFailure::Other(io.to_string()),
        }
    }

    /// A failed TLS handshake (tokio-rustls reports rustls' error inside an I/O error).
    fn of_tls(io: &std::io::Error, pinned: bool) -> Self {
        match io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
            Some(error) => match tls::certificate_problem(error, pinned) {
                Some(problem) => ConnectFailure::Certificate(problem),
                None => ConnectFailure::Tls(error.to_string()),
            },
            None => ConnectFailure::of_io(io),
        }
    }

    fn of(error: &tokio_tungstenite::tungstenite::Error) -> Self {
        use tokio_tungstenite::tungstenite::Error;
        match error {
            Error::Io(io) => ConnectFailure::of_io(io),
            Error::Http(response) => {
                ConnectFailure::NotConclave(format!("HTTP {}", response.status()))
            }
            Error::Url(url) => ConnectFailure::Other(url.to_string()),
            other => ConnectFailure::NotConclave(other.to_string()),
        }
    }

    fn sentence(&self, host: &str) -> String {
        match self {
            ConnectFailure::Refused => format!(
                "Nothing is answering at {host}. Check the address, and that the meeting's server is running."
            ),
            ConnectFailure::Unreachable => format!(
                "{host} cannot be reached from this computer. Check the address and your network connection."
            ),
            ConnectFailure::UnknownHost => {
                format!("No computer called {host} was found. Check the address.")
            }
            ConnectFailure::NotConclave(what) => format!(
                "{host} answered, but it is not a Conclave server ({what}). Check the address and port."
            ),
            ConnectFailure::Certificate(CertificateProblem::Untrusted) => format!(
                "{host} has a certificate this computer does not trust. Join with the host's room link, which names its certificate."
            ),
            ConnectFailure::Certificate(CertificateProblem::NotThePinnedOne) => format!(
                "{host} is not the server the link was made for (its certificate differs). Ask the host for a new link."
            ),
            ConnectFailure::Certificate(CertificateProblem::Expired) => format!(
                "{host} has an expired certificate. Its operator must renew it (or this computer's clock is wrong)."
            ),
            ConnectFailure::Tls(what) => format!(
                "{host} did not set up an encrypted connection ({what}). Check the address and port."
            ),
            ConnectFailure::Other(what) => format!("Could not connect to {host}: {what}."),
        }
    }
}

/// `HOST:PORT` of a `ws://HOST:PORT/path` URL, as a person typed it.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

/// A byte stream to the server: TCP, or TLS over TCP.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

type Socket = tokio_tungstenite::WebSocketStream<Box<dyn Io>>;

/// Conclave's own protocol over a WebSocket (`docs/protocol.md`).
pub struct WebSocketSignaling {
    socket: Socket,
    /// When the server was last heard from (a message or a ping).
    last_heard: tokio::time::Instant,
}

/// The server pings every second: this much silence is a dead connection,
/// even where the network drops everything and no socket closes.
pub const SERVER_SILENCE: std::time::Duration = std::time::Duration::from_secs(4);

impl WebSocketSignaling {
    /// Connects to `ws://HOST:PORT/ws` or `wss://HOST:PORT/ws`. Over TLS the
    /// server's certificate must be `pin` when given, else one the system's
    /// authorities vouch for.
    pub async fn connect(url: &str, pin: Option<Fingerprint>) -> Result<Self, SignalingError> {
        let host = host_of(url);
        let failed = |why| SignalingError::Connect {
            host: host.clone(),
            why,
        };
        let (secure, address) = match url.split_once("://") {
            Some(("wss", rest)) => (true, rest),
            Some(("ws", rest)) => (false, rest),
            _ => {
                let why = format!("{url} is not a ws:// or wss:// address");
                return Err(failed(ConnectFailure::Other(why)));
            }
        };
        let authority = address.split('/').next().unwrap_or(address);
        let tcp = TcpStream::connect(authority)
            .await
            .map_err(|e| failed(ConnectFailure::of_io(&e)))?;
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn Io> = if secure {
            let name = authority
                .rsplit_once(':')
                .map_or(authority, |(name, _)| name)
                .trim_start_matches('[')
                .trim_end_matches(']');
            let name = ServerName::try_from(name.to_owned())
                .map_err(|e| failed(ConnectFailure::Other(e.to_string())))?;
            let config =
                tls::client_config(pin).map_err(|e| failed(ConnectFailure::Tls(e.to_string())))?;
            let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, tcp)
                .await
                .map_err(|e| failed(ConnectFailure::of_tls(&e, pin.is_some())))?;
            Box::new(tls)
        } else {
            Box::new(tcp)
        };
        let (socket, _) = tokio_tungstenite::client_async(url, stream)
            .await
            .map_err(|e| match refusal(&e) {
                Some(error) => SignalingError::Refused {
                    host: host.clone(),
                    error,
                },
                None => failed(ConnectFailure::of(&e)),
            })?;
        Ok(Self {
            socket,
            last_heard: tokio::time::Instant::now(),
        })
    }
}

/// The server's typed refusal of the upgrade: HTTP 503 or 403 with `{"error": ErrorInfo}`.
fn refusal(error: &tokio_tungstenite::tungstenite::Error) -> Option<ErrorInfo> {
    let tokio_tungstenite::tungstenite::Error::Http(response) = error else {
        return None;
    };
    if ![403, 503].contains(&response.status().as_u16()) {
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
            let deadline = self.last_heard + SERVER_SILENCE;
            let Ok(frame) = tokio::time::timeout_at(deadline, self.socket.next()).await else {
                let silence = SERVER_SILENCE.as_secs();
                let why = format!("nothing from the server for {silence} s");
                return Some(Err(SignalingError::Lost(why)));
            };
            self.last_heard = tokio::time::Instant::now();
            return match frame? {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_dead_server_is_a_sentence_not_an_os_error() {
        // A port nothing listens on: bind one, note it, close it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("ws://127.0.0.1:{port}/ws");
        let Err(error) = WebSocketSignaling::connect(&url, None).await else {
            panic!("connected to nothing");
        };
        let text = error.to_string();
        assert_eq!(
            text,
            format!(
                "Nothing is answering at 127.0.0.1:{port}. Check the address, and that the meeting's server is running."
            )
        );
        assert!(!text.contains("os error"));
    }
}
