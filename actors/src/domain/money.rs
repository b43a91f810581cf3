//! Money in thousandths of a eurocent: providers bill fractions of a cent (SMSO's 3.5), and sums
//! over millions of messages must stay exact, so no floats are added up.

use serde::{Deserialize, Serialize};
use std::ops::{Add, AddAssign, Mul, Sub};

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_millicents(millicents: i64) -> Self {
        Self(millicents)
    }

    /// Rounds to the nearest thousandth of a cent: finer than any provider bills.
    pub fn from_cents(cents: f64) -> Self {
        Self((cents * 1000.0).round() as i64)
    }

    pub const fn millicents(self) -> i64 {
        self.0
    }

    pub fn cents(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    pub fn is_positive(self) -> bool {
        self.0 > 0
    }
}

impl Add for Money {
    type Output = Money;
    fn add(self, rhs: Money) -> Money {
        Money(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign for Money {
    fn add_assign(&mut self, rhs: Money) {
        self.0 = self.0.saturating_add(rhs.0);
    }
}

impl Sub for Money {
    type Output = Money;
    fn sub(self, rhs: Money) -> Money {
        Money(self.0.saturating_sub(rhs.0))
    }
}

impl Mul<u32> for Money {
    type Output = Money;
    fn mul(self, rhs: u32) -> Money {
        Money(self.0.saturating_mul(i64::from(rhs)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractional_cents_add_up_exactly() {
        let total = (0..1000).fold(Money::ZERO, |acc, _| acc + Money::from_cents(3.5));
        assert_eq!(total.millicents(), 3_500_000);
        assert_eq!(total.cents(), 3500.0);
    }
}
