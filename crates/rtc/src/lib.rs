//! The WebRTC setup that both ends of a Conclave call share.
//!
//! Client and server must agree on codecs (VP8 and Opus only, so offers stay
//! small and nobody transcodes), on feedback (NACK, PLI, FIR), and on how a
//! track says whose it is and what it is. That agreement lives here, once.

mod bandwidth;
mod keyframe_tap;
mod layers;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use conclave_protocol::{IceServer, MemberId, TrackKind};
use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::{
    CongestionControlBuilder, NackGeneratorBuilder, NackResponderBuilder, PacerBuilder,
    TwccReceiverBuilder, TwccSenderBuilder,
};
use rtc::interceptor::{Registry, Slot};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_rtcp_reports, configure_simulcast_extension_headers,
};
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_OPUS, MIME_TYPE_VP8, MediaEngine,
};
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RTCRtpHeaderExtensionCapability, RtpCodecKind,
    TYPE_RTCP_FB_TRANSPORT_CC,
};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfiguration,
    RTCConfigurationBuilder, RTCIceServer, SettingEngineBuilder,
};

pub use bandwidth::{Bandwidth, MIN_ESTIMATE_BPS, PACING_HEADROOM};
pub use keyframe_tap::KeyframeRequestTap;
pub use layers::{
    CAMERA_LEVELS, MAX_LEVELS, PublishedTrack, level_bitrate_kbps, published_track_id,
    vp8_keyframe_size,
};

pub const VP8_PAYLOAD_TYPE: u8 = 96;
pub const OPUS_PAYLOAD_TYPE: u8 = 111;
/// RTP clock of VP8.
pub const VIDEO_CLOCK_RATE: u32 = 90_000;

pub fn vp8_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_VP8.to_owned(),
        clock_rate: VIDEO_CLOCK_RATE,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![RTCPFeedback {
            typ: "ccm".to_owned(),
            parameter: "fir".to_owned(),
        }],
    }
}

pub fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

/// How often the receiving side asks again for packets still missing. The
/// library's default (100 ms) makes a repair take longer than the freeze
/// threshold of a 15 fps video (max(3 × 67, 67 + 150) ms); 20 ms repairs
/// within a frame or two. Each packet is asked for at most
/// [`NACKS_PER_PACKET`] times: at 20% loss each way, a lost packet is still
/// missing after five asks one time in 160 (after three, one in 21: 12
/// freezes a minute in `loss_figures`); ten asks multiplied the traffic of a
/// congested link instead (see BENCHMARKS.md). The library's generator does
/// not wait for a round trip between asks.
pub const NACK_INTERVAL: Duration = Duration::from_millis(20);
pub const NACKS_PER_PACKET: u16 = 5;

/// How many packets may wait in the pacer (about a second of 720p video at
/// the headroom rate); past that, new ones are dropped and NACKs repair.
const PACER_QUEUE: usize = 512;

/// A media engine with exactly VP8 and Opus, plus the interceptors webrtc
/// has by default (NACK generator and responder, RTCP reports), with NACKs
/// every [`NACK_INTERVAL`], send-side congestion control (TWCC feedback
/// both ways, GCC, see [`bandwidth`]) publishing into `bandwidth`, a pacer
/// if `bandwidth` is paced, and our keyframe tap.
fn engine_and_interceptors(bandwidth: &Bandwidth) -> anyhow::Result<(MediaEngine, Registry)> {
    let mut engine = MediaEngine::default();
    engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: vp8_codec(),
            payload_type: VP8_PAYLOAD_TYPE,
            ..Default::default()
        },
        RtpCodecKind::Video,
    )?;
    engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: opus_codec(),
            payload_type: OPUS_PAYLOAD_TYPE,
            ..Default::default()
        },
        RtpCodecKind::Audio,
    )?;
    for parameter in ["", "pli"] {
        engine.register_feedback(
            RTCPFeedback {
                typ: "nack".to_owned(),
                parameter: parameter.to_owned(),
            },
            RtpCodecKind::Video,
        );
    }
    configure_simulcast_extension_headers(&mut engine)?;
    let nack_generator = NackGeneratorBuilder::new()
        .with_interval(NACK_INTERVAL)
        .with_max_nacks_per_packet(NACKS_PER_PACKET)
        .build();
    let registry = Registry::new()
        .with(Slot::NackResponder, NackResponderBuilder::new().build())
        .with(Slot::NackGenerator, nack_generator);
    for kind in [RtpCodecKind::Video, RtpCodecKind::Audio] {
        engine.register_feedback(
            RTCPFeedback {
                typ: TYPE_RTCP_FB_TRANSPORT_CC.to_owned(),
                parameter: String::new(),
            },
            kind,
        );
        engine.register_header_extension(
            RTCRtpHeaderExtensionCapability {
                uri: rtc::sdp::extmap::TRANSPORT_CC_URI.to_owned(),
            },
            kind,
            None,
        )?;
    }
    let registry = registry
        .with(
            Slot::CongestionControl,
            CongestionControlBuilder::new(bandwidth.estimator()).build(),
        )
        .with(Slot::TwccSender, TwccSenderBuilder::new().build())
        .with(Slot::TwccReceiver, TwccReceiverBuilder::new().build());
    let registry = if bandwidth.paced() {
        registry.with(
            Slot::Pacer,
            PacerBuilder::new()
                .with_target_bitrate(bandwidth.target_bps() * PACING_HEADROOM)
                .with_queue_limit(PACER_QUEUE)
                .build(),
        )
    } else {
        registry
    };
    let registry = configure_rtcp_reports(registry);
    // Last in the chain, so the NACK and report interceptors have seen everything first.
    let registry = registry.with(Slot::from(14_000), KeyframeRequestTap::default());
    Ok((engine, registry))
}

/// Where a peer connection's media sockets bind, and the address it tells
/// the other side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaNetwork {
    /// Loopback by default; a LAN address or the wildcard when serving a LAN.
    pub bind_ip: IpAddr,
    /// A server behind 1:1 NAT (most cloud machines) is reached at this
    /// address, not its own: its offers name it too ([`MediaNetwork::announced`]).
    pub public_ip: Option<IpAddr>,
    /// ICE over TCP too, for networks that block UDP: a passive TCP candidate
    /// (a listener of its own, on an ephemeral port: webrtc 0.21 has no
    /// one-port TCP mux) and an active one, which connects to the other
    /// side's passive candidates.
    pub ice_tcp: bool,
    /// Media ports come from this range (one per peer connection, UDP and,
    /// with `ice_tcp`, TCP), so a firewall can open just these; ephemeral
    /// ports without it.
    pub ports: Option<PortRange>,
    /// On an ICE restart, bind new sockets on the interfaces there are now
    /// (a client whose address changed). Not with fixed `ports`: the old
    /// socket still holds its port while the new one binds.
    pub rebind_on_ice_restart: bool,
}

impl MediaNetwork {
    /// Bound to `bind_ip`, announced as it is.
    pub fn local(bind_ip: IpAddr) -> Self {
        MediaNetwork {
            bind_ip,
            public_ip: None,
            ice_tcp: false,
            ports: None,
            rebind_on_ice_restart: false,
        }
    }

    /// `sdp` as the other side should see it: with a public address, every
    /// host candidate gets a twin on that address and the same port (a 1:1
    /// NAT keeps ports), at a lower priority so members on the server's own
    /// network still use the host ones: server-reflexive for UDP, a host
    /// candidate for passive TCP (see [`reflexive_twin`]). Connectivity checks that
    /// reach the twin arrive, through the NAT, at the host candidate's
    /// socket, so nothing else changes. (webrtc 0.21 has a setting for this,
    /// `with_nat_1to1_ips`, that its gatherer never reads.)
    pub fn announced(&self, sdp: &str) -> String {
        let Some(public) = self.public_ip else {
            return sdp.to_owned();
        };
        let mut out = String::with_capacity(sdp.len() * 2);
        for line in sdp.split_inclusive('\n') {
            out.push_str(line);
            if let Some(twin) = reflexive_twin(line.trim_end(), public) {
                out.push_str(&twin);
                out.push_str("\r\n");
            }
        }
        out
    }
}

/// Ports `first..=last`. webrtc 0.21 has no UDP mux (one port for every
/// connection) and no port-range setting, but it binds the addresses it is
/// given, so each connection gets a free port of the range here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl std::str::FromStr for PortRange {
    type Err = String;

    /// `50000-50999`.
    fn from_str(text: &str) -> Result<Self, String> {
        let parsed = text.split_once('-').and_then(|(first, last)| {
            Some(PortRange {
                first: first.trim().parse().ok()?,
                last: last.trim().parse().ok()?,
            })
        });
        match parsed {
            Some(range) if 0 < range.first && range.first <= range.last => Ok(range),
            _ => Err(format!("{text:?} is not a port range like 50000-50999")),
        }
    }
}

/// Where the next search for a free port of a range starts, so connections
/// set up at the same time try different ports.
static NEXT_PORT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl PortRange {
    pub fn size(&self) -> u32 {
        u32::from(self.last - self.first) + 1
    }

    /// A port of the range that `ip` can bind now for UDP (and TCP when
    /// `tcp`), trying each port once, from where the last search stopped.
    fn free_port(&self, ip: IpAddr, tcp: bool) -> Option<u16> {
        let start = NEXT_PORT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        (0..self.size()).find_map(|step| {
            let port = self.first + ((start + step) % self.size()) as u16;
            let address = std::net::SocketAddr::new(ip, port);
            let free = std::net::UdpSocket::bind(address).is_ok()
                && (!tcp || std::net::TcpListener::bind(address).is_ok());
            if free {
                NEXT_PORT.store(start + step + 1, std::sync::atomic::Ordering::Relaxed);
            }
            free.then_some(port)
        })
    }
}

/// The passive TCP candidates of an SDP, as `candidate:...` attributes.
pub fn passive_tcp_candidates(sdp: &str) -> Vec<String> {
    sdp.lines()
        .filter_map(|line| line.trim_end().strip_prefix("a="))
        .filter(|attr| {
            attr.starts_with("candidate:")
                && attr
                    .split(' ')
                    .nth(2)
                    .is_some_and(|t| t.eq_ignore_ascii_case("tcp"))
                && attr.ends_with("tcptype passive")
        })
        .map(str::to_owned)
        .collect()
}

/// `a=candidate:F C udp P IP PORT typ host ...` → the same candidate as
/// `typ srflx` on `public`, related to the host address; `None` for any
/// other line.
fn reflexive_twin(line: &str, public: IpAddr) -> Option<String> {
    let fields: Vec<&str> = line.strip_prefix("a=candidate:")?.split(' ').collect();
    let [
        foundation,
        component,
        transport,
        priority,
        ip,
        port,
        "typ",
        "host",
        ref rest @ ..,
    ] = fields[..]
    else {
        return None;
    };
    // An active TCP candidate only connects out (through the NAT's snat): no twin.
    if rest.windows(2).any(|w| w == ["tcptype", "active"]) {
        return None;
    }
    let rest: String = rest.iter().map(|field| format!(" {field}")).collect();
    // RFC 8445 priorities: type preference 126 for host, 100 for srflx.
    let priority: u32 = priority.parse().ok()?;
    let reflexive_priority = priority.checked_sub(26 << 24)?;
    if transport.eq_ignore_ascii_case("tcp") {
        // webrtc 0.21 reads `tcptype` only right after the type, so a TCP twin
        // is written as a host candidate on the public address (as a 1:1 NAT
        // mapping of the host candidate), at the reflexive priority.
        return Some(format!(
            "a=candidate:{foundation}1 {component} {transport} {reflexive_priority} {public} {port} typ host{rest}"
        ));
    }
    Some(format!(
        "a=candidate:{foundation}1 {component} {transport} {reflexive_priority} {public} {port} typ srflx raddr {ip} rport {port}{rest}"
    ))
}

/// Builds a peer connection on `network`, gathering relay candidates from
/// the TURN servers in `ice_servers` too. Its send direction's estimate goes
/// to `bandwidth`.
///
/// Multicast DNS is off, on both ends. Candidates carry addresses, not
/// `.local` names (the server has nothing to hide, and a client's addresses
/// reach the server anyway in its connectivity checks). And opening the mDNS
/// socket (224.0.0.251:5353) fails with ENODEV on a host with no multicast
/// route, such as a meeting-room LAN with no default route: with it on, such
/// a host could not meet at all.
pub async fn build_peer(
    network: MediaNetwork,
    ice_servers: &[IceServer],
    handler: Arc<dyn PeerConnectionEventHandler>,
    bandwidth: &Bandwidth,
) -> anyhow::Result<Arc<dyn PeerConnection>> {
    let (engine, registry) = engine_and_interceptors(bandwidth)?;
    let runtime =
        webrtc::runtime::default_runtime().ok_or_else(|| anyhow::anyhow!("no async runtime"))?;
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        .with_host_acceptance_min_wait(Some(Duration::ZERO))
        .with_srflx_acceptance_min_wait(Some(NAT_ACCEPTANCE_WAIT))
        .with_prflx_acceptance_min_wait(Some(NAT_ACCEPTANCE_WAIT))
        .with_relay_acceptance_min_wait(Some(RELAY_ACCEPTANCE_WAIT))
        .with_discard_local_candidates_during_ice_restart(network.rebind_on_ice_restart)
        .build();
    let port = match network.ports {
        None => 0,
        Some(range) => range
            .free_port(network.bind_ip, network.ice_tcp)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "every media port of {}-{} is in use",
                    range.first,
                    range.last
                )
            })?,
    };
    let address = format!("{}:{port}", SocketIp(network.bind_ip));
    let peer = PeerConnectionBuilder::new()
        .with_configuration(configuration(ice_servers))
        .with_setting_engine(settings)
        .with_media_engine(engine)
        .with_interceptor_registry(registry)
        .with_handler(handler)
        .with_runtime(runtime)
        .with_udp_addrs(vec![address.clone()])
        .with_tcp_addrs(if network.ice_tcp {
            vec![address]
        } else {
            Vec::new()
        })
        .build()
        .await?;
    Ok(Arc::new(peer))
}

/// The round trip of a connection's selected ICE pair (its consent
/// checks), in milliseconds; `None` before one is measured.
pub fn round_trip_ms(stats: &rtc::statistics::report::RTCStatsReport) -> Option<f64> {
    (stats.candidate_pairs())
        .filter(|pair| pair.nominated && pair.current_round_trip_time > 0.0)
        .map(|pair| pair.current_round_trip_time * 1000.0)
        .next()
}

/// A peer connection's configuration with these STUN and TURN servers.
pub fn configuration(ice_servers: &[IceServer]) -> RTCConfiguration {
    let servers = ice_servers
        .iter()
        .map(|server| RTCIceServer {
            urls: server.urls.clone(),
            username: server.username.clone(),
            credential: server.credential.clone(),
        })
        .collect();
    RTCConfigurationBuilder::new()
        .with_ice_servers(servers)
        .build()
}

/// Formats an IP for a `host:port` string (IPv6 in brackets).
struct SocketIp(IpAddr);
impl std::fmt::Display for SocketIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(ip) => write!(f, "{ip}"),
            IpAddr::V6(ip) => write!(f, "[{ip}]"),
        }
    }
}

/// The track id of a forwarded track: `<member id>:<instance>:<kind>`, where
/// `instance` is a number the SFU never gives twice in one peer connection.
/// Track ids must be unique within a peer connection, and stay unique over its
/// life: the webrtc crate routes packets to remote tracks by track id and never
/// forgets one, so a track that reused an earlier id (the same member's camera
/// again, a second screen share) would not be seen as a new track.
pub fn forwarded_track_id(member: &MemberId, instance: u64, kind: TrackKind) -> String {
    format!("{member}:{instance}:{}", kind.as_str())
}

/// The kind from a track id: `camera` as a client publishes it, or `m7:3:camera` as the SFU forwards it.
pub fn track_kind(track_id: &str) -> Option<TrackKind> {
    TrackKind::parse(track_id.rsplit(':').next().unwrap_or(track_id))
}

/// A local RTP track forwarding `member`'s track of `kind`, sent with `ssrc`.
/// The msid says whose it is: stream id = member id, track id = [`forwarded_track_id`].
pub fn forwarding_track(
    member: &MemberId,
    instance: u64,
    kind: TrackKind,
    ssrc: u32,
) -> Arc<TrackLocalStaticRTP> {
    let stream_id = &member.0;
    let (codec, rtp_kind) = if kind.is_video() {
        (vp8_codec(), RtpCodecKind::Video)
    } else {
        (opus_codec(), RtpCodecKind::Audio)
    };
    let track_id = forwarded_track_id(member, instance, kind);
    let track = MediaStreamTrack::new(
        stream_id.to_owned(),
        track_id.clone(),
        track_id,
        rtp_kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec,
            ..Default::default()
        }],
    );
    Arc::new(TrackLocalStaticRTP::new(track))
}

/// How long the controlling side (the server) waits, once checks start,
/// before it may settle on a pair through a NAT (a server-reflexive or
/// peer-reflexive candidate), and on one through a TURN relay: time for a
/// better pair to succeed first. webrtc's defaults (0.5 s, 1 s and 2 s) cost
/// a member behind NAT, nearly every member, a second of its join: a member's
/// candidates reach the server as peer-reflexive. Direct checks on one
/// network succeed within a round trip, so a tenth of a second is plenty.
pub const NAT_ACCEPTANCE_WAIT: Duration = Duration::from_millis(100);
pub const RELAY_ACCEPTANCE_WAIT: Duration = Duration::from_millis(500);

/// How long to wait for ICE gathering before sending an SDP anyway.
/// On loopback host candidates are ready in milliseconds.
pub const GATHER_TIMEOUT: Duration = Duration::from_secs(3);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_address_is_announced_beside_each_host_candidate() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\
                   a=candidate:1 1 udp 2130706431 10.0.0.2 50123 typ host\r\n\
                   a=end-of-candidates\r\n";
        let network = MediaNetwork {
            bind_ip: "10.0.0.2".parse().unwrap(),
            public_ip: Some("203.0.113.10".parse().unwrap()),
            ice_tcp: true,
            ports: None,
            rebind_on_ice_restart: false,
        };
        let announced = network.announced(sdp);
        assert!(announced.contains(
            "a=candidate:1 1 udp 2130706431 10.0.0.2 50123 typ host\r\n\
             a=candidate:11 1 udp 1694498815 203.0.113.10 50123 typ srflx raddr 10.0.0.2 rport 50123\r\n"
        ), "{announced}");
        assert!(announced.ends_with("a=end-of-candidates\r\n"));
        let tcp = "a=candidate:2 1 tcp 1671430143 10.0.0.2 40111 typ host tcptype passive\r\n\
                   a=candidate:3 1 tcp 1671430143 10.0.0.2 9 typ host tcptype active\r\n";
        let announced = network.announced(tcp);
        assert!(
            announced.contains(
                "a=candidate:21 1 tcp 1235222527 203.0.113.10 40111 typ host tcptype passive\r\n"
            ),
            "{announced}"
        );
        assert_eq!(
            announced.matches("203.0.113.10").count(),
            1,
            "no twin of the active one: {announced}"
        );
        assert_eq!(
            passive_tcp_candidates(&announced),
            [
                "candidate:2 1 tcp 1671430143 10.0.0.2 40111 typ host tcptype passive",
                "candidate:21 1 tcp 1235222527 203.0.113.10 40111 typ host tcptype passive",
            ]
        );
        assert_eq!(
            MediaNetwork::local("10.0.0.2".parse().unwrap()).announced(sdp),
            sdp
        );
    }

    #[test]
    fn media_ports_come_from_the_range_and_skip_taken_ones() {
        let range: PortRange = "47210-47212".parse().unwrap();
        assert_eq!(range.size(), 3);
        assert!("47212-47210".parse::<PortRange>().is_err());
        assert!("0-10".parse::<PortRange>().is_err());
        assert!("fifty".parse::<PortRange>().is_err());
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let mut held = Vec::new();
        for _ in 0..3 {
            let port = range.free_port(ip, true).expect("a free port");
            assert!((47210..=47212).contains(&port));
            held.push(std::net::UdpSocket::bind((ip, port)).unwrap());
        }
        assert_eq!(range.free_port(ip, true), None, "all three are taken");
        drop(held.pop());
        assert!(range.free_port(ip, true).is_some());
    }

    #[test]
    fn a_forwarded_track_id_names_member_instance_and_kind() {
        let id = forwarded_track_id(&MemberId("m7".into()), 3, TrackKind::Screen);
        assert_eq!(id, "m7:3:screen");
        assert_eq!(track_kind(&id), Some(TrackKind::Screen));
        assert_eq!(track_kind("camera"), Some(TrackKind::Camera));
        assert_eq!(track_kind("m7:3:tuba"), None);
    }
}
