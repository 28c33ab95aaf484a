//! One WebSocket connection: frames in to the hub, messages out to the socket.
//!
//! Reading and writing run side by side in one task, so a socket that does
//! not drain never stops the reading side from noticing silence. Deadlines:
//!
//! - the WebSocket handshake and the `hello` must both be done within
//!   `hello_timeout` of the TCP accept (the hub's `welcome` going out is
//!   how this side knows `hello` was accepted);
//! - nothing received for [`SILENCE_LIMIT`]: dropped (the server pings every
//!   [`PING_EVERY`]);
//! - one outgoing message not written within [`SILENCE_LIMIT`], or more
//!   waiting than the outgoing queue holds: dropped;
//! - an incoming message unfinished for `message_timeout`, or the server's
//!   budget for unfinished messages spent: dropped.
//!
//! A dropped connection goes to the hub as `Disconnected`; its member leaves
//! with reason `disconnected`.
//!
//! With TLS, its handshake comes first and counts towards `hello_timeout`.
//! A browser's upgrade request carries an `Origin`; one not allowed
//! ([`Origins`]) is refused with HTTP 403 and `origin_refused`, so no web
//! page the user happens to have open can join meetings in their name.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use conclave_protocol::{ErrorCode, ErrorInfo, ServerMessage};
use futures_util::{Sink, SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{Instant, interval, sleep_until, timeout, timeout_at};
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{StatusCode, header};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::ConnectionLimits;
use crate::gate::{Refusal, Ticket};
use crate::hub::HubInput;
use crate::metered::{Budget, Meter, Metered};
use crate::outqueue::{Next, Outbox};
use crate::rooms::ConnId;

/// How often the server pings, and how long silence may last before the member counts as gone.
/// A write that does not finish within the same limit counts as gone too.
pub const PING_EVERY: Duration = Duration::from_secs(1);
pub const SILENCE_LIMIT: Duration = Duration::from_secs(4);
/// Refusals being answered at once; past this, refused sockets are just closed.
const MAX_REFUSING: usize = 64;
/// How long a refused client has to send its request and read the 503.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(2);

/// Which web pages may open a connection: the server's own (a page it
/// serves, at the address the browser used) and those listed. A request with
/// no `Origin` is a native client (the app, the bot), which browsers cannot
/// pretend to be.
#[derive(Clone, Debug, Default)]
pub struct Origins {
    /// Exactly as browsers send them: `https://meet.example.org`.
    pub allowed: Vec<String>,
}

impl Origins {
    fn admits(&self, origin: Option<&str>, host: Option<&str>, tls: bool) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        let own = host.map(|host| format!("{}://{host}", if tls { "https" } else { "http" }));
        own.as_deref() == Some(origin) || self.allowed.iter().any(|allowed| allowed == origin)
    }
}

/// What every connection shares.
pub struct Shared {
    pub hub: mpsc::UnboundedSender<HubInput>,
    pub max_frame_bytes: usize,
    pub limits: ConnectionLimits,
    pub budget: Arc<Budget>,
    tls: Option<TlsAcceptor>,
    origins: Origins,
    refusing: AtomicUsize,
}

impl Shared {
    pub fn new(
        hub: mpsc::UnboundedSender<HubInput>,
        max_frame_bytes: usize,
        limits: ConnectionLimits,
        tls: Option<TlsAcceptor>,
        origins: Origins,
    ) -> Arc<Self> {
        Arc::new(Shared {
            hub,
            max_frame_bytes,
            budget: Budget::new(limits.max_inflight_bytes),
            limits,
            tls,
            origins,
            refusing: AtomicUsize::new(0),
        })
    }

    /// The transport refuses frames and messages over this size (and closes):
    /// a little over the protocol's limit, so frames just over it are read and
    /// refused by the room logic with a typed error, and the connection lives.
    pub fn transport_limit(&self) -> usize {
        self.max_frame_bytes + self.max_frame_bytes / 4
    }
}

/// Why a connection ended.
#[derive(Debug)]
enum End {
    /// The hub closed it (kick, refused frame), or the client did.
    Closed,
    Socket(WsError),
    Silent,
    NoHello,
    QueueFull,
    WriteStalled,
    SlowMessage,
    Oversized,
}

pub async fn serve(conn: ConnId, stream: TcpStream, ticket: Ticket, shared: Arc<Shared>) {
    let hello_deadline = Instant::now() + shared.limits.hello_timeout;
    let _ = stream.set_nodelay(true);
    let Ok(peer) = stream.peer_addr() else {
        return;
    };
    match shared.tls.clone() {
        Some(tls) => match timeout_at(hello_deadline, tls.accept(stream)).await {
            Ok(Ok(stream)) => {
                serve_websocket(conn, stream, peer.ip(), hello_deadline, ticket, shared).await
            }
            Ok(Err(err)) => tracing::debug!(?conn, %err, "TLS handshake failed"),
            Err(_) => tracing::debug!(?conn, "no TLS handshake within the hello timeout"),
        },
        None => serve_websocket(conn, stream, peer.ip(), hello_deadline, ticket, shared).await,
    }
}

/// The upgrade's check: an origin that may not connect gets HTTP 403 with `origin_refused`.
fn check_origin(
    shared: &Shared,
    request: &Request,
    response: Response,
) -> Result<Response, ErrorResponse> {
    let header = |name| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
    };
    let origin = header(header::ORIGIN);
    if shared
        .origins
        .admits(origin, header(header::HOST), shared.tls.is_some())
    {
        return Ok(response);
    }
    let message = format!(
        "web pages from {} may not connect to this server",
        origin.unwrap_or_default()
    );
    Err(error_response(
        StatusCode::FORBIDDEN,
        ErrorInfo::new(ErrorCode::OriginRefused, message),
    ))
}

/// An HTTP refusal of the upgrade with a typed error as its JSON body.
fn error_response(status: StatusCode, error: ErrorInfo) -> ErrorResponse {
    let body = serde_json::json!({ "error": error }).to_string();
    let mut response = ErrorResponse::new(Some(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

async fn serve_websocket<S>(
    conn: ConnId,
    stream: S,
    peer: IpAddr,
    hello_deadline: Instant,
    ticket: Ticket,
    shared: Arc<Shared>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let meter = Meter::new(shared.budget.clone());
    let limit = shared.transport_limit();
    let config = WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit))
        // Grown as messages need; idle connections stay small.
        .read_buffer_size(8 * 1024);
    let handshake = tokio_tungstenite::accept_hdr_async_with_config(
        Metered::new(stream, meter.clone()),
        |request: &Request, response| check_origin(&shared, request, response),
        Some(config),
    );
    let ws = match timeout_at(hello_deadline, handshake).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(err)) => {
            tracing::debug!(?conn, %err, "WebSocket handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(
                ?conn,
                "no WebSocket handshake within the hello timeout; closing"
            );
            return;
        }
    };
    // The handshake's bytes are not part of a message.
    meter.message_done();
    let (mut sink, mut source) = ws.split();
    let outbox = Outbox::new(shared.limits.max_queued_bytes);
    let _ = shared.hub.send(HubInput::Connected {
        conn,
        ip: peer,
        outbox: outbox.clone(),
    });

    let mut greeted = false;
    let end = {
        let writer = write_loop(&mut sink, &outbox);
        tokio::pin!(writer);
        let mut silence = Instant::now() + SILENCE_LIMIT;
        let mut checks = interval(Duration::from_secs(1));
        let end = loop {
            tokio::select! {
                end = &mut writer => break end,
                frame = source.next() => match frame {
                    Some(Ok(message)) => {
                        silence = Instant::now() + SILENCE_LIMIT;
                        let text = match message {
                            Message::Text(text) => text.to_string(),
                            Message::Binary(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                            Message::Close(_) => {
                                meter.message_done();
                                break End::Closed;
                            }
                            Message::Ping(payload) | Message::Pong(payload) => {
                                meter.control_done(payload.len());
                                continue;
                            }
                            Message::Frame(_) => continue,
                        };
                        meter.message_done();
                        if ticket.take_token() {
                            let _ = shared.hub.send(HubInput::Frame { conn, text });
                        } else {
                            outbox.send(rate_limited(&shared.limits));
                        }
                    }
                    Some(Err(WsError::Capacity(CapacityError::MessageTooLong { size, .. }))) => {
                        // The stream cannot be resynchronised after a refused frame:
                        // the hub says why and closes.
                        let _ = shared.hub.send(HubInput::Oversized { conn, size });
                        break End::Oversized;
                    }
                    Some(Err(err)) => break End::Socket(err),
                    None => break End::Closed,
                },
                _ = sleep_until(silence) => break End::Silent,
                _ = sleep_until(hello_deadline), if !greeted => {
                    greeted = outbox.greeted();
                    if !greeted {
                        break End::NoHello;
                    }
                }
                _ = checks.tick() => {
                    let unfinished = meter.unfinished_for(std::time::Instant::now());
                    if unfinished.is_some_and(|d| d > shared.limits.message_timeout) {
                        break End::SlowMessage;
                    }
                }
            }
        };
        if matches!(end, End::Oversized) {
            // Let the writer send the error and the close.
            let _ = timeout(Duration::from_secs(1), &mut writer).await;
        }
        end
    };
    // Nothing more is kept for this connection.
    outbox.shut();
    let member = greeted || outbox.greeted();
    let goodbye = match &end {
        End::NoHello => Some(format!(
            "no hello within {} s",
            shared.limits.hello_timeout.as_secs_f64()
        )),
        End::SlowMessage => Some(format!(
            "a message took over {} s to arrive",
            shared.limits.message_timeout.as_secs_f64()
        )),
        _ => None,
    };
    if let Some(reason) = goodbye {
        let close = CloseFrame {
            code: CloseCode::Policy,
            reason: reason.into(),
        };
        let _ = timeout(
            Duration::from_secs(1),
            sink.send(Message::Close(Some(close))),
        )
        .await;
    }
    match &end {
        End::Closed | End::Oversized => tracing::debug!(?conn, "closed"),
        End::Socket(err) => tracing::debug!(?conn, %err, "socket error"),
        other if member => tracing::info!(?conn, reason = ?other, "dropping the connection"),
        other => tracing::debug!(?conn, reason = ?other, "dropping the connection"),
    }
    let _ = shared.hub.send(HubInput::Disconnected { conn });
    drop(ticket);
}

/// Writes what the outbox holds, one message at a time, each within
/// [`SILENCE_LIMIT`], and pings every [`PING_EVERY`].
async fn write_loop<S>(sink: &mut S, outbox: &Outbox) -> End
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    let mut next_ping = Instant::now() + PING_EVERY;
    loop {
        if Instant::now() >= next_ping {
            next_ping = Instant::now() + PING_EVERY;
            if let Err(end) = send(sink, Message::Ping(Default::default())).await {
                return end;
            }
        }
        match outbox.pop() {
            Next::Message(text) => {
                if let Err(end) = send(sink, Message::text(text)).await {
                    return end;
                }
            }
            Next::Close => {
                let _ = timeout(SILENCE_LIMIT, sink.send(Message::Close(None))).await;
                return End::Closed;
            }
            Next::Overflowed => return End::QueueFull,
            Next::Empty => {
                tokio::select! {
                    _ = outbox.pushed() => {}
                    _ = sleep_until(next_ping) => {}
                }
            }
        }
    }
}

async fn send<S>(sink: &mut S, message: Message) -> Result<(), End>
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    match timeout(SILENCE_LIMIT, sink.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(End::Socket(err)),
        Err(_) => Err(End::WriteStalled),
    }
}

fn rate_limited(limits: &ConnectionLimits) -> ServerMessage {
    ServerMessage::Error {
        id: None,
        error: ErrorInfo::new(
            ErrorCode::RateLimited,
            format!(
                "more than {} messages per second from your address; this one was dropped",
                limits.max_messages_per_second_per_ip
            ),
        ),
    }
}

/// A connection over a cap: answer its upgrade request with HTTP 503 and a
/// `too_many_connections` error, or, when too many refusals are under way
/// already, just close it.
pub fn refuse(stream: TcpStream, peer: IpAddr, refusal: Refusal, shared: &Arc<Shared>) {
    if shared.refusing.fetch_add(1, Ordering::Relaxed) >= MAX_REFUSING {
        shared.refusing.fetch_sub(1, Ordering::Relaxed);
        return;
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        let error = ErrorInfo::new(ErrorCode::TooManyConnections, refusal.to_string());
        let answer = |_: &Request, _: Response| -> Result<Response, ErrorResponse> {
            Err(error_response(StatusCode::SERVICE_UNAVAILABLE, error))
        };
        let _ = timeout(REFUSAL_TIMEOUT, async {
            match &shared.tls {
                Some(tls) => {
                    if let Ok(stream) = tls.accept(stream).await {
                        let _ = tokio_tungstenite::accept_hdr_async(stream, answer).await;
                    }
                }
                None => {
                    let _ = tokio_tungstenite::accept_hdr_async(stream, answer).await;
                }
            }
        })
        .await;
        tracing::debug!(%peer, "refused: {refusal}");
        shared.refusing.fetch_sub(1, Ordering::Relaxed);
    });
}
