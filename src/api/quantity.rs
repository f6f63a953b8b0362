//! Kubernetes resource quantities as exact numbers: parsing, canonical formatting and sums.
//!
//! Budgets are compared and summed here, so the arithmetic must be exact: quantities are held
//! as integer milli-units (`1.5Gi` = 1_610_612_736_000 milli-bytes), which covers every value a
//! quota can carry without rounding.

use std::fmt;
use std::str::FromStr;

/// A non-negative quantity in milli-units, with the suffix family it was written in
/// (binary `Ki`/`Mi`, decimal `k`/`M`, or none) so that it prints the way people write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount {
    milli: i128,
}

/// A string that is not a Kubernetes quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{input:?} is not a Kubernetes quantity: write a number with an optional suffix, such as 500m, 2, 4Gi or 100"
)]
pub struct QuantityError {
    /// The rejected text.
    pub input: String,
}

const BINARY: [(&str, u32); 6] = [
    ("Ki", 10),
    ("Mi", 20),
    ("Gi", 30),
    ("Ti", 40),
    ("Pi", 50),
    ("Ei", 60),
];
const DECIMAL: [(&str, i32); 8] = [
    ("n", -9),
    ("u", -6),
    ("m", -3),
    ("k", 3),
    ("M", 6),
    ("G", 9),
    ("T", 12),
    ("P", 15),
];

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount { milli: 0 };

    /// From whole units.
    pub fn from_units(units: i64) -> Self {
        Amount {
            milli: i128::from(units) * 1000,
        }
    }

    /// From milli-units.
    pub fn from_milli(milli: i128) -> Self {
        Amount { milli }
    }

    /// The value in milli-units.
    pub fn milli(self) -> i128 {
        self.milli
    }

    /// Sum, saturating (a budget is never near `i128::MAX`, but input is untrusted).
    pub fn saturating_add(self, other: Amount) -> Amount {
        Amount {
            milli: self.milli.saturating_add(other.milli),
        }
    }

    /// Difference, saturating.
    pub fn saturating_sub(self, other: Amount) -> Amount {
        Amount {
            milli: self.milli.saturating_sub(other.milli),
        }
    }

    /// The canonical text kube-apiserver would store: the largest binary suffix that divides a
    /// byte-like value exactly when `binary` is set, otherwise the largest decimal suffix
    /// (`m` for fractions of a unit).
    pub fn to_canonical(self, binary: bool) -> String {
        let m = self.milli;
        if m == 0 {
            return "0".to_string();
        }
        if m % 1000 != 0 {
            return format!("{m}m");
        }
        let units = m / 1000;
        if binary {
            for (suffix, shift) in BINARY.iter().rev() {
                let factor = 1i128 << shift;
                if units % factor == 0 {
                    return format!("{}{suffix}", units / factor);
                }
            }
            return units.to_string();
        }
        for (suffix, exp) in DECIMAL.iter().rev() {
            if *exp <= 0 {
                break;
            }
            let factor = 10i128.pow(*exp as u32);
            if units % factor == 0 {
                return format!("{}{suffix}", units / factor);
            }
        }
        units.to_string()
    }
}

impl FromStr for Amount {
    type Err = QuantityError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = || QuantityError {
            input: input.to_string(),
        };
        let s = input.trim();
        let s = s.strip_prefix('+').unwrap_or(s);
        if s.is_empty() || s.starts_with('-') {
            return Err(err());
        }
        // Split number and suffix at the first character that cannot belong to the number.
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (number, suffix) = s.split_at(split);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(err());
        }
        let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
        // Exact decimal: digits as an integer scaled by 10^-frac_len (no allocation: budget
        // admission parses every quota of a Ressort on each reconcile).
        let mut mantissa: i128 = 0;
        for b in int_part.bytes().chain(frac_part.bytes()) {
            mantissa = mantissa
                .checked_mul(10)
                .and_then(|m| m.checked_add(i128::from(b - b'0')))
                .ok_or_else(err)?;
        }
        let frac_len = i32::try_from(frac_part.len()).map_err(|_| err())?;
        // Value in milli-units = mantissa * 10^(3 - frac_len) * multiplier.
        let (pow10, pow2) = if suffix.is_empty() {
            (0, 0)
        } else if let Some((_, shift)) = BINARY.iter().find(|(s, _)| *s == suffix) {
            (0, *shift)
        } else if let Some((_, exp)) = DECIMAL.iter().find(|(s, _)| *s == suffix) {
            (*exp, 0)
        } else if let Some(exp) = suffix.strip_prefix(['e', 'E']) {
            (exp.parse::<i32>().map_err(|_| err())?, 0)
        } else {
            return Err(err());
        };
        let exp10 = 3 - frac_len + pow10;
        let mut value = mantissa.checked_mul(1i128 << pow2).ok_or_else(err)?;
        if exp10 >= 0 {
            value = value
                .checked_mul(10i128.checked_pow(exp10 as u32).ok_or_else(err)?)
                .ok_or_else(err)?;
        } else {
            // Below a milli-unit: kube-apiserver rounds up to the next milli-unit.
            let div = 10i128.checked_pow((-exp10) as u32).ok_or_else(err)?;
            value = (value + div - 1) / div;
        }
        Ok(Amount { milli: value })
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_canonical(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Amount {
        s.parse().unwrap()
    }

    #[test]
    fn parses_every_suffix_family_exactly() {
        assert_eq!(q("500m").milli(), 500);
        assert_eq!(q("2").milli(), 2000);
        assert_eq!(q("1.5").milli(), 1500);
        assert_eq!(q("4Gi").milli(), 4 * (1i128 << 30) * 1000);
        assert_eq!(q("1k").milli(), 1_000_000);
        assert_eq!(q("1e3").milli(), 1_000_000);
        assert_eq!(
            q("100n").milli(),
            1,
            "sub-milli values round up like kube-apiserver"
        );
    }

    #[test]
    fn rejects_what_is_not_a_quantity() {
        for bad in ["", "-1", "abc", "1.2.3", "4GB", "Gi", "."] {
            assert!(bad.parse::<Amount>().is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn canonical_form_uses_largest_exact_suffix() {
        assert_eq!(q("1024Mi").to_canonical(true), "1Gi");
        assert_eq!(q("1536Mi").to_canonical(true), "1536Mi");
        assert_eq!(q("1000m").to_canonical(false), "1");
        assert_eq!(q("2500m").to_canonical(false), "2500m");
        assert_eq!(q("20").to_canonical(false), "20");
        assert_eq!(q("3000").to_canonical(false), "3k");
        assert_eq!(q("0").to_canonical(true), "0");
    }

    #[test]
    fn sums_are_exact_across_suffixes() {
        let total = q("512Mi").saturating_add(q("512Mi"));
        assert_eq!(total, q("1Gi"));
        assert!(q("1500m") > q("1"));
    }
}
