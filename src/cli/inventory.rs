//! `conplus-operator inventory`: the consolidation inventory — one row per `Verwaltungsaufgabe` and
//! the Fachverfahren that serve it — from the cluster or offline from a GitOps folder of manifests.
//!
//! Reading is I/O (manifests, or lists through the user's kubeconfig); grouping and rendering are
//! pure ([`crate::inventory`]). Exit codes: 0 the inventory was written, 2 an input or the cluster
//! could not be read.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use kube::api::{Api, ListParams};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::check::{EXIT_ERROR, EXIT_OK};
use super::plugin::{Connection, connect};
use crate::api::{FachverfahrenOnboarding, GROUP, Ressort, Verwaltungsaufgabe};
use crate::conformance::input::{Inputs, read_paths};
use crate::inventory::{Format, Inventory, render};

/// Options of `inventory`.
#[derive(clap::Args, Debug)]
pub struct InventoryArgs {
    /// Offline: files, folders (recursively: *.yaml, *.yml, *.json) or `-` holding the
    /// Verwaltungsaufgaben, onboardings and Ressorts. Without a path the cluster of the kubeconfig
    /// is read.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Only the tasks that more than one Fachverfahren serves.
    #[arg(long)]
    pub parallel_only: bool,
    /// The cluster to read (without PATH).
    #[command(flatten)]
    pub connection: Connection,
}

/// Why the inventory could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// A manifest could not be read or does not match the CRD's schema.
    #[error("{0}")]
    Input(String),
    /// The cluster could not be reached or refused the list.
    #[error(
        "listing {what}: {source}; check the kubeconfig and that you may list {what} cluster-wide"
    )]
    List {
        /// The kind listed.
        what: &'static str,
        /// The API error.
        source: kube::Error,
    },
    /// No usable kubeconfig.
    #[error("{0}")]
    Connect(String),
}

/// The objects the inventory is built from.
#[derive(Default)]
struct Sources {
    tasks: Vec<Verwaltungsaufgabe>,
    onboardings: Vec<FachverfahrenOnboarding>,
    ressorts: Vec<Ressort>,
}

/// Runs `inventory` and returns its exit code.
pub fn run(args: InventoryArgs) -> ExitCode {
    let sources = if args.paths.is_empty() {
        match super::runtime() {
            Ok(rt) => rt.block_on(from_cluster(&args.connection)),
            Err(e) => Err(InventoryError::Connect(e.to_string())),
        }
    } else {
        from_manifests(&args.paths, std::io::stdin().lock())
    };
    let sources = match sources {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let output = inventory(&sources, &args);
    let mut out = std::io::stdout().lock();
    if out
        .write_all(output.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::from(EXIT_ERROR);
    }
    ExitCode::from(EXIT_OK)
}

fn inventory(sources: &Sources, args: &InventoryArgs) -> String {
    let mut inv = Inventory::build(&sources.tasks, &sources.onboardings, &sources.ressorts);
    if args.parallel_only {
        inv = inv.parallel_only();
    }
    render(&inv, args.format)
}

/// The tasks, onboardings and Ressorts among the manifests; other objects are ignored.
fn from_manifests(paths: &[PathBuf], stdin: impl std::io::Read) -> Result<Sources, InventoryError> {
    let Inputs {
        objects, errors, ..
    } = read_paths(paths, stdin);
    if let Some(e) = errors.first() {
        return Err(InventoryError::Input(format!(
            "{}:{}: {}",
            e.file, e.line, e.message
        )));
    }
    let mut sources = Sources::default();
    for o in objects {
        let group = o
            .value
            .get("apiVersion")
            .and_then(Value::as_str)
            .and_then(|v| v.split_once('/'))
            .map(|(g, _)| g);
        if group != Some(GROUP) {
            continue;
        }
        let at = o
            .location
            .as_ref()
            .map(|l| format!("{}:{}", l.file, l.line))
            .unwrap_or_default();
        match o.value.get("kind").and_then(Value::as_str) {
            Some("Verwaltungsaufgabe") => sources.tasks.push(typed(o.value, &at)?),
            Some("FachverfahrenOnboarding") => sources.onboardings.push(typed(o.value, &at)?),
            Some("Ressort") => sources.ressorts.push(typed(o.value, &at)?),
            _ => {}
        }
    }
    Ok(sources)
}

fn typed<T: DeserializeOwned>(value: Value, at: &str) -> Result<T, InventoryError> {
    serde_json::from_value(value).map_err(|e| {
        InventoryError::Input(format!(
            "{at}: {e} (the object does not match its CustomResourceDefinition; `kubectl apply --dry-run=server` says more)"
        ))
    })
}

async fn from_cluster(conn: &Connection) -> Result<Sources, InventoryError> {
    let (client, _) = connect(conn)
        .await
        .map_err(|e| InventoryError::Connect(e.to_string()))?;
    Ok(Sources {
        tasks: list(&Api::all(client.clone()), "verwaltungsaufgaben").await?,
        onboardings: list(&Api::all(client.clone()), "fachverfahrenonboardings").await?,
        ressorts: list(&Api::all(client), "ressorts").await?,
    })
}

async fn list<K>(api: &Api<K>, what: &'static str) -> Result<Vec<K>, InventoryError>
where
    K: kube::Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    api.list(&ListParams::default())
        .await
        .map(|l| l.items)
        .map_err(|source| InventoryError::List { what, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(format: Format, parallel_only: bool) -> InventoryArgs {
        InventoryArgs {
            paths: vec![PathBuf::from("-")],
            format,
            parallel_only,
            connection: Connection::default(),
        }
    }

    const MANIFESTS: &str = r#"
apiVersion: conplus.niedersachsen.de/v1alpha1
kind: Verwaltungsaufgabe
metadata: {name: zeiterfassung}
spec: {displayName: Zeiterfassung, kind: Querschnitt}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ignored}
---
apiVersion: conplus.niedersachsen.de/v1alpha1
kind: FachverfahrenOnboarding
metadata: {name: mk-zeit}
spec:
  ressort: mk
  fachverfahren: zeit
  displayName: Zeiterfassung Kultus
  owner: {organisation: Referat 11, contact: zeit@mk.niedersachsen.de}
  aufgabe: zeiterfassung
  environments: [{name: prod, quota: {cpu: "1", memory: 1Gi, storage: 1Gi, pods: 10}}]
---
apiVersion: conplus.niedersachsen.de/v1alpha1
kind: FachverfahrenOnboarding
metadata: {name: mi-zeit}
spec:
  ressort: mi
  fachverfahren: zeitwirtschaft
  displayName: Zeitwirtschaft Inneres
  owner: {organisation: Referat Z, contact: zeit@mi.niedersachsen.de}
  aufgabe: zeiterfassung
  environments: [{name: prod, quota: {cpu: "1", memory: 1Gi, storage: 1Gi, pods: 10}}]
"#;

    #[test]
    fn offline_manifests_give_the_parallel_solutions_of_a_task() {
        let sources = from_manifests(&[PathBuf::from("-")], MANIFESTS.as_bytes()).unwrap();
        assert_eq!((sources.tasks.len(), sources.onboardings.len()), (1, 2));
        let csv = inventory(&sources, &args(Format::Csv, true));
        assert!(
            csv.contains("zeiterfassung;Zeiterfassung;Querschnitt;yes;mi;zeitwirtschaft"),
            "{csv}"
        );
        assert_eq!(csv.lines().count(), 3, "header and two solutions: {csv}");
    }

    #[test]
    fn an_onboarding_that_does_not_match_the_schema_is_an_error_with_its_place() {
        let broken = "apiVersion: conplus.niedersachsen.de/v1alpha1\nkind: FachverfahrenOnboarding\nmetadata: {name: x}\nspec: {ressort: mk}\n";
        let Err(e) = from_manifests(&[PathBuf::from("-")], broken.as_bytes()) else {
            panic!("an incomplete onboarding is not an inventory entry");
        };
        let text = e.to_string();
        assert!(
            text.starts_with("-:") && text.contains("missing field `fachverfahren`"),
            "{text}"
        );
    }
}
