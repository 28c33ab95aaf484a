//! A member's connection quality, from what its media task measured over
//! the last period. Sans-IO: readings in, a [`ConnectionQuality`] out.

use conclave_protocol::ConnectionQuality;

/// What the server measured of one member's link over one period.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LinkReading {
    /// Share of the member's packets that did not arrive (`None`: it sends nothing).
    pub uplink_loss: Option<f64>,
    /// Share of the packets sent to it that it reported lost (`None`: it is sent nothing).
    pub downlink_loss: Option<f64>,
    pub rtt_ms: Option<f64>,
    /// Nothing arrived from it, neither media nor feedback, though it should have.
    pub silent: bool,
    /// The server lowered what it sends the member for want of bandwidth.
    pub congested: bool,
}

/// Loss at or above this makes a link poor (video freezes, speech breaks up);
/// at or above [`GOOD_LOSS`] it is only good.
const POOR_LOSS: f64 = 0.10;
const GOOD_LOSS: f64 = 0.02;
/// A round trip this long makes conversation awkward, and this one poor.
const GOOD_RTT_MS: f64 = 250.0;
const POOR_RTT_MS: f64 = 500.0;

pub fn quality(reading: &LinkReading) -> ConnectionQuality {
    if reading.silent {
        return ConnectionQuality::Lost;
    }
    let loss = [reading.uplink_loss, reading.downlink_loss]
        .into_iter()
        .flatten()
        .fold(0.0, f64::max);
    let rtt = reading.rtt_ms.unwrap_or(0.0);
    if loss >= POOR_LOSS || rtt >= POOR_RTT_MS {
        ConnectionQuality::Poor
    } else if loss >= GOOD_LOSS || rtt >= GOOD_RTT_MS || reading.congested {
        ConnectionQuality::Good
    } else {
        ConnectionQuality::Excellent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_either_way_round_trip_and_congestion_lower_the_quality() {
        let clean = LinkReading {
            uplink_loss: Some(0.0),
            downlink_loss: Some(0.001),
            rtt_ms: Some(20.0),
            ..LinkReading::default()
        };
        assert_eq!(quality(&clean), ConnectionQuality::Excellent);
        let lossy_up = LinkReading {
            uplink_loss: Some(0.05),
            ..clean
        };
        assert_eq!(quality(&lossy_up), ConnectionQuality::Good);
        let lossy_down = LinkReading {
            downlink_loss: Some(0.2),
            ..clean
        };
        assert_eq!(quality(&lossy_down), ConnectionQuality::Poor);
        let far = LinkReading {
            rtt_ms: Some(600.0),
            ..clean
        };
        assert_eq!(quality(&far), ConnectionQuality::Poor);
        let capped = LinkReading {
            congested: true,
            ..clean
        };
        assert_eq!(quality(&capped), ConnectionQuality::Good);
        let gone = LinkReading {
            silent: true,
            ..clean
        };
        assert_eq!(quality(&gone), ConnectionQuality::Lost);
        assert_eq!(
            quality(&LinkReading::default()),
            ConnectionQuality::Excellent,
            "nothing to go by: nothing wrong"
        );
    }
}
