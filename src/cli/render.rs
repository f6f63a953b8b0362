//! `conplus-operator render -f FILE`: the objects an onboarding produces, offline.

use std::path::PathBuf;
use std::process::ExitCode;

use super::PlatformArgs;
use super::manifests::read_documents;
use crate::api::FachverfahrenOnboarding;
use crate::resources::desired;

/// Options of `render`.
#[derive(clap::Args, Debug)]
pub struct RenderArgs {
    /// The file with one or more `FachverfahrenOnboarding` documents (`-` for stdin).
    #[arg(short = 'f', long = "filename")]
    pub file: PathBuf,
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

/// Renders the onboardings of `args.file`.
pub fn render(args: &RenderArgs) -> Result<String, String> {
    let docs = read_documents(&args.file).map_err(|e| e.to_string())?;
    let settings = args.platform.settings();
    let mut out = String::new();
    let mut found = 0;
    for doc in docs {
        if doc.value.get("kind").and_then(|k| k.as_str()) != Some("FachverfahrenOnboarding") {
            continue;
        }
        found += 1;
        let fvo: FachverfahrenOnboarding = serde_json::from_value(doc.value).map_err(|e| {
            format!(
                "{}:{}: not a valid FachverfahrenOnboarding: {e}",
                doc.file, doc.line
            )
        })?;
        let envs =
            desired(&fvo, &settings).map_err(|e| format!("{}:{}: {e}", doc.file, doc.line))?;
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
            args.file.display()
        ));
    }
    Ok(out)
}
