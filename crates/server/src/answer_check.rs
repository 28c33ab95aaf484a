//! An SDP answer, checked against the offer it answers before the peer
//! connection sees it (`docs/protocol.md`, "answer").
//!
//! webrtc-rs applies answers leniently: the server's own offer sent back, an
//! answer with an m-section missing, or a truncated one were all taken
//! silently. An answer here must answer *this* offer: same m-sections in the
//! same order with the same mids, a DTLS role chosen, its own ICE
//! credentials, and few enough candidates that the server cannot be made to
//! probe a list of addresses chosen by someone else.

use std::io::Cursor;

use rtc::sdp::SessionDescription;

/// Remote ICE candidates one answer may carry: per address, UDP host,
/// server-reflexive and relay candidates and the two TCP ones (passive and
/// active), for a few addresses.
pub(crate) const MAX_REMOTE_CANDIDATES: usize = 32;

fn parse(sdp: &str) -> Result<SessionDescription, String> {
    SessionDescription::unmarshal(&mut Cursor::new(sdp.as_bytes())).map_err(|e| e.to_string())
}

fn media_attribute<'a>(
    description: &'a SessionDescription,
    index: usize,
    key: &str,
) -> Option<&'a str> {
    description.media_descriptions[index]
        .attribute(key)
        .flatten()
        .or_else(|| description.attribute(key).map(String::as_str))
}

/// `Ok` if `answer` is an answer to `offer`; else why not, in a sentence.
pub(crate) fn check_answer(offer: &str, answer: &str) -> Result<(), String> {
    let offer = parse(offer).map_err(|e| format!("the offer does not parse: {e}"))?;
    let answer = parse(answer).map_err(|e| format!("the answer is not valid SDP: {e}"))?;
    if answer.version != 0 {
        return Err(format!("SDP version {} (only 0 exists)", answer.version));
    }
    let (offered, answered) = (
        offer.media_descriptions.len(),
        answer.media_descriptions.len(),
    );
    if offered != answered {
        return Err(format!(
            "the answer has {answered} m-sections; the offer it answers has {offered}"
        ));
    }
    for index in 0..offered {
        let (o, a) = (
            &offer.media_descriptions[index],
            &answer.media_descriptions[index],
        );
        if o.media_name.media != a.media_name.media {
            return Err(format!(
                "m-section {index} is {} in the answer and {} in the offer",
                a.media_name.media, o.media_name.media
            ));
        }
        let (o_mid, a_mid) = (
            media_attribute(&offer, index, "mid"),
            media_attribute(&answer, index, "mid"),
        );
        if o_mid != a_mid {
            return Err(format!(
                "m-section {index} has mid {} in the answer and {} in the offer",
                a_mid.unwrap_or("(none)"),
                o_mid.unwrap_or("(none)")
            ));
        }
        if media_attribute(&answer, index, "setup") == Some("actpass") {
            return Err(format!(
                "m-section {index} says a=setup:actpass, which only an offer may; an answer picks active or passive"
            ));
        }
        let ufrag = media_attribute(&answer, index, "ice-ufrag");
        if ufrag.is_some() && ufrag == media_attribute(&offer, index, "ice-ufrag") {
            return Err("this is the server's own offer, not an answer to it".into());
        }
    }
    let candidates = answer
        .media_descriptions
        .iter()
        .flat_map(|m| &m.attributes)
        .filter(|a| a.key == "candidate")
        .count();
    if candidates > MAX_REMOTE_CANDIDATES {
        return Err(format!(
            "the answer lists {candidates} ICE candidates; at most {MAX_REMOTE_CANDIDATES} are taken"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(media: &str, mid: &str, setup: &str, ufrag: &str, candidates: usize) -> String {
        let mut s = format!(
            "m={media} 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:{mid}\r\na=setup:{setup}\r\na=ice-ufrag:{ufrag}\r\na=ice-pwd:pppppppppppppppppppppppp\r\n"
        );
        for n in 0..candidates {
            s += &format!("a=candidate:{n} 1 udp 2130706431 192.0.2.{n} 5000 typ host\r\n");
        }
        s
    }

    fn sdp(sections: &[String]) -> String {
        let mut s = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n".to_owned();
        for section in sections {
            s += section;
        }
        s
    }

    fn offer() -> String {
        sdp(&[
            section("audio", "0", "actpass", "srv", 1),
            section("video", "1", "actpass", "srv", 1),
            section("video", "2", "actpass", "srv", 1),
        ])
    }

    fn answer_with(sections: &[(&str, &str)], candidates: usize) -> String {
        let sections: Vec<String> = sections
            .iter()
            .map(|(media, mid)| section(media, mid, "active", "cli", candidates))
            .collect();
        sdp(&sections)
    }

    const ALL: [(&str, &str); 3] = [("audio", "0"), ("video", "1"), ("video", "2")];

    #[test]
    fn a_proper_answer_passes() {
        assert_eq!(check_answer(&offer(), &answer_with(&ALL, 1)), Ok(()));
    }

    #[test]
    fn lenient_cases_are_refused_with_a_reason() {
        let offer = offer();
        let own = check_answer(&offer, &offer).unwrap_err();
        assert!(own.contains("actpass"), "{own}");
        let missing = check_answer(&offer, &answer_with(&ALL[..2], 1)).unwrap_err();
        assert!(missing.contains("2 m-sections"), "{missing}");
        let reordered = answer_with(&[("audio", "0"), ("video", "2"), ("video", "1")], 1);
        assert!(
            check_answer(&offer, &reordered)
                .unwrap_err()
                .contains("mid")
        );
        let wrong_kind = answer_with(&[("video", "0"), ("video", "1"), ("video", "2")], 1);
        assert!(check_answer(&offer, &wrong_kind).is_err());
        let full = answer_with(&ALL, 1);
        let truncated = &full[..full.len() / 2];
        assert!(
            check_answer(&offer, truncated).is_err(),
            "a truncated answer"
        );
        assert!(check_answer(&offer, "hello").is_err());
        let flood = answer_with(&ALL, 30);
        assert!(
            check_answer(&offer, &flood)
                .unwrap_err()
                .contains("candidates")
        );
        // The server's offer with the role swapped is still the server's.
        let echoed = offer.replace("a=setup:actpass", "a=setup:active");
        assert!(
            check_answer(&offer, &echoed)
                .unwrap_err()
                .contains("own offer")
        );
    }
}
