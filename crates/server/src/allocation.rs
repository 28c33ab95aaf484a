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
//! once. Going up waits until the budget has covered it for
//! [`UPGRADE_AFTER`]; an upgrade undone within [`UPGRADE_TRIAL`] found the
//! link's ceiling, so the next one waits, twice as long each time (up to
//! [`MAX_HOLD`]). So a capped link settles below its cap instead of probing
//! it, and freezing, every few seconds.

use std::time::{Duration, Instant};

use conclave_rtc::MAX_LEVELS;

pub const ALLOCATION_INTERVAL: Duration = Duration::from_millis(500);
pub const UPGRADE_AFTER: Duration = Duration::from_secs(2);
pub const UPGRADE_TRIAL: Duration = Duration::from_secs(6);
const FIRST_HOLD: Duration = Duration::from_secs(8);
pub const MAX_HOLD: Duration = Duration::from_secs(64);

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
        let active: Vec<usize> = (0..MAX_LEVELS).filter(|l| self.layers[*l].is_some()).collect();
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
            let Some(next) = (largest..current).rev().find(|l| demand.layers[*l].is_some()) else {
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
    last_upgrade: Option<Instant>,
    hold_until: Option<Instant>,
    hold: Duration,
}

impl Default for Allocator {
    fn default() -> Self {
        Allocator {
            wanting_more_since: None,
            last_upgrade: None,
            hold_until: None,
            hold: FIRST_HOLD,
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
    /// The levels to send now, given what is sent (`current`, per demand).
    pub fn allocate(
        &mut self,
        now: Instant,
        budget_kbps: u32,
        demands: &[Demand],
        current: &[Option<u8>],
    ) -> Vec<Option<u8>> {
        let ideal = fit(budget_kbps, demands);
        let down = ideal.iter().zip(current).any(|(i, c)| larger(*c, *i));
        let up = ideal.iter().zip(current).any(|(i, c)| larger(*i, *c));
        if down {
            if self
                .last_upgrade
                .is_some_and(|at| now.duration_since(at) < UPGRADE_TRIAL)
            {
                // The last step up did not hold: wait longer before the next.
                self.hold_until = Some(now + self.hold);
                self.hold = (self.hold * 2).min(MAX_HOLD);
                self.last_upgrade = None;
            }
        } else if self
            .last_upgrade
            .is_some_and(|at| now.duration_since(at) >= UPGRADE_TRIAL * 5)
        {
            self.hold = FIRST_HOLD; // Up for a good while: the link is better now.
        }
        self.wanting_more_since = up.then(|| self.wanting_more_since.unwrap_or(now));
        let may_raise = self
            .wanting_more_since
            .is_some_and(|since| now.duration_since(since) >= UPGRADE_AFTER)
            && self.hold_until.is_none_or(|until| now >= until);
        let chosen: Vec<Option<u8>> = (ideal.iter().zip(current))
            .map(|(ideal, current)| {
                if larger(*ideal, *current) && !may_raise {
                    // Not yet; but a video that gets nothing yet starts at once.
                    current.or(*ideal)
                } else {
                    *ideal
                }
            })
            .collect();
        let first = current.iter().all(Option::is_none);
        if chosen.iter().zip(current).any(|(n, c)| larger(*n, *c)) && !first {
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
        assert_eq!(fit(2000, &two), [Some(0), Some(1)], "a step each, in priority order");
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
        assert_eq!(fit(10_000, &[small, hidden, tiny]), [Some(1), None, Some(2)]);
    }

    #[test]
    fn a_layer_the_publisher_stopped_is_skipped() {
        let mut poor_uplink = camera([720, 360, 180]);
        poor_uplink.layers[0] = None;
        assert_eq!(fit(10_000, &[poor_uplink]), [Some(1)]);
    }

    #[test]
    fn going_up_waits_and_an_upgrade_that_fails_waits_longer_next_time() {
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_millis(s);
        let videos = [camera([720, 360, 180])];
        let mut allocator = Allocator::default();
        // First allocation: straight to what fits.
        assert_eq!(allocator.allocate(at(0), 600, &videos, &[None]), [Some(1)]);
        // More budget: not at once.
        assert_eq!(allocator.allocate(at(500), 5000, &videos, &[Some(1)]), [Some(1)]);
        assert_eq!(allocator.allocate(at(2500), 5000, &videos, &[Some(1)]), [Some(0)]);
        // It did not hold: down at once, then held for the first hold.
        assert_eq!(allocator.allocate(at(3000), 600, &videos, &[Some(0)]), [Some(1)]);
        assert_eq!(allocator.allocate(at(6000), 5000, &videos, &[Some(1)]), [Some(1)]);
        assert_eq!(allocator.allocate(at(9000), 5000, &videos, &[Some(1)]), [Some(1)]);
        assert_eq!(allocator.allocate(at(11_100), 5000, &videos, &[Some(1)]), [Some(0)]);
        // Failed again: held twice as long.
        assert_eq!(allocator.allocate(at(11_500), 600, &videos, &[Some(0)]), [Some(1)]);
        assert_eq!(allocator.allocate(at(20_000), 5000, &videos, &[Some(1)]), [Some(1)]);
        assert_eq!(allocator.allocate(at(27_600), 5000, &videos, &[Some(1)]), [Some(0)]);
    }
}
