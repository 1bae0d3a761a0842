//! Round axis ticks: steps of 1, 2 or 5 × 10^k on linear axes, powers of
//! ten on log axes, so a reader can read values off an axis without doing
//! arithmetic.

/// Ticks of a linear axis: consecutive multiples of `step`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticks {
    pub step: f64,
    pub values: Vec<f64>,
}

/// The smallest round step (1, 2 or 5 × 10^k) that is at least `raw`; 1
/// for a step that is zero, negative or not a number.
pub fn round_step(raw: f64) -> f64 {
    if !raw.is_finite() || raw <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powi(raw.log10().floor() as i32);
    // The tolerance keeps a raw step that is already round (0.3 computed
    // as 0.30000000000000004) from being rounded up a whole notch.
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&step| step >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude)
}

/// The round step after `step`: 1 → 2 → 5 → 10.
fn next_step(step: f64) -> f64 {
    round_step(step * 1.5)
}

/// `q` rounded to the nearest integer when it is one but for floating-point
/// error (3.0000000000000004), unchanged otherwise. The tolerance is
/// relative: a value much smaller than the step is no integer.
fn snap(q: f64) -> f64 {
    if (q - q.round()).abs() <= 1e-9 * q.abs() {
        q.round()
    } else {
        q
    }
}

fn ticks(step: f64, first: f64, last: f64) -> Ticks {
    Ticks {
        step,
        values: (first as i64..=last as i64)
            .map(|i| i as f64 * step)
            .collect(),
    }
}

/// Round ticks that cover `lo..=hi` (the first at or below `lo`, the last
/// at or above `hi`), at most `max_ticks` (at least 3: a range across zero
/// needs one below, zero and one above) of them: the axis of a value range,
/// extended to the ticks. An empty range is widened so the axis still has a
/// scale.
pub fn covering(lo: f64, hi: f64, max_ticks: usize) -> Ticks {
    let max_ticks = max_ticks.max(3);
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo, lo + lo.abs().max(1.0))
    };
    let mut step = round_step((hi - lo) / (max_ticks - 1) as f64);
    loop {
        let first = snap(lo / step).floor();
        let last = snap(hi / step).ceil();
        if last - first + 1.0 <= max_ticks as f64 {
            return ticks(step, first, last);
        }
        step = next_step(step);
    }
}

/// Round ticks inside the fixed range `lo..=hi` (the run's time axis, which
/// must end where the run ended), at most `max_ticks` of them.
pub fn within(lo: f64, hi: f64, max_ticks: usize) -> Ticks {
    let max_ticks = max_ticks.max(2);
    let hi = if hi > lo { hi } else { lo + 1.0 };
    let mut step = round_step((hi - lo) / (max_ticks - 1) as f64);
    loop {
        let first = snap(lo / step).ceil();
        let last = snap(hi / step).floor();
        if last - first + 1.0 <= max_ticks as f64 {
            return ticks(step, first, last);
        }
        step = next_step(step);
    }
}

/// A tick value written with as many decimals as its step needs (`0.2`,
/// `1.5`, `20`), never as `-0`.
pub fn label(value: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-(step.log10() + 1e-9).floor()) as usize
    };
    let value = if value.abs() < step * 1e-6 {
        0.0
    } else {
        value
    };
    format!("{value:.decimals$}")
}

/// Ticks of a log axis: the axis runs from `10^from` to `10^to`; `values`
/// are the ticks drawn, `labelled` those written out.
#[derive(Debug, Clone, PartialEq)]
pub struct LogTicks {
    pub from: i32,
    pub to: i32,
    pub values: Vec<f64>,
    pub labelled: Vec<f64>,
}

/// Log ticks covering `lo..=hi` (both above zero): every power of ten, with
/// 2× and 5× between them when the axis spans at most two decades (few
/// ticks otherwise); on an axis of many decades only every other (or
/// third…) power is written out, so labels never crowd.
pub fn log_covering(lo: f64, hi: f64) -> LogTicks {
    let lo = if lo > 0.0 && lo.is_finite() { lo } else { 1.0 };
    let hi = if hi >= lo && hi.is_finite() { hi } else { lo };
    let from = (lo.log10() + 1e-9).floor() as i32;
    let to = ((hi.log10() - 1e-9).ceil() as i32).max(from + 1);
    let decades = to - from;
    let mut values = Vec::new();
    let mut labelled = Vec::new();
    let every = (decades + 7) / 8;
    for e in from..=to {
        let power = 10f64.powi(e);
        values.push(power);
        if (e - from) % every == 0 {
            labelled.push(power);
        }
        if decades <= 2 && e < to {
            for m in [2.0, 5.0] {
                values.push(m * power);
                labelled.push(m * power);
            }
        }
    }
    LogTicks {
        from,
        to,
        values,
        labelled,
    }
}

/// A log tick value: `0.01`, `1`, `200`.
pub fn log_label(value: f64) -> String {
    let decimals = (-(value.log10() + 1e-9).floor()).max(0.0) as usize;
    format!("{value:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `step` is 1, 2 or 5 × 10^k and every value is a whole multiple of it.
    fn assert_round(t: &Ticks) {
        let mantissa = t.step / 10f64.powi(t.step.log10().floor() as i32);
        assert!(
            [1.0, 2.0, 5.0].iter().any(|m| (mantissa - m).abs() < 1e-9),
            "step {} is not round",
            t.step
        );
        for v in &t.values {
            let multiple = v / t.step;
            assert!(
                (multiple - multiple.round()).abs() < 1e-9,
                "{v} is no multiple of {}",
                t.step
            );
        }
        for pair in t.values.windows(2) {
            assert!((pair[1] - pair[0] - t.step).abs() < 1e-9 * t.step.max(1.0));
        }
    }

    #[test]
    fn round_steps() {
        assert_eq!(round_step(0.13), 0.2);
        assert_eq!(round_step(0.3), 0.5);
        assert_eq!(round_step(0.1 + 0.2), 0.5);
        assert_eq!(round_step(1.0), 1.0);
        assert_eq!(round_step(7.0), 10.0);
        assert_eq!(round_step(1234.0), 2000.0);
        assert_eq!(round_step(0.0), 1.0);
        assert_eq!(round_step(f64::NAN), 1.0);
    }

    #[test]
    fn covering_ticks_are_round_cover_the_range_and_are_few() {
        for (lo, hi) in [
            (0.0, 1.0),
            (0.0, 7.3),
            (0.0, 68.0),
            (0.0, 0.037),
            (3.2, 1234.5),
            (-17.0, 5.0),
            (0.0, 0.0),
            (5.0, 5.0),
            (0.0, 1e9),
            (0.123, 0.124),
        ] {
            for max in [3, 4, 6, 11] {
                let t = covering(lo, hi, max);
                assert_round(&t);
                assert!(t.values.len() <= max, "{lo}..{hi}: {t:?} over {max}");
                assert!(t.values.len() >= 2, "{lo}..{hi}: {t:?}");
                assert!(t.values[0] <= lo + 1e-12, "{lo}..{hi}: {t:?}");
                assert!(*t.values.last().unwrap() >= hi - 1e-12, "{lo}..{hi}: {t:?}");
                // Not wastefully coarse: a step smaller by one notch would
                // have needed more than `max` ticks.
                if hi > lo && max >= 6 {
                    let span = t.values.last().unwrap() - t.values[0];
                    assert!(span < 3.0 * (hi - lo) + t.step, "{lo}..{hi}: {t:?}");
                }
            }
        }
        assert_eq!(covering(0.0, 68.0, 6).values, [0.0, 20.0, 40.0, 60.0, 80.0]);
        assert_eq!(covering(0.0, 1.0, 6).values.len(), 6);
    }

    #[test]
    fn ticks_within_a_fixed_range_stay_inside_it() {
        for (lo, hi) in [
            (0.0, 1.53),
            (0.0, 5.3),
            (0.0, 20.0),
            (0.0, 600.0),
            (0.0, 0.04),
        ] {
            for max in [4, 8, 12] {
                let t = within(lo, hi, max);
                assert_round(&t);
                assert!(t.values.len() <= max && t.values.len() >= 2, "{t:?}");
                assert!(t.values[0] >= lo - 1e-12 && *t.values.last().unwrap() <= hi + 1e-9);
                // The ticks reach within one step of both ends.
                assert!(t.values[0] - lo < t.step + 1e-9);
                assert!(hi - t.values.last().unwrap() < t.step + 1e-9, "{t:?}");
            }
        }
        assert_eq!(within(0.0, 1.53, 11).step, 0.2);
        assert_eq!(within(0.0, 20.0, 12).values.len(), 11);
    }

    #[test]
    fn labels_have_the_decimals_their_step_needs() {
        assert_eq!(label(0.30000000000000004, 0.1), "0.3");
        assert_eq!(label(1.5, 0.5), "1.5");
        assert_eq!(label(0.05, 0.05), "0.05");
        assert_eq!(label(20.0, 10.0), "20");
        assert_eq!(label(-1e-17, 0.1), "0.0");
        assert_eq!(label(-2.0, 1.0), "-2");
    }

    #[test]
    fn log_ticks_are_powers_of_ten_covering_the_range() {
        let t = log_covering(0.37, 2400.0);
        assert_eq!((t.from, t.to), (-1, 4));
        assert_eq!(t.values, [0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0]);
        assert_eq!(t.labelled, t.values);
        let labels: Vec<String> = t.labelled.iter().map(|&v| log_label(v)).collect();
        assert_eq!(labels, ["0.1", "1", "10", "100", "1000", "10000"]);
        // Two decades or fewer: 2× and 5× ticks too.
        let t = log_covering(3.0, 80.0);
        assert_eq!((t.from, t.to), (0, 2));
        assert_eq!(t.values, [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]);
        // A single value still gets one decade.
        let t = log_covering(100.0, 100.0);
        assert_eq!((t.from, t.to), (2, 3));
        // Many decades: labels thinned, every power still drawn.
        let t = log_covering(1e-3, 1e9);
        assert_eq!(t.values.len(), 13);
        assert!(t.labelled.len() <= 8, "{t:?}");
        assert!(t.labelled.contains(&1e-3));
    }
}
