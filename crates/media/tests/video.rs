//! VP8 round trips of the synthetic devices: what a receiver checks must
//! survive real lossy coding at realistic bitrates.

use conclave_media::*;

const T0_US: u64 = 1_700_000_000_000_000; // a Unix-epoch-like capture clock

fn config(width: u32, height: u32, fps: u32, bitrate_kbps: u32, content: ContentKind) -> Vp8Config {
    Vp8Config {
        width,
        height,
        fps,
        bitrate_kbps,
        content,
    }
}

/// Encodes `frames` pictures from `render`, decodes each, and hands every
/// decoded picture with its frame number and keyframe flag to `check`.
fn round_trip(
    cfg: &Vp8Config,
    frames: u32,
    keyframe_requests: &[u32],
    mut render: impl FnMut(u32, u64) -> I420Frame,
    mut check: impl FnMut(u32, bool, &I420Frame),
) {
    let mut enc = Vp8Encoder::new(cfg).unwrap();
    let mut dec = Vp8Decoder::new().unwrap();
    let interval = 1_000_000 / cfg.fps as u64;
    for n in 0..frames {
        let capture = T0_US + n as u64 * interval;
        let picture = render(n, capture);
        let packets = enc
            .encode(&picture, capture as i64, keyframe_requests.contains(&n))
            .unwrap();
        assert_eq!(packets.len(), 1, "frame {n}: expected exactly one packet");
        let decoded = dec
            .decode(&packets[0].data)
            .unwrap()
            .expect("a picture per frame");
        assert_eq!((decoded.width, decoded.height), (cfg.width, cfg.height));
        check(n, packets[0].keyframe, &decoded);
    }
}

fn camera_round_trip(name: &str, width: u32, height: u32, kbps: u32, frames: u32) {
    let colour = colour_for(name);
    let cfg = config(width, height, 30, kbps, ContentKind::Camera);
    let mut pattern = TestPattern::new(colour, width, height);
    let requests = [frames / 2];
    round_trip(
        &cfg,
        frames,
        &requests,
        |n, t| pattern.render(n, t).clone(),
        |n, keyframe, decoded| {
            let expect_key = n == 0 || requests.contains(&n);
            assert_eq!(
                keyframe, expect_key,
                "{width}x{height} frame {n} keyframe flag"
            );
            let mean = mean_colour(decoded);
            assert!(
                mean.distance(colour) <= 30,
                "{width}x{height} frame {n}: {mean:?} vs {colour:?}"
            );
            let expected = (n, T0_US + n as u64 * 33_333);
            assert_eq!(
                read_stamp(decoded),
                Some(expected),
                "{width}x{height} frame {n}"
            );
        },
    );
}

#[test]
fn camera_720p_survives_vp8() {
    camera_round_trip("alice", 1280, 720, 1500, 60);
}

#[test]
fn camera_360p_survives_vp8() {
    camera_round_trip("bob", 640, 360, 600, 60);
}

#[test]
fn camera_180p_stamp_survives_low_bitrate() {
    camera_round_trip("carol", 320, 180, 150, 60);
}

#[test]
fn camera_1080p_stamp_survives() {
    camera_round_trip("dave", 1920, 1080, 2500, 20);
}

#[test]
fn every_member_colour_is_recovered_and_distinct() {
    let names: Vec<String> = (0..40).map(|i| format!("member-{i}")).collect();
    let mut seen: Vec<Rgb> = Vec::new();
    for name in &names {
        let colour = colour_for(name);
        if seen.contains(&colour) {
            continue;
        }
        seen.push(colour);
        let cfg = config(640, 360, 30, 500, ContentKind::Camera);
        let mut pattern = TestPattern::new(colour, 640, 360);
        let mut last = None;
        round_trip(
            &cfg,
            10,
            &[],
            |n, t| pattern.render(n, t).clone(),
            |_, _, d| last = Some(mean_colour(d)),
        );
        let got = last.unwrap();
        // The decoded mean is nearest to its own colour among all members'.
        assert!(got.distance(colour) <= 30, "{colour:?} decoded as {got:?}");
        for other in &seen {
            if *other != colour {
                assert!(
                    got.distance(*other) > got.distance(colour),
                    "{colour:?} looks like {other:?}"
                );
            }
        }
    }
    assert!(
        seen.len() >= 10,
        "only {} distinct colours over 40 names",
        seen.len()
    );
}

#[test]
fn screen_share_survives_vp8_and_is_told_apart_from_camera() {
    for (w, h, fps, kbps) in [(1920, 1080, 15, 2000), (1280, 720, 15, 1200)] {
        let colour = colour_for("alice");
        let cfg = config(w, h, fps, kbps, ContentKind::Screen);
        let mut screen = SyntheticScreen::new(colour, w, h);
        let interval = 1_000_000 / fps as u64;
        round_trip(
            &cfg,
            30,
            &[],
            |n, t| screen.render(n, t).clone(),
            |n, _, d| {
                assert!(looks_like_synthetic_screen(d, colour), "{w}x{h} frame {n}");
                assert!(
                    !looks_like_synthetic_screen(d, colour_for("bob")),
                    "{w}x{h} frame {n}: wrong member"
                );
                assert_eq!(read_stamp(d), Some((n, T0_US + n as u64 * interval)));
            },
        );
        // The same colour's camera, through the same codec path, is not a screen.
        let mut pattern = TestPattern::new(colour, w, h);
        let cam = config(w, h, 30, kbps, ContentKind::Camera);
        round_trip(
            &cam,
            3,
            &[],
            |n, t| pattern.render(n, t).clone(),
            |n, _, d| {
                assert!(
                    !looks_like_synthetic_screen(d, colour),
                    "camera frame {n} passed as a screen"
                );
            },
        );
    }
}

#[test]
fn encoder_rejects_wrong_frame_size_and_bad_config() {
    let mut enc = Vp8Encoder::new(&config(640, 360, 30, 500, ContentKind::Camera)).unwrap();
    let wrong = I420Frame::new_black(1280, 720);
    match enc.encode(&wrong, 0, false) {
        Err(MediaError::FrameSizeMismatch {
            expected_width: 640,
            got_width: 1280,
            ..
        }) => {}
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("wrong-size frame accepted"),
    }
    let mut broken = I420Frame::new_black(640, 360);
    broken.u.pop();
    assert!(matches!(
        enc.encode(&broken, 0, false),
        Err(MediaError::MalformedFrame(_))
    ));
    // The encoder still works after rejecting input.
    assert_eq!(
        enc.encode(&I420Frame::new_black(640, 360), 0, false)
            .unwrap()
            .len(),
        1
    );

    for bad in [
        config(641, 360, 30, 500, ContentKind::Camera),
        config(0, 360, 30, 500, ContentKind::Camera),
        config(640, 360, 0, 500, ContentKind::Camera),
        config(640, 360, 30, 0, ContentKind::Screen),
    ] {
        assert!(
            matches!(Vp8Encoder::new(&bad), Err(MediaError::InvalidConfig(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn frame_indices_as_pts_still_give_sane_rate_control() {
    // A caller passing 0, 1, 2, ... instead of microseconds must not starve
    // the rate controller into unreadable pictures.
    let colour = colour_for("alice");
    let mut enc = Vp8Encoder::new(&config(640, 360, 30, 600, ContentKind::Camera)).unwrap();
    let mut dec = Vp8Decoder::new().unwrap();
    let mut pattern = TestPattern::new(colour, 640, 360);
    let mut bytes = 0;
    for n in 0..60u32 {
        let p = enc
            .encode(pattern.render(n, n as u64), n as i64, false)
            .unwrap();
        bytes += p[0].data.len();
        let d = dec.decode(&p[0].data).unwrap().unwrap();
        assert_eq!(read_stamp(&d), Some((n, n as u64)));
    }
    let kbps = bytes as f64 * 8.0 / 2.0 / 1000.0;
    assert!(
        (100.0..1200.0).contains(&kbps),
        "{kbps} kb/s for a 600 kb/s target"
    );
}

fn pseudo_random_bytes(seed: u32, len: usize) -> Vec<u8> {
    let mut s = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s as u8
        })
        .collect()
}

#[test]
fn garbage_to_vp8_decoder_is_an_error_not_a_panic() {
    let mut dec = Vp8Decoder::new().unwrap();
    assert!(dec.decode(&[]).is_err());
    for seed in 0..200 {
        let junk = pseudo_random_bytes(seed, 1 + (seed as usize * 37) % 3000);
        assert!(
            dec.decode(&junk).is_err(),
            "junk #{seed} decoded on a fresh decoder"
        );
    }
    // A keyframe header with the body cut off.
    let mut enc = Vp8Encoder::new(&config(320, 180, 30, 300, ContentKind::Camera)).unwrap();
    let mut pattern = TestPattern::new(colour_for("bob"), 320, 180);
    let key = enc
        .encode(pattern.render(0, 0), 0, true)
        .unwrap()
        .remove(0)
        .data;
    assert!(
        dec.decode(&key[..12]).is_err(),
        "truncated keyframe accepted"
    );

    // Mid-stream garbage never panics, and a keyframe always recovers.
    let mut dec = Vp8Decoder::new().unwrap();
    assert!(dec.decode(&key).unwrap().is_some());
    for seed in 0..200 {
        let mut junk = pseudo_random_bytes(seed + 1000, 1 + (seed as usize * 53) % 2000);
        if seed % 2 == 0 {
            // Mark as an inter frame so it gets past the header checks.
            junk[0] |= 1;
        }
        if let Ok(Some(f)) = dec.decode(&junk) {
            assert_eq!((f.width, f.height), (320, 180));
        }
    }
    let recovered = dec.decode(&key).unwrap().unwrap();
    assert_eq!(read_stamp(&recovered), Some((0, 0)));
}

#[test]
fn codecs_are_send() {
    fn assert_send<T: Send>() {}
    assert_send::<Vp8Encoder>();
    assert_send::<Vp8Decoder>();
    assert_send::<OpusEncoder>();
    assert_send::<OpusDecoder>();
}

#[test]
fn bitrate_can_be_changed_on_the_fly() {
    // Fine texture that changes every frame, so the encoder needs every bit
    // it is given (the plain pattern is too easy to show a difference).
    fn busy_frame(n: u32) -> I420Frame {
        let mut f = TestPattern::new(colour_for("alice"), 640, 360)
            .render(n, 0)
            .clone();
        let mut s = n.wrapping_mul(2_654_435_761) | 1;
        for p in f.y.iter_mut().skip(640 * 40) {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            *p = (*p as i32 + (s % 41) as i32 - 20).clamp(16, 235) as u8;
        }
        f
    }
    let mut enc = Vp8Encoder::new(&config(640, 360, 30, 1000, ContentKind::Camera)).unwrap();
    let kbps_over = |enc: &mut Vp8Encoder, from: u32| {
        let mut bytes = 0;
        for n in from..from + 60 {
            bytes += enc
                .encode(&busy_frame(n), n as i64 * 33_333, false)
                .unwrap()[0]
                .data
                .len();
        }
        bytes as f64 * 8.0 / 2.0 / 1000.0
    };
    let _warm_up = kbps_over(&mut enc, 0);
    let high = kbps_over(&mut enc, 60);
    enc.set_bitrate(250).unwrap();
    assert_eq!(enc.config().bitrate_kbps, 250);
    let _settle = kbps_over(&mut enc, 120);
    let low = kbps_over(&mut enc, 180);
    assert!(
        high > 700.0 && low < 400.0,
        "high {high:.0} kb/s, low {low:.0} kb/s"
    );
    assert!(enc.set_bitrate(0).is_err());
}
