//! `conplus-operator render -f FILE`: the objects an onboarding produces, offline.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use super::PlatformArgs;
use super::manifests::{Document, read_documents};
use crate::api::{ConformanceProfile, FachverfahrenOnboarding, Ressort};
use crate::controller::conformance::{Defaults, node_defaults, with_node_defaults};
use crate::resources::desired;

/// Options of `render`.
#[derive(clap::Args, Debug)]
pub struct RenderArgs {
    /// A file or folder with `FachverfahrenOnboarding` documents (`-` for stdin); repeat it to add the
    /// onboardings' `Ressort` and `ConformanceProfile` documents, whose node pool
    /// (`spec.nodePool`, `dedicatedNodes`) becomes the namespaces' default node selector as in the cluster.
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
    /// Platform settings.
    #[command(flatten)]
    pub platform: PlatformArgs,
}

/// Renders every onboarding in the file as multi-document YAML on stdout.
pub fn main(args: RenderArgs) -> ExitCode {
    match render(&args) {
        Ok(yaml) => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn kind_of(doc: &Document) -> Option<&str> {
    doc.value.get("kind").and_then(|k| k.as_str())
}

/// The document as `T`, or an error naming its place.
fn parse<T: serde::de::DeserializeOwned>(doc: &Document, kind: &str) -> Result<T, String> {
    serde_json::from_value(doc.value.clone())
        .map_err(|e| format!("{}:{}: not a valid {kind}: {e}", doc.file, doc.line))
}

/// The objects of `kind` in `docs` by name.
fn by_name<T: serde::de::DeserializeOwned + kube::ResourceExt>(
    docs: &[Document],
    kind: &str,
) -> Result<BTreeMap<String, T>, String> {
    docs.iter()
        .filter(|d| kind_of(d) == Some(kind))
        .map(|d| parse::<T>(d, kind).map(|o| (o.name_any(), o)))
        .collect()
}

/// Renders the onboardings of `args.files`.
pub fn render(args: &RenderArgs) -> Result<String, String> {
    let mut docs = Vec::new();
    for file in &args.files {
        docs.extend(read_documents(file).map_err(|e| e.to_string())?);
    }
    let ressorts: BTreeMap<String, Ressort> = by_name(&docs, "Ressort")?;
    let profiles: BTreeMap<String, ConformanceProfile> = by_name(&docs, "ConformanceProfile")?;
    let settings = args.platform.settings();
    let mut out = String::new();
    let mut found = 0;
    for doc in &docs {
        if kind_of(doc) != Some("FachverfahrenOnboarding") {
            continue;
        }
        found += 1;
        let fvo: FachverfahrenOnboarding = parse(doc, "FachverfahrenOnboarding")?;
        let ressort = ressorts.get(&fvo.spec.ressort);
        let profile = fvo
            .spec
            .conformance
            .profile
            .as_ref()
            .and_then(|p| profiles.get(p));
        // The scheduling defaults the controller adds to the namespaces (the node pool of
        // APP.4.4.A14); without the Ressort in the input its `spec.nodePool` is unknown.
        let node = node_defaults(&fvo, profile, ressort, &Defaults::default());
        if ressort.is_none() && !ressorts.is_empty() {
            eprintln!(
                "note: {}:{}: Ressort {:?} is not in the input; the namespaces are shown without its node pool",
                doc.file, doc.line, fvo.spec.ressort
            );
        }
        let envs = desired(&fvo, &settings)
            .map(|envs| with_node_defaults(envs, &node))
            .map_err(|e| format!("{}:{}: {e}", doc.file, doc.line))?;
        for env in envs {
            let mut objects = vec![
                serde_json::to_value(&env.namespace),
                serde_json::to_value(&env.resource_quota),
                serde_json::to_value(&env.limit_range),
            ];
            objects.extend(env.network_policies.iter().map(serde_json::to_value));
            objects.extend(env.role_bindings.iter().map(serde_json::to_value));
            objects.push(serde_json::to_value(&env.default_service_account));
            for o in objects {
                let o = o.map_err(|e| e.to_string())?;
                out.push_str("---\n");
                out.push_str(&crate::api::to_yaml(&o).map_err(|e| e.to_string())?);
            }
        }
    }
    if found == 0 {
        return Err(format!(
            "{}: no FachverfahrenOnboarding found",
            args.files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(out)
}
