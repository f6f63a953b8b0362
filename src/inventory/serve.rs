//! The inventory page's HTTP server (I/O): every request lists the tasks, onboardings and Ressorts
//! through the operator's client and renders [`super::page`]. Read-only: GET `/` only.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kube::Client;
use kube::api::{Api, ListParams};
use tokio::net::TcpListener;

use super::{Inventory, page};
use crate::api::{FachverfahrenOnboarding, Ressort, Verwaltungsaufgabe};

/// Why the inventory page could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound.
    #[error("binding the inventory page to {addr}: {source}; choose another --inventory-addr")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("the inventory page's server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// Binds `addr`; the listener's address tells the port when `addr` asked for port 0.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })
}

/// Serves the page on `listener` until `shutdown` resolves.
pub async fn serve_on(
    listener: TcpListener,
    client: Client,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let app = Router::new().route("/", get(index)).with_state(client);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServeError::Serve)
}

async fn list<K>(client: &Client) -> Result<Vec<K>, kube::Error>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    Ok(Api::<K>::all(client.clone())
        .list(&ListParams::default())
        .await?
        .items)
}

async fn index(State(client): State<Client>) -> Response {
    let read = async {
        Ok::<_, kube::Error>((
            list::<Verwaltungsaufgabe>(&client).await?,
            list::<FachverfahrenOnboarding>(&client).await?,
            list::<Ressort>(&client).await?,
        ))
    };
    match read.await {
        Ok((tasks, onboardings, ressorts)) => {
            let inv = Inventory::build(&tasks, &onboardings, &ressorts);
            (
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                page::render(&inv, &ressorts, &onboardings),
            )
                .into_response()
        }
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!(
                "Das Inventar ist gerade nicht lesbar (the API server could not be read): {e}\n"
            ),
        )
            .into_response(),
    }
}
