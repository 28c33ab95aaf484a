//! The fast path for video: decoded frames from Rust to the webview.
//!
//! Two transports carry the same binary frames and the same answers (see
//! [`FramePath`]): a WebSocket on loopback, guarded by a per-launch secret in
//! its URL, so no other local program or web page can watch the camera; or a
//! Tauri `ipc::Channel`, which only the app's own webview can open. The UI
//! says which tiles it shows and at what size; each frame is scaled here to
//! that size and sent as I420 (1.5 bytes a pixel, for WebGL to convert) or
//! as RGBA converted here (4 bytes a pixel, drawn as it is), as the frame path
//! says. Tracks without a visible tile are not sent at all.
//!
//! Each tile watches its track's frame slot ([`FrameSlot`]), so a new frame
//! wakes the socket at once and none is missed while another is being sent.
//! Scaling runs on a blocking thread, never on the async runtime.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use conclave_client::{DecodedFrame, FrameSlot, RemoteMedia};
use conclave_media::I420Frame;
use conclave_protocol::MemberId;
use conclave_server::accept::Acceptor;
use futures_util::stream::{BoxStream, SplitSink};
use futures_util::{SinkExt, StreamExt};
use tauri::ipc::{Channel, InvokeResponseBody};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;

use crate::api::{
    FRAMES_IN_FLIGHT, FrameDrawn, FrameHeader, FramePath, FramePixels, FrameSocketText, TileId,
    TileRequest,
};

/// The local member's own preview, under this member id.
pub const SELF_ID: &str = "self";

/// Where frames come from: the call's remote media, and the local preview.
pub struct FrameHub {
    remote: watch::Sender<Option<Arc<RemoteMedia>>>,
    preview: watch::Sender<Option<DecodedFrame>>,
    path: FramePath,
    /// The pixels every frame is sent as.
    pixels: FramePixels,
    /// The page's text messages to the open IPC channel, if one is open.
    channel_text: Mutex<Option<mpsc::Sender<FrameSocketText>>>,
    /// The tiles the page shows now, and how big (the call asks the server
    /// for video layers that fit them).
    shown: watch::Sender<Vec<TileRequest>>,
}

impl Default for FrameHub {
    fn default() -> Self {
        FrameHub::new(FramePath::default())
    }
}

/// Subscriptions and answers waiting for the IPC channel's loop: the page
/// sends one answer per frame it got, and at most two frames per tile are
/// unanswered, so this fills only if the loop stalls (then the page waits).
const CHANNEL_TEXT_QUEUE: usize = 64;

impl FrameHub {
    pub fn new(path: FramePath) -> Self {
        FrameHub {
            remote: watch::Sender::new(None),
            preview: watch::Sender::new(None),
            path,
            pixels: path.pixels(),
            channel_text: Mutex::new(None),
            shown: watch::Sender::new(Vec::new()),
        }
    }

    /// The tiles the page shows, as they change.
    pub fn shown(&self) -> watch::Receiver<Vec<TileRequest>> {
        self.shown.subscribe()
    }

    pub fn set_remote(&self, remote: Option<Arc<RemoteMedia>>) {
        self.remote.send_replace(remote);
    }

    /// The local preview's newest frame and when it was captured (Unix ms).
    pub fn set_preview(&self, frame: Option<(Arc<I420Frame>, f64)>) {
        self.preview
            .send_replace(frame.map(|(frame, at_ms)| DecodedFrame::new(frame, at_ms)));
    }

    pub fn path(&self) -> FramePath {
        self.path
    }

    /// The page opened an IPC channel for frames: they go there from now on,
    /// and a channel opened before (a reloaded page's) is closed.
    pub fn open_channel(self: &Arc<Self>, channel: Channel<InvokeResponseBody>) {
        let (text_tx, text_rx) = mpsc::channel(CHANNEL_TEXT_QUEUE);
        *self.channel_text.lock().unwrap() = Some(text_tx);
        let incoming = tokio_stream_of(text_rx);
        tokio::spawn(pump(self.clone(), ChannelSink(channel), incoming));
    }

    /// A text message from the page for the IPC channel's loop (the same JSON
    /// as on the frame socket). False if it is no frame message, or no channel is open.
    pub async fn channel_text(&self, text: &str) -> bool {
        let Ok(message) = serde_json::from_str::<FrameSocketText>(text) else {
            return false;
        };
        let sender = self.channel_text.lock().unwrap().clone();
        match sender {
            Some(sender) => sender.send(message).await.is_ok(),
            None => false,
        }
    }

    /// The slot a tile's frames come from, if there is one now.
    fn slot(&self, tile: &TileRequest, remote: Option<&RemoteMedia>) -> Option<FrameSlot> {
        if tile.member_id == SELF_ID {
            return Some(self.preview.subscribe());
        }
        Some(remote?.frames(&MemberId(tile.member_id.clone()), tile.kind))
    }
}

pub struct FrameServer {
    /// `ws://127.0.0.1:PORT/frames?token=TOKEN`
    pub url: String,
}

/// Starts the frame socket on an ephemeral loopback port.
pub async fn start(hub: Arc<FrameHub>) -> std::io::Result<FrameServer> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
    let port = listener.local_addr()?.port();
    let token: String = (0..32)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    let url = format!("ws://127.0.0.1:{port}/frames?token={token}");
    // A failed accept (out of descriptors, say) is waited out, never the end.
    let mut acceptor = Acceptor::new(listener, "frame socket");
    tokio::spawn(async move {
        loop {
            let (stream, _) = acceptor.accept().await;
            tokio::spawn(serve(stream, hub.clone(), token.clone()));
        }
    });
    Ok(FrameServer { url })
}

/// What one connection shows: the tiles and, for each, the slot it watches.
struct Tiles {
    tiles: Vec<(TileRequest, Option<FrameSlot>)>,
    /// Held so the slots' senders live as long as the slots are watched.
    _remote: Option<Arc<RemoteMedia>>,
}

impl Tiles {
    fn watch(hub: &FrameHub, requests: Vec<TileRequest>) -> Tiles {
        let remote = hub.remote.borrow().clone();
        let tiles = requests
            .into_iter()
            .map(|tile| {
                let slot = hub.slot(&tile, remote.as_deref());
                (tile, slot)
            })
            .collect();
        Tiles {
            tiles,
            _remote: remote,
        }
    }

    fn requests(&self) -> Vec<TileRequest> {
        self.tiles.iter().map(|(tile, _)| tile.clone()).collect()
    }

    /// Waits until any tile's slot has a new frame.
    async fn changed(&mut self) {
        let waits: Vec<_> = self
            .tiles
            .iter_mut()
            .filter_map(|(_, slot)| slot.as_mut())
            .map(|slot| {
                Box::pin(async move {
                    if slot.changed().await.is_err() {
                        // The source is gone; another wake-up replaces it.
                        std::future::pending::<()>().await;
                    }
                })
            })
            .collect();
        if waits.is_empty() {
            return std::future::pending().await;
        }
        futures_util::future::select_all(waits).await;
    }
}

async fn serve(stream: TcpStream, hub: Arc<FrameHub>, token: String) {
    let _ = stream.set_nodelay(true);
    let expected = format!("token={token}");
    let check = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        let authorised =
            request.uri().path() == "/frames" && request.uri().query() == Some(expected.as_str());
        if authorised {
            Ok(response)
        } else {
            let mut refusal = ErrorResponse::new(Some("a valid token is required".into()));
            *refusal.status_mut() = StatusCode::FORBIDDEN;
            Err(refusal)
        }
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, check).await else {
        return;
    };
    let (sink, source) = ws.split();
    // The socket's text messages, until it closes or fails.
    let incoming = futures_util::stream::unfold(source, |mut source| async move {
        loop {
            match source.next().await {
                Some(Ok(Message::Text(text))) => {
                    match serde_json::from_str::<FrameSocketText>(&text) {
                        Ok(message) => return Some((message, source)),
                        Err(err) => tracing::debug!(%err, "bad frame socket message"),
                    }
                }
                Some(Ok(_)) => {}
                _ => return None,
            }
        }
    })
    .boxed();
    pump(hub, WebSocketSink(sink), incoming).await;
}

/// Where one connection's binary frames go.
trait FrameSink: Send {
    /// False once the page is gone.
    fn send(&mut self, frame: Vec<u8>) -> impl std::future::Future<Output = bool> + Send;
}

struct WebSocketSink(SplitSink<WebSocketStream<TcpStream>, Message>);

impl FrameSink for WebSocketSink {
    async fn send(&mut self, frame: Vec<u8>) -> bool {
        self.0.send(Message::binary(frame)).await.is_ok()
    }
}

struct ChannelSink(Channel<InvokeResponseBody>);

impl FrameSink for ChannelSink {
    async fn send(&mut self, frame: Vec<u8>) -> bool {
        self.0.send(InvokeResponseBody::Raw(frame)).is_ok()
    }
}

fn tokio_stream_of<T: Send + 'static>(mut rx: mpsc::Receiver<T>) -> BoxStream<'static, T> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}

/// One connection's loop: sends each shown tile's new frames, at most
/// [`FRAMES_IN_FLIGHT`] unanswered per tile, until the page goes.
async fn pump(
    hub: Arc<FrameHub>,
    mut sink: impl FrameSink,
    mut incoming: BoxStream<'static, FrameSocketText>,
) {
    let mut remote_changes = hub.remote.subscribe();
    let mut tiles = Tiles::watch(&hub, Vec::new());
    // The last frame sent per tile, so each frame goes once.
    let mut sent: HashMap<TileId, u64> = HashMap::new();
    let mut in_flight: HashMap<TileId, u32> = HashMap::new();
    let pixels = hub.pixels;
    loop {
        let mut due = Vec::new();
        for (tile, slot) in &mut tiles.tiles {
            let Some(slot) = slot else {
                continue;
            };
            // Marks the slot seen even when the tile must wait: a "drawn"
            // answer wakes this loop, and the frame is still there then.
            let Some(frame) = slot.borrow_and_update().clone() else {
                continue;
            };
            let id = TileId {
                member_id: tile.member_id.clone(),
                kind: tile.kind,
            };
            if sent.get(&id) == Some(&frame.seq)
                || in_flight.get(&id).copied().unwrap_or(0) >= FRAMES_IN_FLIGHT
            {
                continue;
            }
            sent.insert(id.clone(), frame.seq);
            *in_flight.entry(id).or_default() += 1;
            due.push((tile.clone(), frame));
        }
        if !due.is_empty() {
            let Ok(messages) = tokio::task::spawn_blocking(move || {
                due.iter()
                    .map(|(tile, frame)| encode(tile, &frame.frame, frame.at_ms, pixels))
                    .collect::<Vec<_>>()
            })
            .await
            else {
                return;
            };
            for message in messages {
                if !sink.send(message).await {
                    return;
                }
            }
        }
        tokio::select! {
            message = incoming.next() => match message {
                Some(FrameSocketText::Subscription(subscription)) => {
                    hub.shown.send_replace(subscription.tiles.clone());
                    tiles = Tiles::watch(&hub, subscription.tiles);
                    let shown = tiles.requests();
                    in_flight.retain(|id, _| shown.iter().any(|t| t.member_id == id.member_id && t.kind == id.kind));
                }
                Some(FrameSocketText::Drawn(FrameDrawn { drawn })) => {
                    if let Some(count) = in_flight.get_mut(&drawn) {
                        *count = count.saturating_sub(1);
                    }
                }
                None => return,
            },
            changed = remote_changes.changed() => {
                if changed.is_err() {
                    return;
                }
                tiles = Tiles::watch(&hub, tiles.requests());
            }
            _ = tiles.changed() => {}
        }
    }
}

/// The binary frame defined by [`FrameHeader`], scaled to the tile.
fn encode(
    tile: &TileRequest,
    frame: &I420Frame,
    decoded_at_ms: f64,
    pixels: FramePixels,
) -> Vec<u8> {
    let (width, height) = fit(frame.width, frame.height, tile.width, tile.height);
    let scaled;
    let frame = if (width, height) == (frame.width, frame.height) {
        frame
    } else {
        scaled = frame.scaled(width, height);
        &scaled
    };
    let header = FrameHeader {
        kind: tile.kind,
        pixels,
        member_id: &tile.member_id,
        width: frame.width,
        height: frame.height,
        decoded_at_ms,
    };
    let mut out = Vec::new();
    match pixels {
        FramePixels::I420 => {
            out.reserve_exact(header.len() + frame.y.len() * 3 / 2);
            header.write(&mut out);
            out.extend_from_slice(&frame.y);
            out.extend_from_slice(&frame.u);
            out.extend_from_slice(&frame.v);
        }
        FramePixels::Rgba => {
            let start = header.len();
            out.reserve_exact(start + frame.y.len() * 4);
            header.write(&mut out);
            out.resize(start + frame.y.len() * 4, 0);
            i420_to_rgba(frame, &mut out[start..]);
        }
    }
    out
}

/// BT.601 limited range, as the camera pipeline writes it (and as the WebGL
/// shader converts it).
fn i420_to_rgba(frame: &I420Frame, rgba: &mut [u8]) {
    let chroma_width = frame.width.div_ceil(2);
    let image = yuv::YuvPlanarImage {
        y_plane: &frame.y,
        y_stride: frame.width,
        u_plane: &frame.u,
        u_stride: chroma_width,
        v_plane: &frame.v,
        v_stride: chroma_width,
        width: frame.width,
        height: frame.height,
    };
    if let Err(err) = yuv::yuv420_to_rgba(
        &image,
        rgba,
        frame.width * 4,
        yuv::YuvRange::Limited,
        yuv::YuvStandardMatrix::Bt601,
    ) {
        // Planes that do not match the size: a black picture rather than a wrong one.
        tracing::warn!(%err, "I420 to RGBA");
        rgba.fill(0);
    }
}

/// The largest even size with the frame's aspect that fits the tile; never upscaled.
fn fit(width: u32, height: u32, max_width: u32, max_height: u32) -> (u32, u32) {
    if max_width == 0 || max_height == 0 || (width <= max_width && height <= max_height) {
        return (width, height);
    }
    let scale = (max_width as f64 / width as f64).min(max_height as f64 / height as f64);
    let even = |v: f64| ((v as u32) & !1).max(2);
    (even(width as f64 * scale), even(height as f64 * scale))
}

#[cfg(test)]
mod tests {
    use super::*;
    use conclave_protocol::TrackKind;
    use std::time::Duration;

    #[test]
    fn frames_shrink_to_the_tile_keeping_their_shape_and_never_grow() {
        assert_eq!(fit(1280, 720, 640, 640), (640, 360));
        assert_eq!(fit(1280, 720, 320, 180), (320, 180));
        assert_eq!(fit(640, 360, 1920, 1080), (640, 360));
        assert_eq!(fit(1280, 720, 101, 1000), (100, 56));
    }

    #[test]
    fn a_frame_is_its_header_then_its_planes_at_the_tile_size() {
        let frame = I420Frame::new_black(8, 4);
        let tile = TileRequest {
            member_id: "m7".into(),
            kind: TrackKind::Screen,
            width: 4,
            height: 4,
        };
        let bytes = encode(&tile, &frame, 1234.5, FramePixels::I420);
        let mut header = Vec::new();
        FrameHeader {
            kind: TrackKind::Screen,
            pixels: FramePixels::I420,
            member_id: "m7",
            width: 4,
            height: 2,
            decoded_at_ms: 1234.5,
        }
        .write(&mut header);
        assert_eq!(&bytes[..header.len()], &header[..]);
        assert_eq!(bytes.len(), header.len() + 8 + 2 + 2);
    }

    #[test]
    fn an_rgba_frame_is_its_header_then_the_converted_pixels() {
        // Limited-range BT.601: Y 235 is white, 16 black; grey chroma.
        let mut frame = I420Frame::new_black(4, 2);
        frame.y = vec![235, 235, 16, 16, 235, 235, 16, 16];
        frame.u = vec![128, 128];
        frame.v = vec![128, 128];
        let tile = TileRequest {
            member_id: "m7".into(),
            kind: TrackKind::Camera,
            width: 0,
            height: 0,
        };
        let bytes = encode(&tile, &frame, 1.0, FramePixels::Rgba);
        let header = FrameHeader::FIXED_BYTES + 2;
        assert_eq!(bytes[2], FramePixels::Rgba as u8);
        assert_eq!(bytes.len(), header + 4 * 2 * 4);
        let pixel = |x: usize, y: usize| &bytes[header + (y * 4 + x) * 4..][..4];
        for y in 0..2 {
            for (x, level) in [(0, 255), (1, 255), (2, 0), (3, 0)] {
                let p = pixel(x, y);
                assert!(
                    p[..3].iter().all(|&c| c.abs_diff(level) <= 2) && p[3] == 255,
                    "pixel {x},{y} is {p:?}, not {level}"
                );
            }
        }
        // And a colour: pure red is Y 81, U 90, V 240 in limited-range BT.601.
        let mut red = I420Frame::new_black(2, 2);
        red.y = vec![81; 4];
        red.u = vec![90];
        red.v = vec![240];
        let bytes = encode(&tile, &red, 1.0, FramePixels::Rgba);
        let p = &bytes[header..header + 4];
        assert!(
            p[0] >= 250 && p[1] <= 5 && p[2] <= 5,
            "red came out as {p:?}"
        );
    }

    #[tokio::test]
    async fn the_socket_refuses_a_wrong_token() {
        let server = start(Arc::new(FrameHub::default())).await.unwrap();
        let wrong = server.url.rsplit_once('=').unwrap().0.to_owned() + "=0000";
        assert!(tokio_tungstenite::connect_async(wrong).await.is_err());
        assert!(tokio_tungstenite::connect_async(&server.url).await.is_ok());
    }

    /// A frame socket with one tile subscribed: the self view at 64x36.
    async fn watching_self_view(
        hub: &Arc<FrameHub>,
    ) -> (
        FrameServer,
        tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
    ) {
        let server = start(hub.clone()).await.unwrap();
        let (mut ws, _) = tokio_tungstenite::connect_async(&server.url).await.unwrap();
        let subscribe =
            r#"{"tiles":[{"member_id":"self","kind":"camera","width":64,"height":36}]}"#;
        ws.send(Message::text(subscribe)).await.unwrap();
        (server, ws)
    }

    #[tokio::test]
    async fn a_tile_gets_no_more_than_two_unanswered_frames() {
        let hub = Arc::new(FrameHub::default());
        let (_server, mut ws) = watching_self_view(&hub).await;
        let publish_frames = |hub: Arc<FrameHub>| async move {
            for _ in 0..10 {
                hub.set_preview(Some((Arc::new(I420Frame::new_black(64, 36)), 0.0)));
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        };
        let (_, unanswered) = tokio::join!(publish_frames(hub.clone()), count_frames(&mut ws));
        assert_eq!(
            unanswered, FRAMES_IN_FLIGHT,
            "ten new frames, none answered"
        );
        ws.send(Message::text(
            r#"{"drawn":{"member_id":"self","kind":"camera"}}"#,
        ))
        .await
        .unwrap();
        let (_, after_answer) = tokio::join!(publish_frames(hub.clone()), count_frames(&mut ws));
        assert_eq!(after_answer, 1, "one answer frees one slot");
    }

    #[tokio::test]
    async fn the_newest_frame_always_arrives_however_fast_frames_come() {
        let hub = Arc::new(FrameHub::default());
        let (_server, mut ws) = watching_self_view(&hub).await;
        let publisher = hub.clone();
        let publish = tokio::spawn(async move {
            for i in 1..=300 {
                publisher.set_preview(Some((Arc::new(I420Frame::new_black(64, 36)), i as f64)));
                if i % 10 == 0 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        });
        let drawn = r#"{"drawn":{"member_id":"self","kind":"camera"}}"#;
        let mut last = 0.0;
        let mut received = 0;
        while let Ok(Some(Ok(Message::Binary(bytes)))) =
            tokio::time::timeout(Duration::from_millis(500), ws.next()).await
        {
            // "self": 4 bytes of id, so the time is at 5 + 4 + 4 + 8.
            last = f64::from_le_bytes(bytes[17..25].try_into().unwrap());
            received += 1;
            ws.send(Message::text(drawn)).await.unwrap();
        }
        publish.await.unwrap();
        assert_eq!(
            last, 300.0,
            "the last frame is sent, after {received} others"
        );
    }

    /// A channel as the page's would be, counting what reaches it.
    fn counting_channel() -> (Channel<InvokeResponseBody>, Arc<Mutex<Vec<Vec<u8>>>>) {
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = got.clone();
        let channel = Channel::new(move |body| {
            if let InvokeResponseBody::Raw(bytes) = body {
                sink.lock().unwrap().push(bytes);
            }
            Ok(())
        });
        (channel, got)
    }

    #[tokio::test]
    async fn the_ipc_channel_carries_rgba_frames_with_the_same_two_frame_limit() {
        let hub = Arc::new(FrameHub::new(FramePath::ChannelRgba2d));
        assert!(
            !hub.channel_text(r#"{"drawn":{"member_id":"self","kind":"camera"}}"#)
                .await,
            "no channel is open yet"
        );
        let (channel, got) = counting_channel();
        hub.open_channel(channel);
        let subscribe =
            r#"{"tiles":[{"member_id":"self","kind":"camera","width":64,"height":36}]}"#;
        assert!(hub.channel_text(subscribe).await);
        assert!(!hub.channel_text("not a frame message").await);
        let publish_frames = |hub: Arc<FrameHub>| async move {
            for _ in 0..10 {
                hub.set_preview(Some((Arc::new(I420Frame::new_black(64, 36)), 0.0)));
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        };
        publish_frames(hub.clone()).await;
        {
            let frames = got.lock().unwrap();
            assert_eq!(
                frames.len() as u32,
                FRAMES_IN_FLIGHT,
                "ten new frames, none answered"
            );
            let frame = &frames[0];
            assert_eq!(frame[2], FramePixels::Rgba as u8);
            assert_eq!(frame.len(), FrameHeader::FIXED_BYTES + 4 + 64 * 36 * 4);
        }
        assert!(
            hub.channel_text(r#"{"drawn":{"member_id":"self","kind":"camera"}}"#)
                .await
        );
        publish_frames(hub.clone()).await;
        assert_eq!(
            got.lock().unwrap().len() as u32,
            FRAMES_IN_FLIGHT + 1,
            "one answer frees one slot"
        );

        // A reloaded page opens another: the old one gets nothing more.
        let (second, got_second) = counting_channel();
        hub.open_channel(second);
        assert!(hub.channel_text(subscribe).await);
        publish_frames(hub.clone()).await;
        assert_eq!(got.lock().unwrap().len() as u32, FRAMES_IN_FLIGHT + 1);
        assert_eq!(got_second.lock().unwrap().len() as u32, FRAMES_IN_FLIGHT);
    }

    async fn count_frames(
        ws: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>,
    ) -> u32 {
        let mut n = 0;
        while let Ok(Some(Ok(Message::Binary(_)))) =
            tokio::time::timeout(Duration::from_millis(400), ws.next()).await
        {
            n += 1;
        }
        n
    }
}
