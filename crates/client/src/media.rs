//! The media-setup seam: how a session's media is negotiated with an SFU engine.
//!
//! Engines come in two shapes:
//! - **One connection, offered by the server** (Conclave's own server,
//!   [`ConclaveMedia`]). The client adds a send-only transceiver for each
//!   track it publishes; the server offers, again after every change in the
//!   room, and the client answers. Everything travels on [`Link::Both`].
//! - **A publisher connection offered by the client, plus a subscriber
//!   connection offered by the server** (Janus VideoRoom). Publishing a track
//!   makes a new client offer on [`Link::Publisher`], which the server
//!   answers; the server offers the forwarded tracks on [`Link::Subscriber`]
//!   and the client answers.
//!
//! A [`MediaSetup`] hides which one it is: the session hands it local tracks
//! and the server's descriptions, and passes on whatever descriptions it
//! returns. Events and the UI never see the difference.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use rtc::statistics::StatsSelector;
use rtc::statistics::report::RTCStatsReport;
use tokio::sync::watch;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionEventHandler, RTCIceCandidateInit, RTCSessionDescription,
};

use crate::core::Input;
use crate::error::ClientError;
use conclave_protocol::{IceServer, TrackKind};

/// Which peer connection a description belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// The one connection that carries both directions.
    Both,
    /// The client's own tracks, offered by the client.
    Publisher,
    /// Everyone else's tracks, offered by the server.
    Subscriber,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Description {
    Offer(String),
    Answer(String),
}

impl Description {
    pub fn kind(&self) -> &'static str {
        match self {
            Description::Offer(_) => "offer",
            Description::Answer(_) => "answer",
        }
    }
}

/// A description for the server, on its connection.
pub type Outgoing = Option<(Link, Description)>;

#[async_trait::async_trait]
pub trait MediaSetup: Send {
    /// Makes `layers` (a track's simulcast layers, full size first; one for
    /// most tracks) part of what this member publishes. An engine where the
    /// client offers returns that offer.
    async fn publish(
        &mut self,
        kind: TrackKind,
        layers: Vec<Arc<dyn TrackLocal>>,
    ) -> Result<Outgoing, ClientError>;
    /// Applies a description from the server; an offer returns its answer.
    async fn remote_description(
        &mut self,
        link: Link,
        description: Description,
    ) -> Result<Outgoing, ClientError>;
    /// Gathers relay candidates from these TURN servers from now on.
    async fn use_ice_servers(&mut self, servers: &[IceServer]) -> Result<(), ClientError>;
    /// The media connections' W3C statistics (one report per connection).
    async fn stats(&mut self) -> Vec<RTCStatsReport> {
        Vec::new()
    }
    async fn close(&mut self);
}

/// One negotiation step the session asks of its [`MediaSetup`].
pub enum Step {
    Publish(TrackKind, Vec<Arc<dyn TrackLocal>>),
    Remote(Link, Description),
}

/// Runs one step; what the media layer has to say comes back as inputs for the core.
pub async fn negotiate(setup: &mut dyn MediaSetup, step: Step) -> Vec<Input> {
    let mut inputs = Vec::new();
    let outgoing = match step {
        Step::Publish(kind, layers) => match setup.publish(kind, layers).await {
            Ok(outgoing) => {
                inputs.push(Input::Published {
                    kind,
                    result: Ok(()),
                });
                outgoing
            }
            Err(error) => {
                inputs.push(Input::Published {
                    kind,
                    result: Err(error),
                });
                None
            }
        },
        Step::Remote(link, description) => {
            match setup.remote_description(link, description).await {
                Ok(outgoing) => outgoing,
                Err(error) => {
                    inputs.push(Input::MediaFailed(error));
                    None
                }
            }
        }
    };
    if let Some((link, description)) = outgoing {
        inputs.push(Input::LocalDescription(link, description));
    }
    inputs
}

/// Conclave's own server: one peer connection, offered by the server.
pub struct ConclaveMedia {
    pc: Arc<dyn PeerConnection>,
    gathered: watch::Receiver<bool>,
    /// The server's passive TCP candidates already dialled (see `remote_description`).
    dialled: HashSet<String>,
}

impl ConclaveMedia {
    /// `gathered` turns true once ICE gathering is complete (the handler's
    /// job), so answers carry every candidate.
    pub async fn new(
        bind_ip: IpAddr,
        handler: Arc<dyn PeerConnectionEventHandler>,
        gathered: watch::Receiver<bool>,
        uplink: &conclave_rtc::Bandwidth,
    ) -> Result<Self, ClientError> {
        // ICE over TCP too, so a network that blocks UDP can still reach a
        // server that offers TCP candidates.
        // A restart binds anew, for a machine whose address changed.
        let network = conclave_rtc::MediaNetwork {
            ice_tcp: true,
            rebind_on_ice_restart: true,
            ..conclave_rtc::MediaNetwork::local(bind_ip)
        };
        let pc = conclave_rtc::build_peer(network, &[], handler, uplink)
            .await
            .map_err(|e| ClientError::media("cannot set up the media connection", e))?;
        Ok(ConclaveMedia {
            pc,
            gathered,
            dialled: HashSet::new(),
        })
    }
}

#[async_trait::async_trait]
impl MediaSetup for ConclaveMedia {
    async fn publish(
        &mut self,
        _kind: TrackKind,
        layers: Vec<Arc<dyn TrackLocal>>,
    ) -> Result<Outgoing, ClientError> {
        // A send-only transceiver per layer takes a receive slot of the
        // server's in its next offer.
        for layer in layers {
            let init = RTCRtpTransceiverInit {
                direction: RTCRtpTransceiverDirection::Sendonly,
                streams: vec![],
                send_encodings: vec![],
            };
            self.pc
                .add_transceiver_from_track(layer, Some(init))
                .await
                .map_err(|e| ClientError::media("cannot publish a track", e))?;
        }
        Ok(None)
    }

    async fn remote_description(
        &mut self,
        link: Link,
        description: Description,
    ) -> Result<Outgoing, ClientError> {
        let failed = |e| ClientError::media("could not answer the server's offer", e);
        let (Link::Both, Description::Offer(sdp)) = (link, description) else {
            return Err(ClientError::Unsupported(
                "Conclave's server only sends offers on its one connection".into(),
            ));
        };
        let passive_tcp = conclave_rtc::passive_tcp_candidates(&sdp);
        let offer = RTCSessionDescription::offer(sdp).map_err(failed)?;
        self.pc
            .set_remote_description(offer)
            .await
            .map_err(failed)?;
        // webrtc 0.21 dials a passive TCP candidate only when it comes through
        // `add_ice_candidate`, not in the SDP: hand each new one over once.
        for candidate in passive_tcp {
            if self.dialled.insert(candidate.clone()) {
                let init = RTCIceCandidateInit {
                    candidate,
                    sdp_mline_index: Some(0),
                    ..Default::default()
                };
                if let Err(err) = self.pc.add_ice_candidate(init).await {
                    tracing::debug!(%err, "a TCP candidate of the server's was not taken");
                }
            }
        }
        let answer = self.pc.create_answer(None).await.map_err(failed)?;
        self.pc
            .set_local_description(answer)
            .await
            .map_err(failed)?;
        let _ = tokio::time::timeout(
            conclave_rtc::GATHER_TIMEOUT,
            self.gathered.wait_for(|done| *done),
        )
        .await;
        let sdp = self
            .pc
            .local_description()
            .await
            .ok_or_else(|| ClientError::Unsupported("no local description after answering".into()))?
            .sdp;
        Ok(Some((Link::Both, Description::Answer(sdp))))
    }

    async fn use_ice_servers(&mut self, servers: &[IceServer]) -> Result<(), ClientError> {
        self.pc
            .set_configuration(conclave_rtc::configuration(servers))
            .await
            .map_err(|e| ClientError::media("cannot use the server's TURN relays", e))
    }

    async fn stats(&mut self) -> Vec<RTCStatsReport> {
        let now = std::time::Instant::now();
        vec![self.pc.get_stats(now, StatsSelector::None).await]
    }

    async fn close(&mut self) {
        let _ = self.pc.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::sample_track;

    /// An engine of the second shape: the client offers its publisher
    /// connection; the server offers the subscriber connection.
    #[derive(Default)]
    struct TwoConnections {
        published: Vec<TrackKind>,
        offers_made: u32,
        applied: Vec<(Link, Description)>,
    }

    #[async_trait::async_trait]
    impl MediaSetup for TwoConnections {
        async fn publish(
            &mut self,
            kind: TrackKind,
            _layers: Vec<Arc<dyn TrackLocal>>,
        ) -> Result<Outgoing, ClientError> {
            self.published.push(kind);
            self.offers_made += 1;
            let offer = format!("publisher offer {}", self.offers_made);
            Ok(Some((Link::Publisher, Description::Offer(offer))))
        }

        async fn remote_description(
            &mut self,
            link: Link,
            description: Description,
        ) -> Result<Outgoing, ClientError> {
            self.applied.push((link, description.clone()));
            Ok(match (link, description) {
                (Link::Subscriber, Description::Offer(_)) => Some((
                    Link::Subscriber,
                    Description::Answer("subscriber answer".into()),
                )),
                (Link::Publisher, Description::Answer(_)) => None,
                (link, description) => {
                    return Err(ClientError::Unsupported(format!(
                        "{} on {link:?}",
                        description.kind()
                    )));
                }
            })
        }

        async fn use_ice_servers(&mut self, _: &[IceServer]) -> Result<(), ClientError> {
            Ok(())
        }

        async fn close(&mut self) {}
    }

    fn descriptions(inputs: &[Input]) -> Vec<(Link, Description)> {
        inputs
            .iter()
            .filter_map(|input| match input {
                Input::LocalDescription(link, d) => Some((*link, d.clone())),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn the_seam_carries_a_client_offered_publisher_and_a_server_offered_subscriber() {
        let mut setup = TwoConnections::default();
        let camera: Arc<dyn TrackLocal> = sample_track(TrackKind::Camera, 0);
        let inputs = negotiate(&mut setup, Step::Publish(TrackKind::Camera, vec![camera])).await;
        assert!(matches!(
            inputs[0],
            Input::Published {
                kind: TrackKind::Camera,
                result: Ok(())
            }
        ));
        assert_eq!(
            descriptions(&inputs),
            [(
                Link::Publisher,
                Description::Offer("publisher offer 1".into())
            )],
            "publishing makes the client's offer for the server"
        );

        let answer = Step::Remote(Link::Publisher, Description::Answer("ok".into()));
        assert!(negotiate(&mut setup, answer).await.is_empty());

        let offer = Step::Remote(Link::Subscriber, Description::Offer("streams".into()));
        assert_eq!(
            descriptions(&negotiate(&mut setup, offer).await),
            [(
                Link::Subscriber,
                Description::Answer("subscriber answer".into())
            )]
        );

        let wrong = Step::Remote(Link::Subscriber, Description::Answer("?".into()));
        let inputs = negotiate(&mut setup, wrong).await;
        assert!(
            matches!(
                &inputs[..],
                [Input::MediaFailed(ClientError::Unsupported(_))]
            ),
            "a description the engine cannot take is a typed failure: {inputs:?}"
        );
        assert_eq!(setup.published, [TrackKind::Camera]);
        assert_eq!(setup.applied.len(), 3);
    }
}
