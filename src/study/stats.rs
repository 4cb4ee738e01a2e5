//! The statistics of replications: a sample's mean with its 95% Student t confidence interval,
//! Welch's t-test between two samples, and the seeds of the replications.
//!
//! Everything is computed in a fixed order with `libm`'s functions (as the samplers are), so the
//! figures written to `summary.json` are the same bits on every machine.

/// SplitMix64's increment (the golden ratio in 64 bits).
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The seed of replication `i` of a scenario whose seed is `seed`: replication 0 is the scenario's
/// own seed (so one replication is the plain run); replication `i >= 1` is the `i`-th output of a
/// SplitMix64 generator seeded with `seed`, shifted right by 11 bits (53 bits, so that every JSON
/// reader, JavaScript's included, reads it exactly).
pub fn replication_seed(seed: u64, i: u32) -> u64 {
    if i == 0 {
        return seed;
    }
    let mut z = seed.wrapping_add(GOLDEN.wrapping_mul(u64::from(i)));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) >> 11
}

/// The continued fraction of the incomplete beta function (modified Lentz), for `x` below
/// `(a + 1) / (a + b + 2)`, where it converges fast.
fn beta_fraction(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=500 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        let step = d * c;
        h *= step;
        if (step - 1.0).abs() < 1e-16 {
            break;
        }
    }
    h
}

/// The regularised incomplete beta function I_x(a, b), given `x` and `1 - x` (passed separately,
/// so that an `x` close to 1 loses no digits).
fn incomplete_beta(x: f64, one_minus_x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if one_minus_x <= 0.0 {
        return 1.0;
    }
    let ln_beta = libm::lgamma(a) + libm::lgamma(b) - libm::lgamma(a + b);
    let front = libm::exp(a * libm::log(x) + b * libm::log(one_minus_x) - ln_beta);
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(x, a, b) / a
    } else {
        1.0 - front * beta_fraction(one_minus_x, b, a) / b
    }
}

/// P(|T| > t) for Student's t with `df` degrees of freedom (any `df > 0`, not only whole):
/// I_{df/(df+t²)}(df/2, 1/2).
pub fn t_two_sided_p(t: f64, df: f64) -> f64 {
    let t2 = t * t;
    if !t2.is_finite() {
        return 0.0;
    }
    incomplete_beta(df / (df + t2), t2 / (df + t2), df / 2.0, 0.5)
}

/// The 97.5% quantile of Student's t with `df` degrees of freedom (the half-width factor of a 95%
/// two-sided interval): the `t` with P(|T| > t) = 0.05, by bisection to the last bit.
pub fn t975(df: f64) -> f64 {
    let mut hi = 1.0;
    while t_two_sided_p(hi, df) > 0.05 && hi < 1e12 {
        hi *= 2.0;
    }
    let mut lo = 0.0;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if t_two_sided_p(mid, df) > 0.05 { lo = mid } else { hi = mid }
    }
    0.5 * (lo + hi)
}

/// A sample's mean, standard deviation (n - 1) and size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Moments {
    pub n: usize,
    pub mean: f64,
    /// Sample variance (divided by n - 1); 0 for one value.
    pub variance: f64,
}

impl Moments {
    pub fn of(values: &[f64]) -> Option<Moments> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let variance =
            if n > 1 { values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1) as f64 } else { 0.0 };
        Some(Moments { n, mean, variance })
    }

    /// The 95% confidence interval of the mean, mean ± t(0.975, n - 1) · s / √n; `None` below two
    /// values.
    pub fn ci95(&self) -> Option<(f64, f64)> {
        if self.n < 2 {
            return None;
        }
        let half = t975((self.n - 1) as f64) * (self.variance / self.n as f64).sqrt();
        Some((self.mean - half, self.mean + half))
    }
}

/// Welch's t-test of two samples' means.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Welch {
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom.
    pub df: f64,
    /// Two-sided p-value.
    pub p: f64,
}

impl Welch {
    /// `None` when either sample has fewer than two values. Two samples without any spread: p is 1
    /// if the means are equal, 0 otherwise.
    pub fn test(a: &Moments, b: &Moments) -> Option<Welch> {
        if a.n < 2 || b.n < 2 {
            return None;
        }
        let (va, vb) = (a.variance / a.n as f64, b.variance / b.n as f64);
        let diff = b.mean - a.mean;
        if va + vb == 0.0 {
            let p = if diff == 0.0 { 1.0 } else { 0.0 };
            return Some(Welch { t: if diff == 0.0 { 0.0 } else { f64::INFINITY.copysign(diff) }, df: f64::NAN, p });
        }
        let t = diff / (va + vb).sqrt();
        let df = (va + vb) * (va + vb) / (va * va / (a.n - 1) as f64 + vb * vb / (b.n - 1) as f64);
        Some(Welch { t, df, p: t_two_sided_p(t, df) })
    }

    /// Whether the means differ at the 5% level (two-sided).
    pub fn differs(&self) -> bool {
        self.p < 0.05
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Published two-sided 95% values of Student's t (to the 3 decimals of the tables), and the
    /// normal limit 1.960.
    #[test]
    fn t_quantiles_match_the_tables() {
        for (df, t) in [
            (1.0, 12.706),
            (2.0, 4.303),
            (3.0, 3.182),
            (4.0, 2.776),
            (9.0, 2.262),
            (10.0, 2.228),
            (29.0, 2.045),
            (30.0, 2.042),
            (60.0, 2.000),
            (120.0, 1.980),
            (1e7, 1.960),
        ] {
            let got = t975(df);
            assert!((got - t).abs() < 5e-4, "t(0.975, {df}) = {got}, tables say {t}");
        }
        // More digits where they are known: df 1 is tan(0.475 π) = 12.7062047...; df 4 is 2.7764451...
        assert!((t975(1.0) - 12.706_204_736).abs() < 1e-6, "{}", t975(1.0));
        assert!((t975(4.0) - 2.776_445_105).abs() < 1e-6, "{}", t975(4.0));
        // The p-value inverts the quantile, and a fractional df lies between its neighbours.
        assert!((t_two_sided_p(t975(7.0), 7.0) - 0.05).abs() < 1e-12);
        assert!(t975(4.5) < t975(4.0) && t975(4.5) > t975(5.0));
        assert_eq!(t_two_sided_p(0.0, 3.0), 1.0);
    }

    /// Worked by hand: 1, 2, 3, 4, 5 has mean 3, variance 10/4 = 2.5, standard error
    /// √(2.5/5) = 0.70711; t(0.975, 4) = 2.77645, so the half-width is 1.96324.
    #[test]
    fn mean_and_interval_of_a_small_sample() {
        let m = Moments::of(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        assert_eq!((m.n, m.mean, m.variance), (5, 3.0, 2.5));
        let (lo, hi) = m.ci95().unwrap();
        assert!((lo - 1.036_76).abs() < 1e-4 && (hi - 4.963_24).abs() < 1e-4, "{lo} {hi}");
        // One value: a mean, no interval; equal values: an interval of width 0.
        assert_eq!(Moments::of(&[7.0]).unwrap().ci95(), None);
        assert_eq!(Moments::of(&[2.0, 2.0, 2.0]).unwrap().ci95(), Some((2.0, 2.0)));
        assert_eq!(Moments::of(&[]), None);
    }

    /// Worked by hand: A = 1..5 (mean 3, s²/n = 0.5), B = 4..8 (mean 6, s²/n = 0.5): t = 3/√1 = 3,
    /// df = 1 / (0.25/4 + 0.25/4) = 8; P(|T8| > 3) = 0.0171 (tables).
    #[test]
    fn welch_test_of_two_samples() {
        let a = Moments::of(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        let b = Moments::of(&[4.0, 5.0, 6.0, 7.0, 8.0]).unwrap();
        let w = Welch::test(&a, &b).unwrap();
        assert_eq!((w.t, w.df), (3.0, 8.0));
        assert!((w.p - 0.0171).abs() < 1e-4, "{}", w.p);
        assert!(w.differs());
        let c = Moments::of(&[2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        assert!(!Welch::test(&a, &c).unwrap().differs(), "means 3 and 4 with this spread");
        let flat = Moments::of(&[1.0, 1.0]).unwrap();
        assert_eq!(Welch::test(&flat, &flat).unwrap().p, 1.0);
        assert!(Welch::test(&flat, &Moments::of(&[2.0, 2.0]).unwrap()).unwrap().differs());
        assert_eq!(Welch::test(&flat, &Moments::of(&[1.0]).unwrap()), None);
    }

    #[test]
    fn replication_seeds() {
        assert_eq!(replication_seed(42, 0), 42, "replication 0 is the scenario's seed");
        let seeds: Vec<u64> = (0..100).map(|i| replication_seed(42, i)).collect();
        let mut distinct = seeds.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 100);
        assert!(seeds[1..].iter().all(|&s| s < 1 << 53));
        // SplitMix64's first output from state 0 is 0xE220A8397B1DCDAF (its reference sequence).
        assert_eq!(replication_seed(0, 1), 0xE220_A839_7B1D_CDAF >> 11);
    }
}
