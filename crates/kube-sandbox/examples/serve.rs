//! Serves a sandbox until Ctrl-C: `cargo run -p kube-sandbox --example serve -- /tmp/sandbox.kubeconfig`,
//! then `kubectl --kubeconfig /tmp/sandbox.kubeconfig get ns`.

use std::path::PathBuf;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let kubeconfig = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("sandbox.kubeconfig"));
    let config = kube_sandbox::SandboxConfig {
        kubeconfig: Some(kubeconfig.clone()),
        ..Default::default()
    };
    let sandbox = kube_sandbox::Sandbox::start(config).await?;
    println!(
        "serving {} — kubeconfig at {}",
        sandbox.url(),
        kubeconfig.display()
    );
    tokio::signal::ctrl_c().await?;
    sandbox.shutdown().await;
    Ok(())
}
