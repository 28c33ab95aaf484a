//! One WebSocket connection: frames in to the hub, messages out to the socket.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{Instant, interval, sleep_until};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::hub::{HubInput, Outbox, WsOut};
use crate::rooms::ConnId;

/// How often the server pings, and how long silence may last before the member counts as gone.
const PING_EVERY: Duration = Duration::from_secs(1);
const SILENCE_LIMIT: Duration = Duration::from_secs(4);

pub async fn serve(
    conn: ConnId,
    stream: TcpStream,
    max_frame_bytes: usize,
    hub: mpsc::UnboundedSender<HubInput>,
) {
    let _ = stream.set_nodelay(true);
    let Ok(peer) = stream.peer_addr() else {
        return;
    };
    // The transport refuses frames far over the protocol limit; frames a little
    // over it are read and refused by the room logic with a typed error.
    let transport_limit = max_frame_bytes * 4;
    let config = WebSocketConfig::default()
        .max_message_size(Some(transport_limit))
        .max_frame_size(Some(transport_limit));
    let ws = match tokio_tungstenite::accept_async_with_config(stream, Some(config)).await {
        Ok(ws) => ws,
        Err(err) => {
            tracing::debug!(%err, "WebSocket handshake failed");
            return;
        }
    };
    let (mut sink, mut source) = ws.split();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel();
    let _ = hub.send(HubInput::Connected {
        conn,
        ip: peer.ip(),
        outbox: Outbox(out_tx),
    });

    let mut pings = interval(PING_EVERY);
    let mut deadline = Instant::now() + SILENCE_LIMIT;
    loop {
        tokio::select! {
            frame = source.next() => match frame {
                Some(Ok(message)) => {
                    deadline = Instant::now() + SILENCE_LIMIT;
                    match message {
                        Message::Text(text) => { let _ = hub.send(HubInput::Frame { conn, text: text.to_string() }); }
                        Message::Binary(bytes) => {
                            let text = String::from_utf8_lossy(&bytes).into_owned();
                            let _ = hub.send(HubInput::Frame { conn, text });
                        }
                        Message::Close(_) => break,
                        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                    }
                }
                Some(Err(WsError::Capacity(CapacityError::MessageTooLong { size, .. }))) => {
                    let _ = hub.send(HubInput::Oversized { conn, size });
                    // The stream cannot be resynchronised after a refused frame: say why, then close.
                    flush_and_close(&mut sink, &mut out_rx).await;
                    break;
                }
                Some(Err(err)) => {
                    tracing::debug!(?conn, %err, "socket error");
                    break;
                }
                None => break,
            },
            out = out_rx.recv() => match out {
                Some(WsOut::Message(msg)) => {
                    let text = serde_json::to_string(&msg).expect("server messages serialize");
                    if sink.send(Message::text(text)).await.is_err() { break; }
                }
                Some(WsOut::Close) | None => {
                    let _ = sink.send(Message::Close(None)).await;
                    break;
                }
            },
            _ = pings.tick() => {
                if sink.send(Message::Ping(Default::default())).await.is_err() { break; }
            }
            _ = sleep_until(deadline) => {
                tracing::info!(?conn, "no traffic for {SILENCE_LIMIT:?}; dropping");
                break;
            }
        }
    }
    let _ = hub.send(HubInput::Disconnected { conn });
}

/// Sends what the hub queued (the error for the refused frame), then closes.
async fn flush_and_close<S>(sink: &mut S, out_rx: &mut mpsc::UnboundedReceiver<WsOut>)
where
    S: SinkExt<Message> + Unpin,
{
    let until = Instant::now() + Duration::from_millis(200);
    while let Ok(Some(WsOut::Message(msg))) = tokio::time::timeout_at(until, out_rx.recv()).await {
        let text = serde_json::to_string(&msg).expect("server messages serialize");
        let _ = sink.send(Message::text(text)).await;
    }
    let _ = sink.send(Message::Close(None)).await;
}
