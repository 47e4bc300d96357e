//! Epoch-aligned, half-open `[start, end)` aggregation windows. All times in nanoseconds.

/// One aggregation window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window {
    /// Inclusive start, ns since the epoch, a multiple of `len_ns`.
    pub start_ns: i64,
    /// Length in ns.
    pub len_ns: i64,
}

impl Window {
    /// The window of length `len_ns` that holds `t_ns`.
    ///
    /// # Panics
    /// When `len_ns` is not positive.
    pub fn containing(t_ns: i64, len_ns: i64) -> Window {
        assert!(len_ns > 0, "window length must be positive");
        Window {
            start_ns: t_ns.div_euclid(len_ns) * len_ns,
            len_ns,
        }
    }

    /// Exclusive end.
    pub fn end_ns(&self) -> i64 {
        self.start_ns + self.len_ns
    }

    /// True when `t_ns` lies in `[start, end)`.
    pub fn contains(&self, t_ns: i64) -> bool {
        (self.start_ns..self.end_ns()).contains(&t_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_time_lies_in_exactly_its_window(t in -1_000_000_000_000i64..1_000_000_000_000_000_000, len in 1i64..100_000_000_000) {
            let w = Window::containing(t, len);
            prop_assert!(w.contains(t));
            prop_assert_eq!(w.start_ns.rem_euclid(len), 0);
            prop_assert!(!w.contains(w.end_ns()));
        }
    }
}
