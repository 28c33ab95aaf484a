//! The hub: one task that owns the room state and the SFU's wiring.
//!
//! Connections and peer tasks send it [`HubInput`]s; it feeds them to the
//! sans-IO [`Rooms`] and carries out the outputs: messages to sockets, and
//! media actions on peers and forwarders. Because one task owns all state,
//! there are no locks around rooms and no ordering races between members.
//! It never awaits anything but its next input: whatever touches a peer
//! connection is handed to that peer's task or to a forwarder's task.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::turn::TurnConfig;
use conclave_protocol::TrackKind;
use conclave_protocol::clock::unix_ms;
use conclave_rtc::MediaNetwork;
use tokio::sync::{mpsc, oneshot};
use webrtc::media_stream::track_remote::TrackRemote;

use crate::forwarder::Forwarder;
use crate::peer::{self, PeerCommand, PeerHandle};
use crate::rooms::{Adopt, ConnId, LinkReport, MediaAction, Output, Rooms};

pub use crate::outqueue::Outbox;

pub enum HubInput {
    Connected {
        conn: ConnId,
        ip: IpAddr,
        outbox: Outbox,
    },
    Frame {
        conn: ConnId,
        text: String,
    },
    Oversized {
        conn: ConnId,
        size: usize,
    },
    Disconnected {
        conn: ConnId,
    },
    /// A member's peer task made a new offer; it goes out through the room
    /// state, which checks the answer against it.
    Offered {
        conn: ConnId,
        sdp: String,
    },
    /// A track (or one simulcast layer of it) arrived from a member.
    Published {
        conn: ConnId,
        kind: TrackKind,
        level: u8,
        track: Arc<dyn TrackRemote>,
    },
    /// A member's link, measured by its media task.
    Link {
        conn: ConnId,
        report: LinkReport,
    },
    /// The simulcast layers a member now receives, by publisher.
    Layers {
        conn: ConnId,
        layers: Vec<(ConnId, TrackKind, Option<u8>)>,
    },
    /// The server is stopping: end every meeting, then say so on `done`.
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

pub struct Hub {
    rooms: Rooms,
    network: MediaNetwork,
    /// TURN for the server's own side of each media connection (a host
    /// members cannot reach directly); `None` for a reachable server.
    relay: Option<TurnConfig>,
    inputs: mpsc::UnboundedSender<HubInput>,
    /// Each session's outgoing queue: its socket's, or since a resume the
    /// socket that resumed it.
    outboxes: HashMap<ConnId, Outbox>,
    /// Sockets that resumed a session, to that session (other sockets are
    /// their own session).
    resumed: HashMap<ConnId, ConnId>,
    /// Sockets replaced by a resume before they closed: what they still say is ignored.
    superseded: std::collections::HashSet<ConnId>,
    peers: HashMap<ConnId, PeerHandle>,
    forwarders: HashMap<(ConnId, TrackKind), Arc<Forwarder>>,
    /// The largest camera layer each member says it sends, when not the
    /// full one (`set_sent_layers`), for its camera's next forwarder too.
    camera_largest_sent: HashMap<ConnId, u8>,
}

impl Hub {
    pub fn new(
        rooms: Rooms,
        network: MediaNetwork,
        relay: Option<TurnConfig>,
        inputs: mpsc::UnboundedSender<HubInput>,
    ) -> Self {
        Self {
            rooms,
            network,
            relay,
            inputs,
            outboxes: HashMap::new(),
            resumed: HashMap::new(),
            superseded: Default::default(),
            peers: HashMap::new(),
            forwarders: HashMap::new(),
            camera_largest_sent: HashMap::new(),
        }
    }

    pub async fn run(mut self, mut inputs: mpsc::UnboundedReceiver<HubInput>) {
        // The room rules' clock: the grace period of members that are away.
        let mut clock = tokio::time::interval(std::time::Duration::from_secs(1));
        clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let input = tokio::select! {
                input = inputs.recv() => match input {
                    Some(input) => input,
                    None => break,
                },
                _ = clock.tick() => {
                    for output in self.rooms.tick(Instant::now()) {
                        self.apply(output);
                    }
                    continue;
                }
            };
            let input = match self.for_session(input) {
                Some(input) => input,
                None => continue,
            };
            let outputs = match input {
                HubInput::Connected { conn, ip, outbox } => {
                    self.rooms.connect(conn, ip, Instant::now());
                    self.outboxes.insert(conn, outbox);
                    Vec::new()
                }
                HubInput::Frame { conn, text } => {
                    self.rooms
                        .handle_frame(conn, &text, Instant::now(), unix_ms())
                }
                HubInput::Oversized { conn, size } => {
                    // The transport cannot read on after a refused frame: say why, then close.
                    let mut outputs = self.rooms.handle_oversized(conn, size);
                    outputs.push(Output::Close { conn });
                    outputs
                }
                HubInput::Disconnected { conn } => {
                    let outputs = self.rooms.disconnect(conn, Instant::now());
                    self.outboxes.remove(&conn);
                    self.resumed.retain(|_, session| *session != conn);
                    outputs
                }
                HubInput::Offered { conn, sdp } => self.rooms.offered(conn, sdp),
                HubInput::Published {
                    conn,
                    kind,
                    level,
                    track,
                } => {
                    self.published(conn, kind, level, track);
                    Vec::new()
                }
                HubInput::Link { conn, report } => self.rooms.link_report(conn, report),
                HubInput::Layers { conn, layers } => self.rooms.video_layers(conn, &layers),
                HubInput::Shutdown { done } => {
                    for output in self.rooms.end_all(Instant::now()) {
                        self.apply(output);
                    }
                    let _ = done.send(());
                    continue;
                }
            };
            for output in outputs {
                self.apply(output);
            }
        }
    }

    /// A socket's input as its session's: a socket that resumed a member
    /// speaks for it; one replaced by a resume says nothing any more.
    fn for_session(&mut self, input: HubInput) -> Option<HubInput> {
        let session = |hub: &mut Hub, socket: ConnId| -> Option<ConnId> {
            if hub.superseded.contains(&socket) {
                return None;
            }
            Some(hub.resumed.get(&socket).copied().unwrap_or(socket))
        };
        Some(match input {
            HubInput::Frame { conn, text } => HubInput::Frame {
                conn: session(self, conn)?,
                text,
            },
            HubInput::Oversized { conn, size } => HubInput::Oversized {
                conn: session(self, conn)?,
                size,
            },
            HubInput::Disconnected { conn } => {
                if self.superseded.remove(&conn) {
                    return None;
                }
                let session = self.resumed.remove(&conn).unwrap_or(conn);
                HubInput::Disconnected { conn: session }
            }
            other => other,
        })
    }

    fn apply(&mut self, output: Output) {
        match output {
            Output::Adopt(Adopt { socket, session }) => {
                let Some(outbox) = self.outboxes.remove(&socket) else {
                    return;
                };
                // The session's old socket, if the server had not noticed it die yet, goes.
                if let Some(old) = self.outboxes.insert(session, outbox) {
                    old.close();
                    let old_socket = (self.resumed.iter())
                        .find(|(_, s)| **s == session)
                        .map_or(session, |(socket, _)| *socket);
                    self.superseded.insert(old_socket);
                }
                self.resumed.retain(|_, s| *s != session);
                self.resumed.insert(socket, session);
            }
            Output::Send { to, msg } => {
                if let Some(outbox) = self.outboxes.get(&to) {
                    outbox.send(msg);
                }
            }
            Output::Close { conn } => {
                if let Some(outbox) = self.outboxes.get(&conn) {
                    outbox.close();
                }
            }
            Output::Media(action) => self.media(action),
        }
    }

    /// Carries out a media action without waiting on any connection: peer
    /// tasks and forwarders do the I/O, so one slow peer never stalls the room.
    fn media(&mut self, action: MediaAction) {
        match action {
            MediaAction::Open { member, peers } => {
                let Some(outbox) = self.outboxes.get(&member).cloned() else {
                    return;
                };
                let relays: Vec<_> = (self.relay.iter())
                    .map(|turn| {
                        turn.credentials(&format!("server-c{}", member.0), unix_ms() / 1000)
                    })
                    .collect();
                let handle = peer::spawn(member, self.network, relays, outbox, self.inputs.clone());
                for publisher in peers {
                    for kind in [TrackKind::Microphone, TrackKind::Camera, TrackKind::Screen] {
                        if kind == TrackKind::Screen && !self.rooms.is_open(publisher, kind) {
                            continue;
                        }
                        if let Some(command) = self.subscription(publisher, kind) {
                            handle.send(command);
                        }
                    }
                }
                self.peers.insert(member, handle);
            }
            MediaAction::Answer { member, sdp } => {
                if let Some(peer) = self.peers.get(&member) {
                    peer.send(PeerCommand::Answer(sdp));
                }
            }
            MediaAction::StartScreen { member, peers } => {
                match self.forwarders.get(&(member, TrackKind::Screen)).cloned() {
                    // Shared before: the slot and the track are still there, just closed.
                    Some(forwarder) => {
                        forwarder.set_open(true);
                        self.subscribe_all(member, TrackKind::Screen, &peers);
                    }
                    None => {
                        if let Some(peer) = self.peers.get(&member) {
                            peer.send(PeerCommand::AddScreenSlot);
                        }
                    }
                }
            }
            MediaAction::StopScreen { member, peers } => {
                if let Some(forwarder) = self.forwarders.get(&(member, TrackKind::Screen)) {
                    forwarder.set_open(false);
                }
                for peer in peers.iter().filter_map(|p| self.peers.get(p)) {
                    peer.send(PeerCommand::Unsubscribe {
                        publisher: member,
                        kind: TrackKind::Screen,
                    });
                }
            }
            MediaAction::VideoSize {
                member,
                publisher,
                kind,
                height,
            } => {
                if let Some(peer) = self.peers.get(&member) {
                    peer.send(PeerCommand::VideoSize {
                        publisher,
                        kind,
                        height,
                    });
                }
            }
            MediaAction::SentLayers {
                member,
                kind,
                largest_level,
            } => {
                if let Some(forwarder) = self.forwarders.get(&(member, kind)) {
                    forwarder.set_largest_sent(largest_level);
                }
                if kind == TrackKind::Camera {
                    self.camera_largest_sent.insert(member, largest_level);
                }
            }
            MediaAction::RestartIce { member } => {
                if let Some(peer) = self.peers.get(&member) {
                    peer.send(PeerCommand::RestartIce);
                }
            }
            MediaAction::Gate { member, kind, open } => {
                if let Some(forwarder) = self.forwarders.get(&(member, kind)) {
                    forwarder.set_open(open);
                }
            }
            MediaAction::Close { member, peers } => {
                // Dropping the handle ends the member's media task, which closes its connection.
                self.peers.remove(&member);
                self.camera_largest_sent.remove(&member);
                self.forwarders
                    .retain(|(publisher, _), _| *publisher != member);
                for peer in peers.iter().filter_map(|p| self.peers.get(p)) {
                    for kind in [TrackKind::Microphone, TrackKind::Camera, TrackKind::Screen] {
                        peer.send(PeerCommand::Unsubscribe {
                            publisher: member,
                            kind,
                        });
                    }
                }
            }
        }
    }

    /// A member's track arrived at the SFU: forward it to the rest of the
    /// room. Another layer of a track already forwarded joins its forwarder.
    fn published(&mut self, conn: ConnId, kind: TrackKind, level: u8, track: Arc<dyn TrackRemote>) {
        if self.rooms.member_id(conn).is_none() || !self.peers.contains_key(&conn) {
            return; // Left while its track was negotiating.
        }
        if let Some(forwarder) = self.forwarders.get(&(conn, kind))
            && !forwarder.has_layer(level)
        {
            forwarder.add_layer(level, track);
            return;
        }
        let open = self.rooms.is_open(conn, kind);
        let forwarder = Forwarder::new(conn, kind, open);
        if kind == TrackKind::Camera
            && let Some(largest) = self.camera_largest_sent.get(&conn)
        {
            forwarder.set_largest_sent(*largest);
        }
        forwarder.add_layer(level, track);
        self.forwarders.insert((conn, kind), forwarder);
        if kind != TrackKind::Screen || open {
            let receivers = self.rooms.media_receivers_of(conn);
            self.subscribe_all(conn, kind, &receivers);
        }
    }

    fn subscribe_all(&self, publisher: ConnId, kind: TrackKind, subscribers: &[ConnId]) {
        for subscriber in subscribers.iter().filter_map(|s| self.peers.get(s)) {
            if let Some(command) = self.subscription(publisher, kind) {
                subscriber.send(command);
            }
        }
    }

    fn subscription(&self, publisher: ConnId, kind: TrackKind) -> Option<PeerCommand> {
        let forwarder = self.forwarders.get(&(publisher, kind))?.clone();
        let publisher_id = self.rooms.member_id(publisher)?;
        Some(PeerCommand::Subscribe {
            forwarder,
            publisher_id,
        })
    }
}
