//! Which simulcast layer each subscriber gets of each video it receives.
//!
//! Sans-IO: the subscriber's downlink estimate, each video's layers (their
//! measured bitrates and picture heights) and the tile height the
//! subscriber's UI asked for go in; a level per video comes out. The SFU's
//! peer task runs it every [`ALLOCATION_INTERVAL`].
//!
//! The rule: every video gets its smallest layer; then, in priority order
//! (as given: screen shares first), each is raised a layer at a time while
//! the budget holds and its tile wants more pixels. Going down happens at
//! once. Going up happens at once too until the link is first found short
//! (as TCP's slow start: a new subscriber on a good link gets everything as
//! fast as its estimate grows); after that, one layer of one video at a
//! time, each once the budget has covered it for [`UPGRADE_AFTER`] and the
//! step before it held for [`UPGRADE_TRIAL`]. A step down for want of
//! bandwidth means the link is congested: nothing goes up again for
//! [`FIRST_HOLD`], and when a step up is undone within [`UPGRADE_TRIAL`]
//! (it found the link's ceiling) the hold doubles, up to [`MAX_HOLD`].
//! Congestion control's estimate climbs again within seconds of the loss
//! stopping, and without the hold every climb would be tried, and frozen on,
//! every few seconds; with it, a capped link settles below its cap and
//! tries for more once a minute, then less often.

use std::time::{Duration, Instant};

use conclave_rtc::MAX_LEVELS;

pub const ALLOCATION_INTERVAL: Duration = Duration::from_millis(500);
pub const UPGRADE_AFTER: Duration = Duration::from_secs(2);
pub const UPGRADE_TRIAL: Duration = Duration::from_secs(6);
/// A shortfall must last this long to count: a moment's loss (a burst of
/// keyframes as a room fills) is no reason to lower anyone's video.
pub const DOWNGRADE_AFTER: Duration = Duration::from_secs(1);
pub const FIRST_HOLD: Duration = Duration::from_secs(60);
pub const MAX_HOLD: Duration = Duration::from_secs(480);

/// One layer as the allocation sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerInfo {
    pub kbps: u32,
    /// 0 until the layer's first keyframe was seen.
    pub height: u32,
}

/// One video a subscriber receives.
#[derive(Clone, Debug, PartialEq)]
pub struct Demand {
    /// By level (0 = full picture); `None` for a layer not being sent.
    pub layers: [Option<LayerInfo>; MAX_LEVELS],
    /// The height of the subscriber's tile; `None` when it did not say
    /// (the full picture), `Some(0)` when the video is not shown.
    pub tile_height: Option<u32>,
}

impl Demand {
    /// The largest layer worth sending to this tile: the smallest picture at
    /// least as tall as the tile (no upscaling), or the full one.
    fn largest_useful(&self) -> Option<usize> {
        let active: Vec<usize> = (0..MAX_LEVELS)
            .filter(|l| self.layers[*l].is_some())
            .collect();
        let smallest = *active.last()?;
        match self.tile_height {
            Some(0) => None,
            None => active.first().copied(),
            Some(tile) => Some(
                active
                    .iter()
                    .rev()
                    .copied()
                    .find(|level| self.layers[*level].is_some_and(|l| l.height >= tile))
                    .unwrap_or(active[0])
                    .min(smallest),
            ),
        }
    }
}

/// The best levels that fit `budget_kbps`, ignoring history.
pub fn fit(budget_kbps: u32, demands: &[Demand]) -> Vec<Option<u8>> {
    let mut levels: Vec<Option<usize>> = demands
        .iter()
        .map(|demand| {
            demand.largest_useful()?;
            (0..MAX_LEVELS).rev().find(|l| demand.layers[*l].is_some())
        })
        .collect();
    let kbps = |demand: &Demand, level: usize| demand.layers[level].map_or(0, |l| l.kbps);
    let mut used: u32 = (demands.iter().zip(&levels))
        .filter_map(|(demand, level)| level.map(|level| kbps(demand, level)))
        .sum();
    loop {
        let mut raised = false;
        for (demand, level) in demands.iter().zip(levels.iter_mut()) {
            let (Some(current), Some(largest)) = (*level, demand.largest_useful()) else {
                continue;
            };
            let Some(next) = (largest..current)
                .rev()
                .find(|l| demand.layers[*l].is_some())
            else {
                continue;
            };
            let more = kbps(demand, next).saturating_sub(kbps(demand, current));
            if used + more <= budget_kbps {
                used += more;
                *level = Some(next);
                raised = true;
            }
        }
        if !raised {
            break;
        }
    }
    levels.into_iter().map(|l| l.map(|l| l as u8)).collect()
}

/// One subscriber's allocation over time: [`fit`] with hysteresis.
#[derive(Debug)]
pub struct Allocator {
    /// When the fit first wanted more than now, while it still does.
    wanting_more_since: Option<Instant>,
    /// When the budget first fell short of what is sent, while it still does.
    short_since: Option<Instant>,
    last_upgrade: Option<Instant>,
    hold_until: Option<Instant>,
    hold: Duration,
    /// The link was found short of bandwidth at least once.
    congested_before: bool,
}

impl Default for Allocator {
    fn default() -> Self {
        Allocator {
            wanting_more_since: None,
            short_since: None,
            last_upgrade: None,
            hold_until: None,
            hold: FIRST_HOLD,
            congested_before: false,
        }
    }
}

/// Whether `a` is a larger picture than `b` (a lower level; `None` is no picture).
fn larger(a: Option<u8>, b: Option<u8>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a < b,
        (Some(_), None) => true,
        _ => false,
    }
}

impl Allocator {
    /// Whether the subscriber's link was found short of bandwidth recently
    /// (nothing goes up for a while).
    pub fn congested(&self, now: Instant) -> bool {
        self.hold_until.is_some_and(|until| now < until)
    }

    /// The levels to send now, given what is sent (`current`, per demand).
    pub fn allocate(
        &mut self,
        now: Instant,
        budget_kbps: u32,
        demands: &[Demand],
        current: &[Option<u8>],
    ) -> Vec<Option<u8>> {
        let ideal = fit(budget_kbps, demands);
        // Down for want of bandwidth (not because a tile shrank).
        let congested = ideal
            .iter()
            .zip(current)
            .zip(demands)
            .any(|((i, c), demand)| {
                larger(*c, *i) && !larger(*c, demand.largest_useful().map(|l| l as u8))
            });
        if congested {
            let since = *self.short_since.get_or_insert(now);
            if now.duration_since(since) < DOWNGRADE_AFTER {
                // Maybe a dip: keep what is sent, but what can no longer be
                // (a layer the publisher stopped, a tile that shrank).
                return (current.iter().zip(&ideal).zip(demands))
                    .map(|((current, ideal), demand)| {
                        let useful = demand.largest_useful().map(|l| l as u8);
                        let gone = current.is_some_and(|c| demand.layers[usize::from(c)].is_none());
                        if gone || larger(*current, useful) {
                            *ideal
                        } else {
                            *current
                        }
                    })
                    .collect();
            }
            let failed_step_up =
                (self.last_upgrade).is_some_and(|at| now.duration_since(at) < UPGRADE_TRIAL);
            if failed_step_up {
                self.hold = (self.hold * 2).min(MAX_HOLD);
            }
            self.hold_until = Some(now + self.hold);
            self.last_upgrade = None;
            self.congested_before = true;
        } else {
            self.short_since = None;
        }
        if !congested && (self.last_upgrade).is_some_and(|at| now.duration_since(at) >= MAX_HOLD) {
            self.hold = FIRST_HOLD; // Up for a good while: the link is better now.
        }
        let first = current.iter().all(Option::is_none);
        let slow_start = first || !self.congested_before;
        let up = ideal.iter().zip(current).any(|(i, c)| larger(*i, *c));
        self.wanting_more_since = up.then(|| self.wanting_more_since.unwrap_or(now));
        // The last step up must have held before the next is taken.
        let tried = (self.last_upgrade).is_none_or(|at| now.duration_since(at) >= UPGRADE_TRIAL);
        let may_raise = slow_start
            || (self.wanting_more_since)
                .is_some_and(|since| now.duration_since(since) >= UPGRADE_AFTER)
                && self.hold_until.is_none_or(|until| now >= until)
                && tried;
        // What may go up now: everything in slow start, else one layer of one video.
        let mut steps_left = if slow_start { usize::MAX } else { 1 };
        let chosen: Vec<Option<u8>> = (ideal.iter().zip(current).zip(demands))
            .map(|((ideal, current), demand)| {
                if !larger(*ideal, *current) {
                    return *ideal;
                }
                if current.is_none() || slow_start {
                    return *ideal; // A video that gets nothing yet starts at once.
                }
                if !may_raise || steps_left == 0 {
                    return *current;
                }
                steps_left -= 1;
                let from = usize::from(current.expect("checked"));
                let to = (0..from).rev().find(|l| demand.layers[*l].is_some());
                to.map(|l| l as u8).or(*current)
            })
            .collect();
        // A step up is on trial (see the module's comment); slow start's are not.
        if !slow_start && chosen.iter().zip(current).any(|(n, c)| larger(*n, *c)) {
            self.last_upgrade = Some(now);
            self.wanting_more_since = None;
        }
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn camera(heights: [u32; 3]) -> Demand {
        let kbps = [1500, 450, 150];
        Demand {
            layers: std::array::from_fn(|l| {
                Some(LayerInfo {
                    kbps: kbps[l],
                    height: heights[l],
                })
            }),
            tile_height: None,
        }
    }

    #[test]
    fn every_video_gets_its_smallest_layer_then_more_while_the_budget_holds() {
        let two = [camera([720, 360, 180]), camera([720, 360, 180])];
        assert_eq!(fit(5000, &two), [Some(0), Some(0)]);
        assert_eq!(
            fit(2000, &two),
            [Some(0), Some(1)],
            "a step each, in priority order"
        );
        assert_eq!(fit(900, &two), [Some(1), Some(1)]);
        assert_eq!(fit(600, &two), [Some(1), Some(2)]);
        assert_eq!(fit(100, &two), [Some(2), Some(2)], "never nothing");
    }

    #[test]
    fn a_small_or_hidden_tile_gets_the_layer_it_can_show() {
        let mut small = camera([720, 360, 180]);
        small.tile_height = Some(300);
        let mut hidden = camera([720, 360, 180]);
        hidden.tile_height = Some(0);
        let mut tiny = camera([720, 360, 180]);
        tiny.tile_height = Some(90);
        assert_eq!(
            fit(10_000, &[small, hidden, tiny]),
            [Some(1), None, Some(2)]
        );
    }

    #[test]
    fn a_layer_the_publisher_stopped_is_skipped() {
        let mut poor_uplink = camera([720, 360, 180]);
        poor_uplink.layers[0] = None;
        assert_eq!(fit(10_000, &[poor_uplink]), [Some(1)]);
    }

    #[test]
    fn going_up_waits_and_after_congestion_holds_and_a_failed_step_holds_longer() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let s = |secs: u64| secs * 1000;
        let videos = [camera([720, 360, 180]), camera([720, 360, 180])];
        let mut allocator = Allocator::default();
        let (low, full) = ([Some(2), Some(2)], [Some(0), Some(0)]);
        // First allocation: straight to what fits; up at once while no congestion was seen.
        assert_eq!(allocator.allocate(at(0), 400, &videos, &[None, None]), low);
        assert_eq!(allocator.allocate(at(100), 5000, &videos, &low), full);
        // A moment short: nothing changes; short for a second: down, and held.
        assert_eq!(
            allocator.allocate(at(500), 400, &videos, &full),
            full,
            "a dip"
        );
        assert_eq!(allocator.allocate(at(1500), 400, &videos, &full), low);
        assert_eq!(allocator.allocate(at(s(30)), 5000, &videos, &low), low);
        assert_eq!(allocator.allocate(at(s(61)), 5000, &videos, &low), low);
        // The hold is over: one layer of one video, then (after a while) the next.
        let one_up = [Some(1), Some(2)];
        assert_eq!(allocator.allocate(at(s(62)), 5000, &videos, &low), one_up);
        assert_eq!(
            allocator.allocate(at(s(63)), 5000, &videos, &one_up),
            one_up
        );
        assert_eq!(
            allocator.allocate(at(s(65)), 5000, &videos, &one_up),
            one_up,
            "the step before is still on trial"
        );
        let two_up = [Some(0), Some(2)];
        assert_eq!(
            allocator.allocate(at(s(68)), 5000, &videos, &one_up),
            two_up,
            "the first in priority first"
        );
        // That step failed: down (after the second), and held twice as long.
        assert_eq!(allocator.allocate(at(s(69)), 600, &videos, &two_up), two_up);
        assert_eq!(allocator.allocate(at(s(70)), 600, &videos, &two_up), one_up);
        assert_eq!(
            allocator.allocate(at(s(185)), 5000, &videos, &one_up),
            one_up
        );
        assert_eq!(
            allocator.allocate(at(s(191)), 5000, &videos, &one_up),
            two_up
        );
    }

    #[test]
    fn a_layer_the_publisher_stops_is_left_at_once() {
        let start = Instant::now();
        let mut videos = [camera([720, 360, 180])];
        let mut allocator = Allocator::default();
        assert_eq!(allocator.allocate(start, 5000, &videos, &[None]), [Some(0)]);
        videos[0].layers[0] = None;
        let later = start + Duration::from_millis(500);
        assert_eq!(
            allocator.allocate(later, 5000, &videos, &[Some(0)]),
            [Some(1)]
        );
    }

    #[test]
    fn a_tile_that_shrinks_is_not_congestion() {
        let start = Instant::now();
        let mut videos = [camera([720, 360, 180])];
        let mut allocator = Allocator::default();
        assert_eq!(allocator.allocate(start, 5000, &videos, &[None]), [Some(0)]);
        videos[0].tile_height = Some(150);
        let later = start + Duration::from_secs(1);
        assert_eq!(
            allocator.allocate(later, 5000, &videos, &[Some(0)]),
            [Some(2)]
        );
        videos[0].tile_height = Some(700);
        let grown = start + Duration::from_secs(4);
        allocator.allocate(start + Duration::from_secs(2), 5000, &videos, &[Some(2)]);
        assert_eq!(
            allocator.allocate(grown, 5000, &videos, &[Some(2)]),
            [Some(0)],
            "no congestion seen: straight back"
        );
    }
}
