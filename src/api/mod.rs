//! The custom resources of `conplus.niedersachsen.de/v1alpha1` and their condition constants.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub mod aufgabe;
pub mod common;
pub mod conditions;
pub mod onboarding;
pub mod profile;
pub mod quantity;
pub mod ressort;

pub use aufgabe::{
    AufgabeKind, Solution, Verwaltungsaufgabe, VerwaltungsaufgabeSpec, VerwaltungsaufgabeStatus,
};
pub use common::{Amounts, CostStatus, QuantityValue, ResourceName, ResourceTotals};
pub use onboarding::{
    AccessEntry, AccessRole, ConformanceFinding, ConformanceSpec, ConformanceStatus,
    DeletionPolicy, Environment, FachverfahrenOnboarding, FachverfahrenOnboardingSpec,
    FachverfahrenOnboardingStatus, GrundschutzCounts, IntraNamespace, NamespaceStatus, NetworkSpec,
    Owner, Phase, ProtectionLevel,
};
pub use profile::ConformanceProfile;
pub use ressort::{Ressort, RessortSpec, RessortStatus};

/// The API group of every CONPlus resource.
pub const GROUP: &str = "conplus.niedersachsen.de";
/// The served and stored version.
pub const VERSION: &str = "v1alpha1";

/// All CustomResourceDefinitions the operator serves, in the order `crd` prints them.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        Ressort::crd(),
        FachverfahrenOnboarding::crd(),
        ConformanceProfile::crd(),
        Verwaltungsaufgabe::crd(),
    ]
}

/// The YAML the operator writes (`crd`, `render`, examples/profiles): block style, multi-line strings as
/// literal blocks (`|-`), long single-line strings not folded, so that a long pattern or description stays
/// on one line as `kubectl` prints it.
pub fn to_yaml<T: serde::Serialize>(value: &T) -> Result<String, serde_saphyr::ser::Error> {
    let options = serde_saphyr::ser_options! {
        folded_wrap_chars: usize::MAX,
    };
    serde_saphyr::to_string_with_options(value, options)
}

/// The CRDs as one multi-document YAML stream, as `conplus-operator crd` prints it and
/// `crds/` holds it.
pub fn crds_yaml() -> Result<String, serde_saphyr::ser::Error> {
    let mut out = String::new();
    for crd in crds() {
        out.push_str("---\n");
        out.push_str(&to_yaml(&crd)?);
    }
    Ok(out)
}
