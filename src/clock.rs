//! The tracker's one clock. "Now" is `--as-of` when given (tests, the demo, a board
//! looking back), else the wall clock; no other code reads the system time for a date.
//! Elapsed-time measurements (`Instant`) are not dates and do not come from here.

use jiff::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Clock {
    /// The system's time, read at each call.
    #[default]
    Wall,
    /// A fixed instant.
    AsOf(Timestamp),
}

impl Clock {
    /// `Some(t)` from `--as-of`, else the wall clock.
    pub fn from_as_of(as_of: Option<Timestamp>) -> Clock {
        as_of.map_or(Clock::Wall, Clock::AsOf)
    }

    pub fn now(&self) -> Timestamp {
        match self {
            Clock::Wall => Timestamp::now(),
            Clock::AsOf(t) => *t,
        }
    }

    /// The as-of day: the Europe/London day holding now.
    pub fn day(&self) -> crate::domain::calendar::Day {
        crate::domain::calendar::day_containing_ms(self.now().as_millisecond())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_of_fixes_now_and_the_default_is_the_wall_clock() {
        let t: Timestamp = "2024-03-14T12:00:00Z".parse().unwrap();
        assert_eq!(Clock::from_as_of(Some(t)).now(), t);
        assert_eq!(Clock::from_as_of(None), Clock::Wall);
        let wall = Clock::Wall.now();
        assert!(wall > t, "the wall clock is after 2024");
    }
}
