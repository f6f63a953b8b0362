//! Cost allocation (pure): a price list turns allocated quotas into a monthly figure, in exact
//! integer arithmetic. Prices are read to a ten-thousandth of the currency unit; an onboarding's cost
//! is rounded once, to the cent (half up), and a Ressort's or task's cost is the sum of its
//! onboardings' rounded costs, so that the figures add up exactly wherever they are shown.

use std::collections::BTreeMap;
use std::fmt;

use crate::api::{Amounts, CostStatus};

/// The price list's keys, as the chart's ConfigMap writes them.
pub mod keys {
    /// The currency (`EUR` when omitted).
    pub const CURRENCY: &str = "currency";
    /// Per CPU core (requests.cpu of the quota) and month.
    pub const CPU: &str = "cpuCoreMonth";
    /// Per GiB of memory (requests.memory) and month.
    pub const MEMORY: &str = "memoryGiBMonth";
    /// Per GiB of storage (requests.storage) and month.
    pub const STORAGE: &str = "storageGiBMonth";
    /// Per provisioned namespace and month.
    pub const NAMESPACE: &str = "namespaceMonth";
}

/// The period every cost is stated for.
pub const PERIOD: &str = "month";

/// A price in ten-thousandths of the currency unit.
type Price = i128;

/// What a month of each allocated unit costs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceList {
    /// The currency, `EUR` unless the list says otherwise.
    pub currency: String,
    cpu_core: Price,
    memory_gib: Price,
    storage_gib: Price,
    namespace: Price,
}

/// Why a price list cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "price list key {key:?}: {value:?} is not a price; write a non-negative decimal with at most four decimal places, such as \"25.50\""
)]
pub struct PriceError {
    /// The key.
    pub key: String,
    /// Its value.
    pub value: String,
}

fn price(data: &BTreeMap<String, String>, key: &str) -> Result<Price, PriceError> {
    let Some(text) = data.get(key) else {
        return Ok(0);
    };
    let err = || PriceError {
        key: key.to_string(),
        value: text.clone(),
    };
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || !digits(whole)
        || !digits(fraction)
        || fraction.len() > 4
        || whole.len() > 15
    {
        return Err(err());
    }
    let whole: i128 = whole.parse().map_err(|_| err())?;
    let fraction: i128 = format!("{fraction:0<4}").parse().map_err(|_| err())?;
    Ok(whole * 10_000 + fraction)
}

impl PriceList {
    /// Reads a ConfigMap's data; a key that is missing costs nothing.
    pub fn parse(data: &BTreeMap<String, String>) -> Result<PriceList, PriceError> {
        Ok(PriceList {
            currency: data
                .get(keys::CURRENCY)
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| "EUR".into()),
            cpu_core: price(data, keys::CPU)?,
            memory_gib: price(data, keys::MEMORY)?,
            storage_gib: price(data, keys::STORAGE)?,
            namespace: price(data, keys::NAMESPACE)?,
        })
    }

    /// The monthly cost of `allocated` in `namespaces` namespaces, in cents, rounded half up.
    pub fn monthly_cents(&self, allocated: &Amounts, namespaces: usize) -> i128 {
        const GIB: i128 = 1 << 30;
        // Everything over the common denominator 1000 (milli) × GiB, in ten-thousandths.
        let cpu = allocated.cpu.milli().max(0) * self.cpu_core * GIB;
        let memory = allocated.memory.milli().max(0) * self.memory_gib;
        let storage = allocated.storage.milli().max(0) * self.storage_gib;
        let ns = i128::try_from(namespaces).unwrap_or(i128::MAX / 4) * self.namespace * 1000 * GIB;
        let numerator = cpu
            .saturating_add(memory)
            .saturating_add(storage)
            .saturating_add(ns);
        // Ten-thousandths to cents: a further 100.
        let denominator = 1000 * GIB * 100;
        (numerator + denominator / 2) / denominator
    }

    /// The cost as the status states it.
    pub fn status(&self, cents: i128) -> CostStatus {
        CostStatus {
            monthly: Cents(cents).to_string(),
            currency: self.currency.clone(),
            period: PERIOD.into(),
        }
    }
}

/// An amount in cents, shown with two decimals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cents(pub i128);

impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// Reads a cost back to cents (the status's own format), to add up costs exactly.
pub fn cents_of(cost: &CostStatus) -> Option<i128> {
    let (whole, fraction) = cost.monthly.split_once('.')?;
    if fraction.len() != 2 {
        return None;
    }
    let whole: i128 = whole.parse().ok()?;
    let fraction: i128 = fraction.parse().ok()?;
    Some(whole * 100 + if whole < 0 { -fraction } else { fraction })
}

/// The sum of costs in the same currency (`None` when there are none, or the currencies differ).
pub fn sum<'a>(costs: impl IntoIterator<Item = &'a CostStatus>) -> Option<CostStatus> {
    let mut total: Option<(i128, String)> = None;
    for c in costs {
        let cents = cents_of(c)?;
        total = match total {
            None => Some((cents, c.currency.clone())),
            Some((t, cur)) if cur == c.currency => Some((t + cents, cur)),
            Some(_) => return None,
        };
    }
    total.map(|(cents, currency)| CostStatus {
        monthly: Cents(cents).to_string(),
        currency,
        period: PERIOD.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{QuantityValue, ResourceTotals};

    fn prices(pairs: &[(&str, &str)]) -> Result<PriceList, PriceError> {
        PriceList::parse(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn amounts(cpu: &str, memory: &str, storage: &str) -> Amounts {
        ResourceTotals {
            cpu: QuantityValue(cpu.into()),
            memory: QuantityValue(memory.into()),
            storage: QuantityValue(storage.into()),
            pods: QuantityValue("10".into()),
        }
        .amounts()
        .unwrap()
    }

    #[test]
    fn quotas_become_an_exact_monthly_cost() {
        let p = prices(&[
            ("cpuCoreMonth", "25.50"),
            ("memoryGiBMonth", "3.2"),
            ("storageGiBMonth", "0.1234"),
            ("namespaceMonth", "10"),
        ])
        .unwrap();
        // 2.5 cores × 25.50 = 63.75; 8 GiB × 3.20 = 25.60; 100 GiB × 0.1234 = 12.34; 3 × 10 = 30.
        let cents = p.monthly_cents(&amounts("2500m", "8Gi", "100Gi"), 3);
        assert_eq!(Cents(cents).to_string(), "131.69");
        assert_eq!(p.status(cents).currency, "EUR");
        assert_eq!(p.status(cents).period, "month");
    }

    #[test]
    fn fractions_of_a_cent_are_rounded_once_half_up() {
        let p = prices(&[("memoryGiBMonth", "0.0001")]).unwrap();
        // 512 MiB × 0.0001 = 0.00005 €, a two-hundredth of a cent: 0 cents.
        assert_eq!(p.monthly_cents(&amounts("0", "512Mi", "0"), 0), 0);
        let p = prices(&[("cpuCoreMonth", "0.005")]).unwrap();
        assert_eq!(
            p.monthly_cents(&amounts("1", "0", "0"), 0),
            1,
            "half a cent rounds up"
        );
        assert_eq!(p.monthly_cents(&amounts("999m", "0", "0"), 0), 0);
    }

    #[test]
    fn a_price_that_is_not_a_decimal_is_refused_with_its_key() {
        for bad in ["-1", "1,50", "abc", "1.23456", "", "1e3"] {
            let e = prices(&[("cpuCoreMonth", bad)]).unwrap_err();
            assert_eq!(e.key, "cpuCoreMonth", "{bad}");
            assert!(e.to_string().contains("25.50"));
        }
    }

    #[test]
    fn costs_add_up_exactly_and_only_in_one_currency() {
        let c = |m: &str, cur: &str| CostStatus {
            monthly: m.into(),
            currency: cur.into(),
            period: PERIOD.into(),
        };
        let total = sum([&c("0.10", "EUR"), &c("0.20", "EUR"), &c("1234.05", "EUR")]).unwrap();
        assert_eq!(total.monthly, "1234.35", "no binary floating point drift");
        assert_eq!(sum([&c("1.00", "EUR"), &c("1.00", "USD")]), None);
        assert_eq!(sum(std::iter::empty()), None);
    }
}
